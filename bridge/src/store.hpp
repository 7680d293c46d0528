// The ticket store, as the rest of the bridge sees it: tickets and their usage, the audit log of
// every scan (which also remembers each scan_id's result), the scanner table, and the per-uid
// event log with its sequence numbers. One Store is one connection: use it from one thread.
// Implementations: SqliteStore (sqlite_store.hpp), the embedded default, and PgStore
// (pg_store.hpp) for several bridges on one store. make_store() picks one.
// Errors are DbError (db_error.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "db_error.hpp"
#include "scan.hpp"
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
  // The gate's own verdict when it decided the scan offline (SPEC.md v1.1), as JSON: status,
  // reason, decided_at. `conflict`: it differs from the bridge's (docs/offline.md).
  std::optional<std::string> offline = {};
  bool conflict = false;
};

// A row of the scanner table (`ticket-bridge scanners set`): where a scanner stands. Its scans
// are decided at this gate whatever they claim, and this direction is theirs unless they name one.
struct ScannerConfig {
  std::string id;
  std::string gate;
  Direction direction = Direction::In;
  Millis updated_at = 0;
};

// An event by its uid and seq.
using EventKey = std::pair<std::string, std::int64_t>;

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
  virtual ~Store() = default;

  // A write transaction; rolled back unless committed. One at a time per Store.
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
  static constexpr const char* kFeedTicketsSql =
      "SELECT signed_code, entries, inside, revoked FROM tickets WHERE signed_code IS NOT NULL "
      "AND (entries > 0 OR inside <> 0 OR revoked <> 0) ORDER BY code";
  virtual void insert_ticket(const Ticket& t) = 0;  // throws DuplicateTicket
  virtual std::optional<Ticket> find_ticket(const std::string& code) = 0;
  virtual void save_usage(const std::string& code, const TicketUsage& usage) = 0;
  virtual bool revoke_ticket(const std::string& code) = 0;  // false when no such ticket
  // Every ticket with a signed code that was used, is inside or is revoked: the gates' feed
  // (gate_sync.hpp), in code order.
  struct FeedTicket {
    std::string signed_code;
    std::int64_t entries = 0;
    bool inside = false;
    bool revoked = false;
  };
  virtual std::vector<FeedTicket> feed_tickets() = 0;
  // The venue's counts (the operator page, /api/v1/stats): tickets sold (not revoked), tickets
  // admitted at least once, and tickets inside now.
  struct VenueCounts {
    std::int64_t sold = 0;
    std::int64_t admitted = 0;
    std::int64_t inside = 0;
  };
  static constexpr const char* kVenueCountsSql =
      "SELECT COUNT(*) FILTER (WHERE revoked = 0), COUNT(*) FILTER (WHERE entries > 0), "
      "COUNT(*) FILTER (WHERE inside <> 0) FROM tickets";
  virtual VenueCounts venue_counts() = 0;

  // Audit log and exactly-once.
  virtual std::optional<std::string> find_result(const std::string& scan_id) = 0;
  virtual void record_scan(const ScanRecord& r) = 0;
  // The gate's offline verdict (ScanRecord::offline) on a scan recorded before without one: set
  // beside the bridge's decision, with `conflict` and `result`, the answer now given for the
  // scan_id. False, and nothing changed, when the scan has a verdict already or is not there.
  virtual bool record_offline(const std::string& scan_id, const std::string& offline, bool conflict,
                              const std::string& result) = 0;
  virtual std::vector<ScanRecord> recent_scans(const std::string& code, int limit) = 0;
  // The answer to the newest scan of `code` by `scanner` in `direction` decided at or after
  // `since`, looked for among the code's last few scans (kRepeatLookback): the repeat window of
  // scans without a scan_id (scan_decision.hpp).
  static constexpr int kRepeatLookback = 8;
  virtual std::optional<std::string> recent_result(const std::string& code,
                                                   const std::string& scanner, Direction direction,
                                                   Millis since) = 0;

  // The scanner table.
  virtual std::optional<ScannerConfig> find_scanner(const std::string& id) = 0;
  virtual void set_scanner(const ScannerConfig& s) = 0;    // adds or replaces
  virtual bool remove_scanner(const std::string& id) = 0;  // false when there was none
  virtual std::vector<ScannerConfig> scanners() = 0;       // by id

  // Event log. append_event assigns the uid's next seq, writes it into `event` and stores it.
  virtual StoredEvent append_event(const std::string& uid, Millis at, nlohmann::json& event) = 0;
  virtual std::int64_t last_seq(const std::string& uid) = 0;
  // At most `limit` events after `since`, fewer when their bodies reach `max_bytes`; with a
  // `scope`, only the pushes and that ticket's events.
  virtual std::vector<StoredEvent> events_after(const std::string& uid, std::int64_t since,
                                                int limit, std::size_t max_bytes = SIZE_MAX,
                                                std::string_view scope = {}) = 0;
  // One page of a replay, read consistently (in a read transaction of its own). Without
  // `since`, no events: the client starts from now.
  Replay replay(const std::string& uid, std::optional<std::int64_t> since,
                const ReplayPage& page = {});
  // Drops events beyond the newest `keep_per_uid` of each uid and those older than `min_at`,
  // at most `max_rows` per call. Returns how many went.
  virtual std::int64_t prune_events(std::int64_t keep_per_uid, Millis min_at,
                                    std::int64_t max_rows) = 0;

  // The outbox (outbox.hpp). Every event is unsettled from its commit until a bridge settles
  // it: the broker acknowledged it, or refused it for good. Settled events leave the outbox
  // (those not in it any more are skipped); the unsettled ones, by (uid, seq) after the cursor,
  // those stored before `before` only.
  virtual void settle_events(const std::vector<EventKey>& events) = 0;
  virtual std::vector<StoredEvent> unsettled_events(const std::string& after_uid,
                                                    std::int64_t after_seq, Millis before,
                                                    int limit) = 0;

  // Cheap check that the database answers (a read).
  virtual void ping() = 0;
  // A real write of 256 KiB, committed: after a failed write, the check that the store can
  // write again.
  virtual void probe_write() = 0;
  // Rows this connection has changed since it opened: tells a transaction that wrote from one
  // that did not.
  virtual std::int64_t total_changes() = 0;

  // What a batch's scans will read and write: their tickets' codes, their scan_ids, their
  // scanners, and the codes whose recent scans a repeat window looks at (recent_result)
  // (Writer::lock_ahead).
  struct DecisionKeys {
    std::vector<std::string> codes;
    std::vector<std::string> scan_ids;
    std::vector<std::string> scanners;
    std::vector<std::string> repeat_codes;
  };
  // A store shared by several bridges locks, at the start of a batch's transaction, the rows its
  // decisions will write: the tickets of `codes` and their owners' seq rows, each in a fixed
  // order, so that two bridges' batches wait for each other instead of deadlocking. It may also
  // read ahead what the decisions will read, and hold their writes until the commit (PgStore: one
  // round trip for the reads, one for the writes and the commit). Without lock_ahead() (SQLite:
  // one writer at a time), the writer skips it.
  virtual bool lock_ahead() const { return false; }
  virtual void prepare_decisions(DecisionKeys keys) { (void)keys; }

  // A savepoint around one task of a batch, inside the open transaction.
  // rollback_to_savepoint() also releases it.
  virtual void savepoint() = 0;
  virtual void release_savepoint() = 0;
  virtual void rollback_to_savepoint() = 0;

 protected:
  // The write transaction of Transaction, and the read transaction of replay().
  virtual void begin() = 0;
  virtual void commit() = 0;
  virtual void rollback() = 0;
  virtual void begin_read() = 0;
  virtual void end_read() = 0;
  virtual void abort_read() = 0;  // after a failed read
};

namespace stored {
// How every store keeps a ticket's gates: a JSON array, NULL (nullopt) for every gate.
std::optional<std::string> gates_to_text(const std::vector<std::string>& gates);
std::vector<std::string> gates_from_text(const std::optional<std::string>& text);
}  // namespace stored

// The store `where` names: a SQLite file's path, created with its schema when missing, or a
// PostgreSQL database's URL (postgresql://... or postgres://...; `password` when given, else
// libpq's own passfile), whose schema is created when missing.
std::unique_ptr<Store> make_store(const std::string& where, Durability durability,
                                  const std::optional<std::string>& password = {});

}  // namespace tb
