// The ticket store on SQLite (WAL): tickets and their usage, the audit log of every scan (which
// also remembers each scan_id's result), and the per-uid event log with its sequence numbers.
// One Store is one connection: use it from one thread. Several processes may share the file.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "scan.hpp"
#include "sqlite.hpp"
#include "ticket.hpp"

namespace tb {

class DuplicateTicket : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One row of the audit log.
struct ScanRecord {
  std::optional<std::string> scan_id;
  std::optional<std::string> code;
  std::optional<std::string> scanner;
  std::optional<std::string> gate;
  std::optional<std::string> direction;
  std::optional<Millis> scanned_at;
  Millis decided_at = 0;
  std::string status;
  std::string reason;
  std::string result;  // the JSON answer sent to the scanner
  // The gate the payload named when the scanner table decided the scan at another one.
  std::optional<std::string> claimed_gate = {};
};

// A row of the scanner table (`ticket-bridge scanners set`): where a scanner stands. Its scans
// are decided at this gate whatever they claim, and this direction is theirs unless they name one.
struct ScannerConfig {
  std::string id;
  std::string gate;
  Direction direction = Direction::In;
  Millis updated_at = 0;
};

struct StoredEvent {
  std::string uid;
  std::int64_t seq = 0;
  Millis at = 0;
  std::string body;       // the event's JSON, seq included
  std::string code = {};  // the ticket it is about; empty for a push
};

// What a reconnecting client gets: the uid's last seq, the held events after `since`, and whether
// they are complete (nothing after `since` was dropped by retention, `since` is not ahead).
struct Replay {
  std::int64_t last_seq = 0;
  bool recovered = true;
  std::vector<StoredEvent> events;
  // A page of a replay: `more` when the page stopped at its bound before the end of the log;
  // `read_to` is the seq up to which the log was read (the next page starts after it).
  bool more = false;
  std::int64_t read_to = 0;
};

// The bound of one replay page, and the ticket a scoped token hears (empty: the whole uid).
struct ReplayPage {
  int max_events = 1000;
  std::size_t max_bytes = 1 << 20;  // a page stops after the event that reaches it
  std::string scope;
};

enum class Durability { Full, Normal };

class Store {
 public:
  // Opens the database, creating it and its schema when missing.
  explicit Store(const std::string& path, Durability durability = Durability::Full);

  // A write transaction (BEGIN IMMEDIATE); rolled back unless committed.
  class Transaction {
   public:
    explicit Transaction(Store& s);
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    ~Transaction();
    void commit();

   private:
    Store& store_;
    bool done_ = false;
  };

  // Tickets.
  void insert_ticket(const Ticket& t);  // throws DuplicateTicket
  std::optional<Ticket> find_ticket(const std::string& code);
  void save_usage(const std::string& code, const TicketUsage& usage);
  bool revoke_ticket(const std::string& code);  // false when no such ticket

  // Audit log and exactly-once.
  std::optional<std::string> find_result(const std::string& scan_id);
  void record_scan(const ScanRecord& r);
  std::vector<ScanRecord> recent_scans(const std::string& code, int limit);
  // The answer to the newest scan of `code` by `scanner` in `direction` decided at or after
  // `since`, looked for among the code's last few scans (kRepeatLookback): the repeat window of
  // scans without a scan_id (scan_decision.hpp).
  static constexpr int kRepeatLookback = 8;
  std::optional<std::string> recent_result(const std::string& code, const std::string& scanner,
                                           Direction direction, Millis since);

  // The scanner table.
  std::optional<ScannerConfig> find_scanner(const std::string& id);
  void set_scanner(const ScannerConfig& s);    // adds or replaces
  bool remove_scanner(const std::string& id);  // false when there was none
  std::vector<ScannerConfig> scanners();       // by id

  // Event log. append_event assigns the uid's next seq, writes it into `event` and stores it.
  StoredEvent append_event(const std::string& uid, Millis at, nlohmann::json& event);
  std::int64_t last_seq(const std::string& uid);
  // At most `limit` events after `since`, fewer when their bodies reach `max_bytes`; with a
  // `scope`, only the pushes and that ticket's events.
  std::vector<StoredEvent> events_after(const std::string& uid, std::int64_t since, int limit,
                                        std::size_t max_bytes = SIZE_MAX,
                                        std::string_view scope = {});
  // One page of a replay, read consistently (its own read transaction). Without `since`, no
  // events: the client starts from now.
  Replay replay(const std::string& uid, std::optional<std::int64_t> since,
                const ReplayPage& page = {});
  // Drops events beyond the newest `keep_per_uid` of each uid and those older than `min_at`,
  // at most `max_rows` per call. Returns how many went.
  std::int64_t prune_events(std::int64_t keep_per_uid, Millis min_at, std::int64_t max_rows);

  // The outbox (outbox.hpp): the broker acknowledged `uid`'s events up to `seq` (never moves
  // back), and the events it has not acknowledged yet, by (uid, seq), after the cursor.
  void set_acked(const std::string& uid, std::int64_t seq);
  std::vector<StoredEvent> unacked_events(const std::string& after_uid, std::int64_t after_seq,
                                          int limit);

  // Cheap check that the database answers (a read).
  void ping();
  // A real write of 256 KiB, committed: after a failed write, the check that the store can
  // write again.
  void probe_write();

  // A savepoint around one task of a batch, inside the open transaction (statements prepared
  // once: a batch runs one per task). rollback_to_savepoint() also releases it.
  void savepoint();
  void release_savepoint();
  void rollback_to_savepoint();

  sql::Db& db() { return db_; }

 private:
  void migrate();

  sql::Db db_;
  sql::Stmt begin_, commit_, rollback_;
  sql::Stmt savepoint_, release_, rollback_to_;
  sql::Stmt insert_ticket_, find_ticket_, save_usage_, revoke_;
  sql::Stmt find_result_, record_scan_, recent_scans_, recent_result_;
  sql::Stmt find_scanner_, set_scanner_, remove_scanner_, list_scanners_;
  sql::Stmt next_seq_, insert_event_, last_seq_, events_after_;
  sql::Stmt ping_, set_acked_, unacked_;
};

}  // namespace tb
