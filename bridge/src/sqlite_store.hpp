// The ticket store on SQLite (WAL), the embedded default (store.hpp). Several processes may
// share the file: SQLite's locking serialises their writes.
#pragma once

#include "sqlite.hpp"
#include "store.hpp"

namespace tb {

class SqliteStore final : public Store {
 public:
  // Opens the database, creating it and its schema when missing, and migrates an older schema.
  explicit SqliteStore(const std::string& path, Durability durability = Durability::Full);

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
  std::int64_t total_changes() override { return db_.total_changes(); }

  // Statements prepared once: a batch runs one per task.
  void savepoint() override;
  void release_savepoint() override;
  void rollback_to_savepoint() override;

  sql::Db& db() { return db_; }

 protected:
  void begin() override;  // BEGIN IMMEDIATE: the write lock at once, not at the first write
  void commit() override;
  void rollback() override;
  void begin_read() override;
  void end_read() override;
  void abort_read() override;

 private:
  void migrate();

  sql::Db db_;
  sql::Stmt begin_, commit_, rollback_;
  sql::Stmt savepoint_, release_, rollback_to_;
  sql::Stmt insert_ticket_, find_ticket_, save_usage_, revoke_;
  sql::Stmt find_result_, record_scan_, record_offline_, recent_scans_, recent_result_;
  sql::Stmt find_scanner_, set_scanner_, remove_scanner_, list_scanners_;
  sql::Stmt next_seq_, insert_event_, queue_event_, last_seq_, events_after_;
  sql::Stmt ping_, settle_, unsettled_;
};

}  // namespace tb
