// Access rules and mosquitto_passwd hash verification.
#include "policy.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <charconv>
#include <fstream>
#include <vector>

#include "ids.hpp"
#include "scan.hpp"
#include "topics.hpp"

namespace tbauth {

namespace {

std::vector<std::string_view> levels(std::string_view topic) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    const auto slash = topic.find('/', start);
    out.push_back(topic.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) return out;
    start = slash + 1;
  }
}

bool has_wildcard(std::string_view t) {
  return t.find_first_of("+#") != std::string_view::npos;
}

// users/<one concrete level>/events
bool is_user_events(std::string_view topic) {
  const auto l = levels(topic);
  return l.size() == 3 && l[0] == "users" && !l[1].empty() && l[2] == "events" &&
         !has_wildcard(topic);
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// "$share/<group>/rest" -> "rest"
std::string_view unshare(std::string_view filter) {
  if (!starts_with(filter, "$share/")) return filter;
  const auto slash = filter.find('/', 7);
  return slash == std::string_view::npos ? std::string_view() : filter.substr(slash + 1);
}

// The gates' feed: tickets/sync/updates, and tickets/sync/snapshot/+ (to subscribe) or one of its
// chunks (a message's topic).
bool is_gate_feed(int access, std::string_view topic) {
  if (topic == tb::topics::kSyncUpdates) return true;
  if (access == kSubscribe && topic == tb::topics::kSyncSnapshotFilter) return true;
  return tb::topics::sync_snapshot_chunk(topic).has_value();
}

bool scanner_allowed(const std::string& id, int access, std::string_view topic) {
  if (access == kWrite) {
    return topic == tb::topics::kScan || topic == tb::topics::device_scan(id) ||
           topic == tb::topics::scanner_status(id);
  }
  // Read and subscribe: its own answers, tickets/result/<id> and below, never another's; and the
  // gates' feed (gate_sync.hpp), which names no ticket code.
  return tb::topics::is_scanners_own(topic, id) || is_gate_feed(access, topic);
}

bool bridge_allowed(int access, std::string_view topic) {
  if (access == kWrite) {
    return !has_wildcard(topic) &&
           ((starts_with(topic, tb::topics::kResultPrefix) &&
             topic.size() > tb::topics::kResultPrefix.size()) ||
            is_user_events(topic) || starts_with(topic, "bridge/") || is_gate_feed(access, topic));
  }
  const auto t = access == kSubscribe ? unshare(topic) : topic;
  if (t == tb::topics::kScan || t == "users/+/events" || is_user_events(t)) return true;
  if (t == tb::topics::kDeviceScanFilter || t == tb::topics::kScannerStatusFilter) return true;
  // Reading a message: its topic is a concrete one.
  return !has_wildcard(t) && (tb::topics::device_scan_scanner(t) || tb::topics::status_scanner(t));
}

// "<prefix><rest>" -> rest, or nothing when `s` does not start with `prefix`.
std::optional<std::string_view> after(std::string_view s, std::string_view prefix) {
  if (!starts_with(s, prefix)) return std::nullopt;
  return s.substr(prefix.size());
}

}  // namespace

bool client_id_allowed(const Identity& who, std::string_view client_id, int max_app_sessions) {
  switch (who.role) {
    case Role::Bridge: {
      const auto instance = after(client_id, "ticket-bridge-");
      return instance && tb::is_valid_id(*instance);
    }
    case Role::Scanner:
      return after(client_id, "scanner-") == std::string_view(who.name);
    case Role::Customer: {
      const auto rest = after(client_id, "app-" + who.name + "-");
      if (!rest || rest->empty() || rest->size() > 4) return false;
      if (rest->size() > 1 && rest->front() == '0') return false;  // one spelling per session
      int n = -1;
      const auto [end, ec] = std::from_chars(rest->data(), rest->data() + rest->size(), n);
      return ec == std::errc() && end == rest->data() + rest->size() && n >= 0 &&
             n < max_app_sessions;
    }
  }
  return false;
}

bool is_scan_topic(std::string_view topic) {
  return topic == tb::topics::kScan || tb::topics::device_scan_scanner(topic).has_value();
}

