// The agent's on-disk queue (SQLite, synchronous=FULL): every scan is written here before it is
// published, and removed only when the gate's answer for it arrives. Scans therefore survive a
// broker outage, an agent restart and a reboot, and are re-sent in order.
//
// With offline decisions on (offline_gate.hpp), the same file keeps the gate's record of what
// each signed ticket has used: its own offline decisions and the bridge's answers here, so that a
// ticket does not go in twice at this gate while the bridge is away, and what the bridge's feed
// says other gates let in (gate_sync.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gate_sync.hpp"
#include "offline_gate.hpp"
#include "sqlite.hpp"
#include "timeutil.hpp"

namespace sa {

struct QueuedScan {
  std::int64_t seq = 0;  // journal order
  std::string scan_id;
  std::string code;
  std::string payload;  // the exact JSON published, identical on every retry
  tb::Millis created_at = 0;
};

class Journal {
 public:
  explicit Journal(const std::string& path);

  // Makes the next scan's id, "<scanner>:<journal nonce>:<counter>", and queues the payload that
  // `make_payload(scan_id)` builds, in one transaction. Nothing when the queue holds `limit` scans.
  template <typename F>
  std::optional<QueuedScan> add(const std::string& scanner, const std::string& code,
                                std::size_t limit, F make_payload);

  bool remove(const std::string& scan_id);  // true when it was queued
  // Removes an answered scan and, in the same transaction, records what the answer says the
  // ticket `code` has used (`usage`: nothing when the answer changed nothing).
  void answered(const std::string& scan_id, const std::string& code,
                const std::optional<tb::TicketUsage>& usage);
  // A scan decided offline: its payload now carries the verdict (sent so on every retry), and
  // the ticket's new usage is recorded, in one transaction.
  void decided_offline(const std::string& scan_id, const std::string& payload,
                       const std::string& code, const std::optional<tb::TicketUsage>& usage);
  // What this gate knows of ticket `code`: its own record, merged with what the bridge's feed
  // said of the signed code whose feed key is `sync_key` (gate_sync.hpp).
  std::optional<KnownUsage> known(const std::string& code,
                                  const std::optional<std::string>& sync_key = std::nullopt);
  // Merges the feed's news into the record of signed tickets, in one transaction. At most `limit`
  // tickets are held: news of one more is left out (counted in the result).
  std::size_t apply_feed(const std::vector<tb::SyncEntry>& entries, std::size_t limit);
  std::vector<QueuedScan> all();  // in journal order
  std::size_t size();

 private:
  std::optional<QueuedScan> add_impl(const std::string& scanner, const std::string& code,
                                     std::size_t limit,
                                     const std::function<std::string(const std::string&)>& make);
  void record_usage(const std::string& code, const tb::TicketUsage& u);
  tb::sql::Db db_;
  std::string nonce_;
};

template <typename F>
std::optional<QueuedScan> Journal::add(const std::string& scanner, const std::string& code,
                                       std::size_t limit, F make_payload) {
  return add_impl(scanner, code, limit, make_payload);
}

}  // namespace sa
