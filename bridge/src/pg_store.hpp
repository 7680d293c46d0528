// The ticket store on PostgreSQL (store.hpp), for several bridges sharing one store. The same
// schema as SqliteStore's in PostgreSQL's types, created and migrated by the bridge (the table
// tb_schema holds the version; a migration runs under an advisory lock, so bridges starting
// together migrate once).
//
// Several bridges decide at once, in READ COMMITTED transactions:
// - a ticket is read FOR UPDATE inside a write transaction, so two scans of one ticket on two
//   bridges are decided one after the other, the second seeing the first's entry;
// - scan_id is unique: the same scan decided by two bridges at once fails on the second's
//   insert, whose batch then runs again and finds the first's result;
// - a uid's seq is one row updated in place (users.last_seq), so appends are serialised by its
//   row lock and stay consecutive.
//
// Round trips: a write transaction's BEGIN, and whatever needs no answer (SAVEPOINT, RELEASE, a
// batch's writes), wait for the next statement and go with it in one pipeline. A batch of
// decisions (prepare_decisions) reads its tickets, seq rows, scan_ids, scanners and the repeat
// window's last scans ahead in one round trip, is decided from that, and sends its writes as one
// multi-row statement per table together with the COMMIT: two round trips per batch, whatever its
// size. What the read-ahead does not hold (a push to a uid outside the batch, a code it was not
// given) is read when asked, after the writes gathered before it.
//
// One PgStore is one connection: use it from one thread. A lost connection is reconnected at the
// next call (its statements prepared again); the call that found it lost fails.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "pg.hpp"
#include "store.hpp"

namespace tb {

class PgStore final : public Store {
 public:
  // `url`: postgresql://user@host:port/db?... (libpq's URI). The password: `password`, else
  // libpq's passfile=, PGPASSFILE or ~/.pgpass. Creates the schema when missing and migrates an
  // older one.
  explicit PgStore(const std::string& url, Durability durability = Durability::Full,
                   std::optional<std::string> password = {});
  ~PgStore() override;

  void insert_ticket(const Ticket& t) override;
  std::optional<Ticket> find_ticket(const std::string& code) override;
  void save_usage(const std::string& code, const TicketUsage& usage) override;
  bool revoke_ticket(const std::string& code) override;

  std::optional<std::string> find_result(const std::string& scan_id) override;
  void record_scan(const ScanRecord& r) override;
  bool record_offline(const std::string& scan_id, const std::string& offline, bool conflict,
                      const std::string& result) override;
  std::vector<ScanRecord> recent_scans(const std::string& code, int limit) override;
  std::optional<std::string> recent_result(const std::string& code, const std::string& scanner,
                                           Direction direction, Millis since) override;

  std::optional<ScannerConfig> find_scanner(const std::string& id) override;
  void set_scanner(const ScannerConfig& s) override;
  bool remove_scanner(const std::string& id) override;
  std::vector<ScannerConfig> scanners() override;
  std::vector<FeedTicket> feed_tickets() override;
  VenueCounts venue_counts() override;

  StoredEvent append_event(const std::string& uid, Millis at, nlohmann::json& event) override;
  std::int64_t last_seq(const std::string& uid) override;
  std::vector<StoredEvent> events_after(const std::string& uid, std::int64_t since, int limit,
                                        std::size_t max_bytes = SIZE_MAX,
                                        std::string_view scope = {}) override;
  std::int64_t prune_events(std::int64_t keep_per_uid, Millis min_at,
                            std::int64_t max_rows) override;

  void settle_events(const std::vector<EventKey>& events) override;
  std::vector<StoredEvent> unsettled_events(const std::string& after_uid, std::int64_t after_seq,
                                            Millis before, int limit) override;

  void ping() override;
  void probe_write() override;
  std::int64_t total_changes() override { return conn_->total_changes(); }

  bool lock_ahead() const override { return true; }
  void prepare_decisions(DecisionKeys keys) override;

  // Round trips to the server since the store opened (statements, or pipelines of them).
  std::uint64_t round_trips() const { return conn_->round_trips(); }

  void savepoint() override;
  void release_savepoint() override;
  void rollback_to_savepoint() override;

 protected:
  void begin() override;
  void commit() override;
  void rollback() override;
  void begin_read() override;
  void end_read() override;
  void abort_read() override;

 private:
  // The connection, reconnected (and its statements prepared again) when it was lost. Only
  // between transactions: a connection lost inside one fails the transaction.
  pg::Conn& conn();
  void forget_missing_ticket(const std::string& code);
  void migrate();
  void prepare_all();
  // One statement, sent after the queued ones (in one pipeline with them).
  pg::Result run(const char* name, const pg::Params& params = {});
  template <typename F>
  pg::Result with_retry(F&& call);
  // Sends the queued statements (a batch's gathered rows first) in one pipeline; their results.
  std::vector<pg::Result> flush(bool may_repeat = true);
  void queue_sql(const char* sql);
  // The batch's gathered rows into the queue: one statement per table.
  void gather_rows();
  // Whether a lost connection may be made again and the call repeated: not once anything of an
  // open transaction has reached the server.
  bool may_reconnect() const { return !in_tx_ || !tx_sent_; }

  struct Batch;
  struct Savepoint {
    std::size_t queued;  // the queue's length before SAVEPOINT
    std::size_t undo;    // the batch's undo log's length
    std::uint64_t flushes;
  };

  Durability durability_;
  std::unique_ptr<pg::Conn> conn_;
  bool in_write_ = false;  // inside Transaction: tickets are read FOR UPDATE
  bool in_tx_ = false;
  bool tx_sent_ = false;  // some of the open transaction reached the server
  bool prepared_ = true;  // the statements exist on this connection
  std::vector<pg::Call> queued_;
  std::uint64_t flushes_ = 0;
  std::optional<Savepoint> savepoint_;
  std::unique_ptr<Batch> batch_;  // between prepare_decisions() and the end of the transaction
};

}  // namespace tb
