// What every store shares (store.hpp): the write transaction, and the replay of a reconnecting
// client, made of the backend's reads.
#include "store.hpp"

#include <nlohmann/json.hpp>

#include "pg_store.hpp"
#include "sqlite_store.hpp"

namespace tb {

namespace stored {

std::optional<std::string> gates_to_text(const std::vector<std::string>& gates) {
  if (gates.empty()) return std::nullopt;
  return nlohmann::json(gates).dump();
}

std::vector<std::string> gates_from_text(const std::optional<std::string>& text) {
  if (!text) return {};
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_array()) return {};
  std::vector<std::string> out;
  for (const auto& g : j) {
    if (g.is_string()) out.push_back(g.get<std::string>());
  }
  return out;
}

}  // namespace stored

Store::Transaction::Transaction(Store& s) : store_(s) {
  store_.begin();
}

Store::Transaction::~Transaction() {
  if (!done_) {
    try {
      store_.rollback();
    } catch (...) {  // NOLINT(bugprone-empty-catch): nothing more to undo
    }
  }
}

void Store::Transaction::commit() {
  store_.commit();
  done_ = true;
}

Replay Store::replay(const std::string& uid, std::optional<std::int64_t> since,
                     const ReplayPage& page) {
  Replay r;
  begin_read();
  try {
    r.last_seq = last_seq(uid);
    r.read_to = r.last_seq;
    if (since && *since < r.last_seq) {
      r.events = events_after(uid, *since, page.max_events, page.max_bytes, page.scope);
      std::size_t bytes = 0;
      for (const auto& e : r.events) bytes += e.body.size();
      // A full page may be the end of the log too: the next page is then empty.
      r.more = !r.events.empty() && (r.events.size() >= static_cast<std::size_t>(page.max_events) ||
                                     bytes >= page.max_bytes);
      if (r.more) r.read_to = r.events.back().seq;
      // Retention dropped nothing after `since` when its next event is still held. With a
      // scope, that event may be another ticket's, not in the page.
      std::int64_t first_held = r.events.empty() ? 0 : r.events.front().seq;
      if (!page.scope.empty()) {
        const auto any = events_after(uid, *since, 1);
        first_held = any.empty() ? 0 : any.front().seq;
      }
      r.recovered = first_held == *since + 1;
    } else if (since && *since > r.last_seq) {
      r.recovered = false;  // the client saw seqs this database never gave: it is another one
    }
    end_read();
  } catch (...) {
    try {
      abort_read();
    } catch (...) {  // NOLINT(bugprone-empty-catch): the first error is the one to report
    }
    throw;
  }
  return r;
}

std::unique_ptr<Store> make_store(const std::string& where, Durability durability,
                                  const std::optional<std::string>& password) {
  if (pg::is_url(where)) return std::make_unique<PgStore>(where, durability, password);
  return std::make_unique<SqliteStore>(where, durability);
}

}  // namespace tb
