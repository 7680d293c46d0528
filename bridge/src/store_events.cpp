// The store's owner event log (store.hpp): append with the uid's next seq, reads after a seq,
// the replay of a reconnecting client, and retention.
#include <nlohmann/json.hpp>

#include "store.hpp"

namespace tb {

StoredEvent Store::append_event(const std::string& uid, Millis at, nlohmann::json& event) {
  next_seq_.bind(1, uid);
  next_seq_.step();
  const std::int64_t seq = next_seq_.int64(0);
  next_seq_.reset();
  event["seq"] = seq;
  StoredEvent out{uid, seq, at, event.dump()};
  if (const auto code = event.find("code"); code != event.end() && code->is_string()) {
    out.code = code->get<std::string>();
  }
  insert_event_.bind(1, uid).bind(2, seq).bind(3, at).bind(4, out.body).run();
  return out;
}

std::int64_t Store::last_seq(const std::string& uid) {
  last_seq_.bind(1, uid);
  const std::int64_t seq = last_seq_.step() ? last_seq_.int64(0) : 0;
  last_seq_.reset();
  return seq;
}

std::vector<StoredEvent> Store::events_after(const std::string& uid, std::int64_t since, int limit,
                                             std::size_t max_bytes, std::string_view scope) {
  auto& s = events_after_;
  s.bind(1, uid).bind(2, since).bind(3, std::int64_t{limit}).bind(4, std::string(scope));
  std::vector<StoredEvent> out;
  std::size_t bytes = 0;
  while (bytes < max_bytes && s.step()) {
    out.push_back(StoredEvent{uid, s.int64(0), s.int64(1), s.text(2), s.text(3)});
    bytes += out.back().body.size();
  }
  s.reset();
  return out;
}

Replay Store::replay(const std::string& uid, std::optional<std::int64_t> since,
                     const ReplayPage& page) {
  Replay r;
  db_.exec("BEGIN");
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
    db_.exec("COMMIT");
  } catch (...) {
    db_.exec("ROLLBACK");
    throw;
  }
  return r;
}

void Store::set_acked(const std::string& uid, std::int64_t seq) {
  set_acked_.bind(1, uid).bind(2, seq).run();
}

std::vector<StoredEvent> Store::unacked_events(const std::string& after_uid, std::int64_t after_seq,
                                               int limit) {
  auto& s = unacked_;
  s.bind(1, after_uid).bind(2, after_seq).bind(3, std::int64_t{limit});
  std::vector<StoredEvent> out;
  while (s.step()) out.push_back(StoredEvent{s.text(0), s.int64(1), s.int64(2), s.text(3)});
  s.reset();
  return out;
}

std::int64_t Store::prune_events(std::int64_t keep_per_uid, Millis min_at, std::int64_t max_rows) {
  auto del = db_.prepare(
      "DELETE FROM events WHERE (uid, seq) IN (SELECT e.uid, e.seq FROM events e "
      "JOIN users u ON u.uid = e.uid WHERE e.at < ?1 OR e.seq <= u.last_seq - ?2 LIMIT ?3)");
  del.bind(1, min_at).bind(2, keep_per_uid).bind(3, max_rows).run();
  return db_.changes();
}

}  // namespace tb
