// `ticket-bridge scanners ...`: the scanner table, where each scanner stands (its gate and
// direction). Safe to run while `serve` runs: the bridge reads the table at every scan.
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.hpp"

namespace tb {

namespace {

nlohmann::json scanner_json(const ScannerConfig& c) {
  return {{"id", c.id},
          {"gate", c.gate},
          {"direction", to_string(c.direction)},
          {"updated_at", format_rfc3339(c.updated_at)}};
}

}  // namespace

int cmd_scanners_set(const Settings& s, const std::string& id, const std::string& gate,
                     const std::string& direction) {
  if (!is_valid_id(id)) {
    throw UsageError(
        "scanner id must be 1-128 characters without / + # whitespace or control "
        "characters (it is a topic level: tickets/scan/<id>)");
  }
  if (!is_valid_label(gate, kMaxGateLength)) {
    throw UsageError("--gate must be 1-128 characters without control characters");
  }
  if (direction != "in" && direction != "out") throw UsageError("--direction must be in or out");
  const ScannerConfig c{id, gate, direction == "out" ? Direction::Out : Direction::In, now_ms()};
  auto store = open_store(s, Create::OnlyNamed);
  store->set_scanner(c);
  std::cout << scanner_json(c).dump() << "\n";
  return 0;
}

int cmd_scanners_list(const Settings& s) {
  auto store = open_store(s, Create::OnlyNamed);
  auto out = nlohmann::json::array();
  for (const auto& c : store->scanners()) out.push_back(scanner_json(c));
  std::cout << out.dump() << "\n";
  return 0;
}

int cmd_scanners_remove(const Settings& s, const std::string& id) {
  auto store = open_store(s, Create::OnlyNamed);
  if (!store->remove_scanner(id)) {
    std::cerr << "ticket-bridge: no scanner " << id << " in the scanner table\n";
    return 1;
  }
  return 0;
}

}  // namespace tb
