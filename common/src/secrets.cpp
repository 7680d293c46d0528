// Reading and first-start generation of secret files.
#include "secrets.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace tb {

void ensure_parent_dir(const std::string& path) {
  const auto parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  if (ec)
    throw std::runtime_error("cannot create directory " + parent.string() + ": " + ec.message());
}

void replace_file(const std::string& path, const std::string& text, unsigned mode,
                  const std::optional<FileOwner>& owner) {
  std::string tmp = path + ".XXXXXX";
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) {
    throw std::runtime_error("cannot create a file beside " + path + ": " + std::strerror(errno));
  }
  bool ok = ::fchmod(fd, static_cast<mode_t>(mode)) == 0 &&
            (!owner || ::fchown(fd, owner->uid, owner->gid) == 0);
  ok = ok && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ok && ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = ok ? errno : saved;
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot write " + path + ": " + std::strerror(err));
  }
}

std::string random_hex(std::size_t n) {
  std::vector<unsigned char> bytes(n);
  if (RAND_bytes(bytes.data(), static_cast<int>(n)) != 1)
    throw std::runtime_error("no random bytes");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * n);
  for (const auto b : bytes) {
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  return hex;
}

std::string mosquitto_password_hash(std::string_view password) {
  constexpr int kIterations = 101;  // mosquitto_passwd's own
  std::array<unsigned char, 12> salt{};
  std::array<unsigned char, 64> hash{};
  if (RAND_bytes(salt.data(), salt.size()) != 1) throw std::runtime_error("no random bytes");
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt.data(),
                        static_cast<int>(salt.size()), kIterations, EVP_sha512(),
                        static_cast<int>(hash.size()), hash.data()) != 1) {
    throw std::runtime_error("PBKDF2 failed");
  }
  const auto b64 = [](const unsigned char* data, std::size_t n) {
    std::string out(4 * ((n + 2) / 3) + 1, '\0');
    const int len =
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
    out.resize(static_cast<std::size_t>(len));
    return out;
  };
  std::string entry = "$7$";
  entry += std::to_string(kIterations);
  entry += '$';
  entry += b64(salt.data(), salt.size());
  entry += '$';
  entry += b64(hash.data(), hash.size());
  return entry;
}

namespace {
void write_new_secret(const std::string& path) {
  const std::string hex = random_hex(32) + "\n";
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
