// The SQLite store's owner event log (sqlite_store.hpp): append with the uid's next seq, reads
// after a seq, the outbox's unsettled events, and retention.
#include <nlohmann/json.hpp>

#include "sqlite_store.hpp"

namespace tb {

StoredEvent SqliteStore::append_event(const std::string& uid, Millis at, nlohmann::json& event) {
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
  queue_event_.bind(1, uid).bind(2, seq).run();
  return out;
}

std::int64_t SqliteStore::last_seq(const std::string& uid) {
  last_seq_.bind(1, uid);
  const std::int64_t seq = last_seq_.step() ? last_seq_.int64(0) : 0;
  last_seq_.reset();
  return seq;
}

std::vector<StoredEvent> SqliteStore::events_after(const std::string& uid, std::int64_t since,
                                                   int limit, std::size_t max_bytes,
                                                   std::string_view scope) {
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

void SqliteStore::settle_events(const std::vector<EventKey>& events) {
  for (const auto& [uid, seq] : events) settle_.bind(1, uid).bind(2, seq).run();
}

std::vector<StoredEvent> SqliteStore::unsettled_events(const std::string& after_uid,
                                                       std::int64_t after_seq, Millis before,
                                                       int limit) {
  auto& s = unsettled_;
  s.bind(1, after_uid).bind(2, after_seq).bind(3, before).bind(4, std::int64_t{limit});
  std::vector<StoredEvent> out;
  while (s.step()) out.push_back(StoredEvent{s.text(0), s.int64(1), s.int64(2), s.text(3)});
  s.reset();
  return out;
}

std::int64_t SqliteStore::prune_events(std::int64_t keep_per_uid, Millis min_at,
                                       std::int64_t max_rows) {
  auto del = db_.prepare(
      "DELETE FROM events WHERE (uid, seq) IN (SELECT e.uid, e.seq FROM events e "
      "JOIN users u ON u.uid = e.uid WHERE e.at < ?1 OR e.seq <= u.last_seq - ?2 LIMIT ?3)");
  del.bind(1, min_at).bind(2, keep_per_uid).bind(3, max_rows).run();
  const auto dropped = db_.changes();
  // An event gone unsettled has nothing left to publish.
  if (dropped > 0) {
    db_.exec(
        "DELETE FROM outbox WHERE NOT EXISTS "
        "(SELECT 1 FROM events e WHERE e.uid = outbox.uid AND e.seq = outbox.seq)");
  }
  return dropped;
}

}  // namespace tb
