// One scan decided inside the writer's transaction: parse the untrusted payload, answer a repeated
// scan_id (or, for an embedded scanner's scan, a repeat within the window) from the log, bind it to
// the scanner table's gate, apply the admission rules (admission.hpp) to the stored ticket, record
// the usage and the audit row, and append the owner's event. What it returns is handed on only
// after the commit.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "device_answers.hpp"
#include "envelopes.hpp"
#include "gate_sync.hpp"
#include "metrics.hpp"
#include "rotating_code.hpp"
#include "store.hpp"
#include "venue_board.hpp"

namespace tb {

// What the debug line of a scan says, logged once its batch is committed (log_scan). Made only
// when debug lines are logged.
struct ScanNote {
  const char* what = "";  // "scan decided", "scan repeated: the first answer again", ...
  std::optional<std::string> scan_id, scanner, gate, code, status, reason, uid;
};

// A gate's offline verdict that the decision recorded (docs/offline.md): counted, and a conflict
// logged, once its batch is committed (count_verdict).
struct VerdictNote {
  std::string scan_id, code, scanner;
  GateVerdict gate;
  Status status{};  // what the bridge recorded
  Reason reason{};
  bool conflict = false;
};

struct Decided {
  std::optional<Answer> answer;  // nothing when nobody can be answered
  std::shared_ptr<const StoredEvent> event;
  std::optional<ScanNote> note;
  std::optional<VerdictNote> verdict;
  // What the scan changed of a signed ticket, for the gates' feed (ScanRules::gate_feed).
  std::optional<SyncEntry> feed;
  // A decision the venue board counts (venue_board.hpp): every scan decided or refused as
  // malformed, not one answered again from the log.
  std::optional<Tally> tally;
};

// The debug line of a committed scan, with its fields (logging.hpp).
void log_scan(const ScanNote& note);

// A committed verdict counted in `metrics`, and a conflict logged at warn level.
void count_verdict(Metrics& metrics, const VerdictNote& v);

// What serve's options set about deciding scans.
struct ScanRules {
  // A scan without a scan_id on tickets/scan/<scanner> that repeats the same code from the same
  // scanner in the same direction within this window (a double scan, a QoS 1 re-send) gets the
  // first result again and changes nothing. 0: off. The window is looked up in the audit log, so
  // it holds across a restart and among bridges sharing the store.
  Millis repeat_window_ms = 3000;
  TextOptions text;  // the text line of such scans' answers
  // The venue's rotating key (rotating_code.hpp), when it has one: scans of tickets that need a
  // rotating code are checked with it. Without it they are all refused as stale_code.
  std::shared_ptr<const RotatingKey> rotating_key;
  // The gates' feed is on (gate_sync.hpp): a scan that changes a signed ticket's use says so in
  // Decided::feed.
  bool gate_feed = false;
};

// `in` is a scan from tickets/scan, or from tickets/scan/<scanner> when in.device_scanner is set.
// A scanner in the scanner table has its scans decided at the table's gate (and direction, unless
// the scan names one).
// `parsed`: the payload parsed already (parse_inbound), by a writer that locks a batch's
// tickets before deciding it (a shared store, Store::lock_ahead()); else it is parsed here.
Decided decide_scan(Store& store, Metrics& metrics, InboundScan& in, Millis now,
                    const ScanRules& rules = {}, const ParsedScan* parsed = nullptr);

// The scan's payload parsed, as decide_scan() reads it.
ParsedScan parse_inbound(const InboundScan& in);

// Where the answer goes: the Response Topic when SPEC.md v1.1 allows it (with the scanner's own
// topic as the fallback), else the scanner's own topic; an empty topic when nobody can be
// answered.
struct AnswerRoute {
  std::string topic;
  std::optional<std::string> fallback;
};
AnswerRoute answer_route(const InboundScan& in, const std::optional<std::string>& scanner,
                         Metrics& metrics);

}  // namespace tb
