// The listener's connection caps (connection_limits.hpp).
#include "connection_limits.hpp"

namespace tb {

std::pair<ConnectionLimits::Slot, Cap> ConnectionLimits::admit(const std::string& source) {
  std::lock_guard lock(mu_);
  Cap cap = Cap::None;
  if (total_ >= max_total_) {
    cap = Cap::Total;
  } else if (const auto it = source.empty() ? per_source_.end() : per_source_.find(source);
             it != per_source_.end() && it->second >= max_per_source_) {
    cap = Cap::PerSource;
  }
  if (cap != Cap::None) {
    if (refusing_ >= max_refusing_) return {Slot(), cap};
    ++refusing_;
    return {Slot(this, source, true), cap};
  }
  if (!source.empty()) ++per_source_[source];
  ++total_;
  return {Slot(this, source, false), Cap::None};
}

Cap ConnectionLimits::attribute(Slot& slot, const std::string& source) {
  if (slot.owner_ != this || slot.refusal_ || !slot.source_.empty() || source.empty()) {
    return Cap::None;
  }
  std::lock_guard lock(mu_);
  const auto it = per_source_.find(source);
  if (it != per_source_.end() && it->second >= max_per_source_) return Cap::PerSource;
  ++per_source_[source];
  slot.source_ = source;
  return Cap::None;
}

std::size_t ConnectionLimits::open() const {
  std::lock_guard lock(mu_);
  return total_;
}

void ConnectionLimits::give_back(const std::string& source, bool refusal) {
  std::lock_guard lock(mu_);
  if (refusal) {
    --refusing_;
    return;
  }
  --total_;
  if (source.empty()) return;
  const auto it = per_source_.find(source);
  if (it != per_source_.end() && --it->second == 0) per_source_.erase(it);
}

void ConnectionLimits::Slot::release() {
  if (owner_ != nullptr) std::exchange(owner_, nullptr)->give_back(source_, refusal_);
}

}  // namespace tb
