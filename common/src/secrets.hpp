// Secret files: the JWT signing secret and the API key. A file holds the secret itself;
// surrounding white space is trimmed.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tb {

// Reads the secret in `path`. When the file is missing and `generate` is set, writes a fresh
// random secret there first (mode 0600, parent directories created). Throws std::runtime_error
// with a message fit for the user.
std::string load_secret(const std::string& path, bool generate, const char* what);

// Creates the parent directories of `path` when missing.
void ensure_parent_dir(const std::string& path);

// Who a written file is given to (root only).
struct FileOwner {
  unsigned uid = 0;
  unsigned gid = 0;
};

// Writes `text` to `path` through a new file renamed over it, with `mode` (and `owner`) set before
// anything is written into it: a secret is never readable by others, not even for a moment, and
// a reader sees the old file or the new one, never half of one. Throws std::runtime_error.
void replace_file(const std::string& path, const std::string& text, unsigned mode,
                  const std::optional<FileOwner>& owner = std::nullopt);

// `bytes` random bytes (OpenSSL's RAND_bytes) as lower-case hex.
std::string random_hex(std::size_t bytes);

// A mosquitto_passwd entry's hash of `password`: "$7$101$<salt>$<hash>", PBKDF2-HMAC-SHA512 with a
// random 12-byte salt, base64, as `mosquitto_passwd` writes it (and the tb_auth plugin reads it).
std::string mosquitto_password_hash(std::string_view password);

}  // namespace tb
