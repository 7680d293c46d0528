// `ticket-bridge keys init`, and where every command finds the signing key for signed ticket
// codes (SPEC.md v1.1, docs/offline.md).
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "secrets.hpp"

namespace tb {

namespace fs = std::filesystem;

namespace {

std::string hex(const KeyId& id) {
  return hex_encode(id.data(), id.size());
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Whether the key file `path` exists; an error finding out is an error.
bool key_file_exists(const std::string& path, const char* what) {
  std::error_code ec;
  const bool exists = fs::exists(path, ec);
  if (ec) throw std::runtime_error(std::string(what) + " " + path + ": " + ec.message());
  return exists;
}

// The key `parse` reads from the file's text; any error names the file.
template <typename Parse>
auto read_key_file(const std::string& path, const char* what, Parse parse) {
  try {
    return parse(read_file(path));
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(what) + " " + path + ": " + e.what());
  }
}

// Writes `text` to `path` (secrets.hpp's replace_file). Root gives it to `like`'s owner (the
// service's user, who owns the JWT secret) when that file exists, else to the directory's owner.
void write_file(const std::string& path, const std::string& text, mode_t mode,
                const std::string& like) {
  ensure_parent_dir(path);
  std::optional<FileOwner> owner;
  struct stat st {};
  // Before the first `serve` there is no secret yet: then the directory's owner, when not root.
  const std::string dir = fs::absolute(path).parent_path().string();
  if (::geteuid() == 0 &&
      (::stat(like.c_str(), &st) == 0 || (::stat(dir.c_str(), &st) == 0 && st.st_uid != 0))) {
    owner = FileOwner{st.st_uid, st.st_gid};
  }
  replace_file(path, text, mode, owner);
}

}  // namespace

std::string signing_key_file(const Settings& s) {
  if (auto named = s.get_opt("signing-key-file")) return *named;
  return (fs::path(s.get("jwt-secret-file")).parent_path() / "signing-key.pem").string();
}

namespace {
// The private key's file name without its ".pem": what the public keys' names start with.
std::string key_stem(const std::string& private_key_file) {
  const std::string_view suffix = ".pem";
  std::string base = private_key_file;
  if (base.size() > suffix.size() &&
      base.compare(base.size() - suffix.size(), suffix.size(), suffix) == 0) {
    base.resize(base.size() - suffix.size());
  }
  return base;
}
}  // namespace

std::string public_key_file(const std::string& private_key_file) {
  return key_stem(private_key_file) + ".pub.pem";
}

std::shared_ptr<const SigningKey> signing_key(const Settings& s) {
  const std::string path = signing_key_file(s);
  if (!key_file_exists(path, "signing key")) {
    if (s.get_opt("signing-key-file")) {
      throw std::runtime_error("no signing key at " + path +
                               " (--signing-key-file; `ticket-bridge keys init` makes one)");
    }
    return nullptr;  // no key beside the secret: tickets get plain codes only
  }
  return read_key_file(path, "signing key", [](const std::string& text) {
    return std::make_shared<const SigningKey>(SigningKey::from_pem(text));
  });
}

std::string rotating_key_file(const Settings& s) {
  return (fs::path(signing_key_file(s)).parent_path() / "rotating-key").string();
}

std::shared_ptr<const RotatingKey> rotating_key(const Settings& s) {
  const std::string path = rotating_key_file(s);
  if (!key_file_exists(path, "rotating key")) return nullptr;
  return read_key_file(path, "rotating key", [](const std::string& text) {
    return std::make_shared<const RotatingKey>(rotating_key_from_text(text));
  });
}

namespace {
// The rotating key is made once and kept: a new one would make every phone's rotating code
// stale until the phone is back online (docs/offline.md).
void ensure_rotating_key(const Settings& s, const std::string& like) {
  const std::string path = rotating_key_file(s);
  std::error_code ec;
  if (fs::exists(path, ec)) return;
  const auto key = generate_rotating_key();
  write_file(path, rotating_key_text(key), 0600, like);
  std::cerr << "ticket-bridge keys init: rotating key " << fs::absolute(path).string()
            << " (key id " << rotating_key_id(key)
            << "): tickets that need a rotating code are checked with it\n";
}
}  // namespace

int cmd_keys_init(const Settings& s, bool force) {
  const std::string path = signing_key_file(s);
  const std::string pub = public_key_file(path);
  const std::string like = s.get("jwt-secret-file");
  std::error_code ec;
  if (fs::exists(path, ec)) {
    if (!force && !fs::exists(rotating_key_file(s), ec)) {
      // A key made before rotating codes existed: only the rotating key is missing.
      ensure_rotating_key(s, like);
      std::cout << fs::absolute(pub).string() << "\n";
      return 0;
    }
    if (!force) {
      std::cerr << "ticket-bridge keys init: a signing key exists at " << path
                << ". --force makes a new one: tickets signed so far keep working at the "
                   "bridge, and their gates check them with the old public key, which is "
                   "kept\n";
      return 1;
    }
    // The old public key stays, named by its key id: gates need it for the tickets it signed.
    const auto old = SigningKey::from_pem(read_file(path));
    const std::string kept = key_stem(path) + "-" + hex(old.key_id()) + ".pub.pem";
    write_file(kept, old.public_pem(), 0644, like);
    std::cerr << "ticket-bridge keys init: the old public key (key id " << hex(old.key_id())
              << ") is kept as " << fs::absolute(kept).string() << "\n";
  }
  const auto key = SigningKey::generate();
  write_file(path, key.private_pem(), 0600, like);
  write_file(pub, key.public_pem(), 0644, like);
  ensure_rotating_key(s, like);
  std::cerr << "ticket-bridge keys init: signing key " << fs::absolute(path).string() << " (key id "
            << hex(key.key_id())
            << "): new tickets get signed codes (`serve` after a restart). The public key, "
               "for whoever checks the codes:\n";
  std::cout << fs::absolute(pub).string() << "\n";
  return 0;
}

}  // namespace tb
