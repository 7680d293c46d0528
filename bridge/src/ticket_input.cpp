// Validation and conversion of ticket fields.
#include "ticket_input.hpp"

#include "signed_code.hpp"

#include <algorithm>

namespace tb {

namespace {

bool given(const std::optional<std::string>& s) {
  return s && !s->empty();
}

std::string trim(const std::string& s) {
  const auto a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return {};
  const auto b = s.find_last_not_of(" \t");
  return s.substr(a, b - a + 1);
}

std::optional<bool> parse_bool(std::string v) {
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  if (v == "true" || v == "yes" || v == "1") return true;
  if (v == "false" || v == "no" || v == "0") return false;
  return std::nullopt;
}

}  // namespace

std::optional<std::string> check_ticket(const Ticket& t) {
  if (!is_valid_id(t.uid)) {
    return "uid must be 1-128 characters without '/', '+', '#', white space or control characters";
  }
  if (!is_valid_id(t.code)) {
    return "code must be 1-128 characters without '/', '+', '#', white space or control "
           "characters";
  }
  if (looks_signed(t.code)) {
    return "code may not start with TB1. (that prefix marks a signed code, which the bridge "
           "issues itself when it has a signing key)";
  }
  if (t.holder && !is_valid_label(*t.holder, kMaxHolderLength)) {
    return "holder must be 1-200 characters without control characters";
  }
  if (t.max_entries < 0 || t.max_entries > kMaxEntriesLimit) {
    return "max_entries must be a whole number from 0 (no limit) to 1000000000";
  }
  if (t.valid_from && t.valid_until && *t.valid_from >= *t.valid_until) {
    return "valid_from must be before valid_until";
  }
  if (t.gates.size() > kMaxGates) return "at most 64 gates";
  for (const auto& g : t.gates) {
    if (!is_valid_label(g, kMaxIdLength) || g.find(';') != std::string::npos) {
      return "each gate must be 1-128 characters without ';' or control characters";
    }
  }
  return std::nullopt;
}

std::variant<Ticket, std::string> ticket_from_fields(const TicketFields& f, Millis now,
                                                     bool rotating_default) {
  Ticket t;
  t.created_at = now;
  t.rotating = rotating_default;
  if (!given(f.uid)) return std::string("uid is required");
  t.uid = *f.uid;
  t.code = given(f.code) ? *f.code : random_ticket_code();
  if (given(f.holder)) t.holder = f.holder;
  if (given(f.max_entries)) {
    std::size_t used = 0;
    try {
      t.max_entries = std::stoll(*f.max_entries, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != f.max_entries->size()) {
      return "max_entries must be a whole number, not '" + *f.max_entries + "'";
    }
  }
  if (given(f.reentry)) {
    const auto b = parse_bool(*f.reentry);
    if (!b) return "reentry must be true or false, not '" + *f.reentry + "'";
    t.reentry = *b;
  }
  if (given(f.rotating)) {
    const auto b = parse_bool(*f.rotating);
    if (!b) return "rotating must be true or false, not '" + *f.rotating + "'";
    t.rotating = *b;
  }
  if (given(f.valid_from)) {
    t.valid_from = parse_rfc3339(*f.valid_from);
    if (!t.valid_from) return "valid_from must be an RFC 3339 time, not '" + *f.valid_from + "'";
  }
  if (given(f.valid_until)) {
    t.valid_until = parse_rfc3339(*f.valid_until);
    if (!t.valid_until) return "valid_until must be an RFC 3339 time, not '" + *f.valid_until + "'";
  }
  if (given(f.gates)) {
    std::size_t start = 0;
    const std::string& s = *f.gates;
    while (start <= s.size()) {
      const auto end = std::min(s.find(';', start), s.size());
      const std::string g = trim(s.substr(start, end - start));
      if (!g.empty()) t.gates.push_back(g);
      start = end + 1;
    }
  }
  if (auto err = check_ticket(t)) return *err;
  return t;
}

}  // namespace tb
