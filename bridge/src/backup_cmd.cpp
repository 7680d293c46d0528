// `ticket-bridge backup FILE`: a consistent copy of the database, taken while `serve` runs
// (sqlite.hpp's backup: one read transaction; the bridge goes on deciding meanwhile).
#include <filesystem>
#include <iostream>

#include "commands.hpp"

namespace tb {

int cmd_backup(const Settings& s, const std::string& file, bool force) {
  if (std::filesystem::exists(file) && !force) {
    std::cerr << "ticket-bridge: " << file << " exists; --force replaces it\n";
    return 1;
  }
  auto store = open_store(s, Create::OnlyNamed);
  const auto bytes = sql::backup(store->db(), file);
  std::cout << "backed up " << s.get("db") << " to " << file << " (" << bytes << " bytes)\n";
  return 0;
}

}  // namespace tb