std::optional<std::string> scan_refusal(const Identity& who, std::string_view topic,
                                        std::string_view payload, bool retain) {
  if (retain) return std::string("a retained scan");
  if (topic != tb::topics::kScan) return std::nullopt;
  const tb::ParsedScan parsed = tb::parse_scan(payload);
  if (parsed.scanner && *parsed.scanner != who.name) return "names scanner " + *parsed.scanner;
  return std::nullopt;
}

bool allowed(const Identity& who, int access, std::string_view topic, std::int64_t now_s) {
  if (access == kUnsubscribe) return true;
  switch (who.role) {
    case Role::Scanner:
      return scanner_allowed(who.name, access, topic);
    case Role::Bridge:
      return bridge_allowed(access, topic);
    case Role::Customer:
      if (now_s >= who.exp) return false;  // the token expired while connected
      return (access == kRead || access == kSubscribe) && topic == "users/" + who.name + "/events";
  }
  return false;
}

namespace {

std::optional<std::string> b64_decode(std::string_view in) {
  std::string out(in.size(), '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  std::size_t len = static_cast<std::size_t>(n);
  // EVP_DecodeBlock counts padding as zero bytes.
  for (std::size_t i = in.size(); i > 0 && in[i - 1] == '='; --i) --len;
  out.resize(len);
  return out;
}

bool equal(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

bool verify_mosquitto_hash(std::string_view encoded, std::string_view password) {
  std::vector<std::string> f;  // the '$'-separated fields
  std::size_t start = 0;
  while (start <= encoded.size()) {
    const auto d = encoded.find('$', start);
    f.emplace_back(encoded.substr(start, d == std::string_view::npos ? d : d - start));
    if (d == std::string_view::npos) break;
    start = d + 1;
  }
  // "$7$101$salt$hash" -> ["", "7", "101", salt, hash]; "$6$salt$hash" -> ["", "6", salt, hash]
  if (f.size() == 5 && f[0].empty() && f[1] == "7") {
    const auto salt = b64_decode(f[3]);
    const auto hash = b64_decode(f[4]);
    int iterations = 0;
    try {
      iterations = std::stoi(f[2]);
    } catch (const std::exception&) {
      return false;
    }
    if (!salt || !hash || iterations < 1 || iterations > 10'000'000 || hash->empty()) return false;
    std::string derived(hash->size(), '\0');
    if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                          reinterpret_cast<const unsigned char*>(salt->data()),
                          static_cast<int>(salt->size()), iterations, EVP_sha512(),
                          static_cast<int>(derived.size()),
                          reinterpret_cast<unsigned char*>(derived.data())) != 1) {
      return false;
    }
    return equal(derived, *hash);
  }
  if (f.size() == 4 && f[0].empty() && f[1] == "6") {
    const auto salt = b64_decode(f[2]);
    const auto hash = b64_decode(f[3]);
    if (!salt || !hash) return false;
    std::string digest(EVP_MAX_MD_SIZE, '\0');
    unsigned int len = 0;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    const bool ok =
        EVP_DigestInit_ex(ctx, EVP_sha512(), nullptr) == 1 &&
        EVP_DigestUpdate(ctx, password.data(), password.size()) == 1 &&
        EVP_DigestUpdate(ctx, salt->data(), salt->size()) == 1 &&
        EVP_DigestFinal_ex(ctx, reinterpret_cast<unsigned char*>(digest.data()), &len) == 1;
    EVP_MD_CTX_free(ctx);
    digest.resize(len);
    return ok && equal(digest, *hash);
  }
  return false;
}

std::optional<PasswordFile> PasswordFile::load(const std::string& path, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "cannot read password file " + path;
    return std::nullopt;
  }
  PasswordFile pf;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos || colon == 0) continue;
    pf.hashes_[line.substr(0, colon)] = line.substr(colon + 1);
  }
  return pf;
}

bool PasswordFile::contains(std::string_view user) const {
  return hashes_.count(std::string(user)) > 0;
}

std::string PasswordFile::hash_of(std::string_view user) const {
  const auto it = hashes_.find(std::string(user));
  return it == hashes_.end() ? std::string() : it->second;
}

bool PasswordFile::check(std::string_view user, std::string_view password) const {
  const auto it = hashes_.find(std::string(user));
  return it != hashes_.end() && verify_mosquitto_hash(it->second, password);
}

}  // namespace tbauth
