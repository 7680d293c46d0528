// The agent's scans between the journal and the gate's answer: which wait for their first send,
// which are due to be sent again (backoff up to retry_max), and which have waited past the answer
// timeout (staff see NO ANSWER once). Pure: the clock is passed in, nothing is sent or shown here.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "journal.hpp"

namespace sa {

using Clock = std::chrono::steady_clock;

struct QueueTiming {
  std::chrono::milliseconds answer_timeout{1500};
  std::chrono::milliseconds retry_min{5000};  // first re-send of an unanswered scan
  std::chrono::milliseconds retry_max{300000};
};

class ScanQueue {
 public:
  explicit ScanQueue(QueueTiming timing) : timing_(timing) {}

  // A new scan, due at once; NO ANSWER at now + answer_timeout unless answered first.
  void add(const QueuedScan& q, Clock::time_point now);
  // A scan a previous run left unanswered (staff were told NO ANSWER then): due at once.
  void restore(const QueuedScan& q, Clock::time_point now);

  struct Answered {
    std::string code;
    bool late = false;     // NO ANSWER or an offline decision was shown for it
    bool offline = false;  // decided offline (offline_gate.hpp): the bridge's answer comes after
    std::string offline_status;  // what the gate decided then
  };
  // Takes the scan out; nothing when it is not waiting (answered already, or not ours).
  std::optional<Answered> answer(const std::string& scan_id);

  // The scan was decided at the gate: it is sent from now on with `payload` (which carries the
  // verdict), and no NO ANSWER is shown for it. False when it is not waiting.
  bool decided_offline(const std::string& scan_id, std::string payload, std::string status);

  struct Item {
    std::string scan_id;
    std::string code;
    std::string payload;
  };
  // Scans whose answer is late, each returned once.
  std::vector<Item> take_timeouts(Clock::time_point now);
  // What to send now, in journal order: everything after a (re)connect (`all`), else the scans
  // whose (re-)send is due, a re-send taking every older scan already sent with it. Each is then
  // due again after its backoff.
  std::vector<Item> take_due(Clock::time_point now, bool all);
  // When something next needs doing: a timeout, or (when connected) a re-send; `limit` at the
  // latest.
  Clock::time_point next_wake(Clock::time_point limit, bool connected) const;

  // Every scan of this run was answered or shown as NO ANSWER.
  bool settled() const;
  std::size_t size() const { return by_id_.size(); }
  // The wait before the next send of a scan already sent `sends` times.
  std::chrono::milliseconds retry_delay(int sends) const;

 private:
  struct Entry {
    std::string code;
    std::string payload;
    std::int64_t seq = 0;
    Clock::time_point deadline;  // NO ANSWER
    bool timed_out = false;
    bool offline = false;
    std::string offline_status;
    int sends = 0;
    Clock::time_point next_send;
  };
  void insert(const QueuedScan& q, Entry e);

  QueueTiming timing_;
  std::map<std::string, Entry> by_id_;
  std::map<std::int64_t, std::string> order_;  // journal seq -> scan_id
};

}  // namespace sa
