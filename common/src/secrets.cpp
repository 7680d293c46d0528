// Reading and first-start generation of secret files.
#include "secrets.hpp"

#include <fcntl.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace tb {

void ensure_parent_dir(const std::string& path) {
  const auto parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  if (ec)
    throw std::runtime_error("cannot create directory " + parent.string() + ": " + ec.message());
}

namespace {
void write_new_secret(const std::string& path) {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), bytes.size()) != 1) throw std::runtime_error("no random bytes");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (const auto b : bytes) {
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  hex += '\n';
  ensure_parent_dir(path);
  // O_EXCL: two processes starting at once must not both write (and disagree on) the secret.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return;
    throw std::runtime_error("cannot create " + path + ": " + std::strerror(errno));
  }
  const bool ok = ::write(fd, hex.data(), hex.size()) == static_cast<ssize_t>(hex.size());
  ::fsync(fd);
  ::close(fd);
  if (!ok) throw std::runtime_error("cannot write " + path);
}
}  // namespace

std::string load_secret(const std::string& path, bool generate, const char* what) {
  if (generate && !std::filesystem::exists(path)) {
    write_new_secret(path);
    spdlog::info("generated a new {} in {}", what, path);
  }
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read the " + std::string(what) + " file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  const auto first = s.find_first_not_of(" \t\r\n");
  const auto last = s.find_last_not_of(" \t\r\n");
  s = first == std::string::npos ? std::string() : s.substr(first, last - first + 1);
  if (s.empty())
    throw std::runtime_error("the " + std::string(what) + " file " + path + " is empty");
  if (s.size() < 16) {
    spdlog::warn("the {} in {} is only {} bytes; use at least 32", what, path, s.size());
  }
  return s;
}

}  // namespace tb
