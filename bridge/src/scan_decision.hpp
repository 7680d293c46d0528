// One scan decided inside the writer's transaction: parse the untrusted payload, answer a repeated
// scan_id from the log, apply the admission rules (admission.hpp) to the stored ticket, record the
// usage and the audit row, and append the owner's event. What it returns is handed on only after
// the commit.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "envelopes.hpp"
#include "metrics.hpp"
#include "store.hpp"

namespace tb {

struct Decided {
  std::optional<Answer> answer;  // nothing when nobody can be answered
  std::shared_ptr<const StoredEvent> event;
};

Decided decide_scan(Store& store, Metrics& metrics, InboundScan& in, Millis now);

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
