// The gates' feed (gate_sync.hpp).
#include "gate_sync.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "signed_code.hpp"

namespace tb {

using nlohmann::json;

namespace {

constexpr std::string_view kDomain = "tb-sync-v1";
constexpr std::size_t kKeyBytes = 16;
constexpr std::int64_t kMaxCount = 2'147'483'647;
constexpr std::int64_t kMaxAt = 9'007'199'254'740'991;  // 2^53 - 1: exact in any JSON reader

bool is_key(const json& v) {
  if (!v.is_string()) return false;
  const auto& s = v.get_ref<const std::string&>();
  return s.size() == 2 * kKeyBytes && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::optional<std::int64_t> integer(const json& v, std::int64_t max) {
  if (!v.is_number_integer()) return std::nullopt;
  // An unsigned value past INT64_MAX reads as a negative one here: refused too.
  const auto n = v.get<std::int64_t>();
  if (n < 0 || n > max) return std::nullopt;
  return n;
}

std::optional<bool> flag(const json& v) {
  const auto n = integer(v, 1);
  if (!n) return std::nullopt;
  return *n == 1;
}

}  // namespace

std::string sync_key(const std::array<std::uint8_t, 64>& signature) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx, kDomain.data(), kDomain.size());
  EVP_DigestUpdate(ctx, signature.data(), signature.size());
  EVP_DigestFinal_ex(ctx, digest, &size);
  EVP_MD_CTX_free(ctx);
  return hex_encode(digest, kKeyBytes);
}

std::optional<std::string> sync_key_of(std::string_view signed_code) {
  const auto decoded = decode_signed_code(signed_code);
  if (!std::holds_alternative<DecodedCode>(decoded)) return std::nullopt;
  return sync_key(std::get<DecodedCode>(decoded).signature);
}

std::string sync_payload(const std::vector<SyncEntry>& entries, Millis at,
                         std::optional<std::size_t> chunk, std::size_t chunks) {
  json list = json::array();
  for (const auto& e : entries) {
    list.push_back(json::array({e.key, e.entries, e.inside ? 1 : 0, e.revoked ? 1 : 0, e.at}));
  }
  json m = {{"v", 1}, {"at", at}};
  if (chunk) {
    m["chunk"] = *chunk;
    m["chunks"] = chunks;
  }
  m["entries"] = std::move(list);
  return m.dump();
}

std::variant<SyncMessage, std::string> parse_sync_payload(std::string_view payload) {
  if (payload.size() > kMaxSyncPayload) return std::string("larger than a feed message may be");
  const auto m = json::parse(payload, nullptr, false);
  if (!m.is_object()) return std::string("not a JSON object");
  const auto v = m.find("v");
  if (v == m.end() || *v != 1) return std::string("not version 1 of the feed");
  SyncMessage out;
  const auto at = m.find("at");
  if (at == m.end() || !integer(*at, kMaxAt)) return std::string("no valid \"at\"");
  out.at = *integer(*at, kMaxAt);
  const auto chunk = m.find("chunk");
  const auto chunks = m.find("chunks");
  if ((chunk == m.end()) != (chunks == m.end())) {
    return std::string("\"chunk\" and \"chunks\" go together");
  }
  if (chunk != m.end()) {
    const auto n = integer(*chunks, static_cast<std::int64_t>(kMaxSyncChunks));
    const auto i = integer(*chunk, static_cast<std::int64_t>(kMaxSyncChunks) - 1);
    if (!n || !i || *n == 0 || *i >= *n) return std::string("no valid \"chunk\" of \"chunks\"");
    out.chunk = static_cast<std::size_t>(*i);
    out.chunks = static_cast<std::size_t>(*n);
  }
  const auto entries = m.find("entries");
  if (entries == m.end() || !entries->is_array()) return std::string("no \"entries\" array");
  if (entries->size() > kMaxSyncEntriesPerMessage) return std::string("too many entries");
  out.entries.reserve(entries->size());
  for (const auto& e : *entries) {
    if (!e.is_array() || e.size() != 5 || !is_key(e[0])) {
      return std::string("an entry is not [key, entries, inside, revoked, at]");
    }
    const auto count = integer(e[1], kMaxCount);
    const auto inside = flag(e[2]);
    const auto revoked = flag(e[3]);
    const auto when = integer(e[4], kMaxAt);
    if (!count || !inside || !revoked || !when) {
      return std::string("an entry has a value out of its range");
    }
    out.entries.push_back({e[0].get<std::string>(), *count, *inside, *revoked, *when});
  }
  return out;
}

SyncEntry merge(const SyncEntry& a, const SyncEntry& b) {
  SyncEntry m = b.at > a.at ? b : a;  // inside (and the key) of the later news
  m.entries = std::max(a.entries, b.entries);
  m.revoked = a.revoked || b.revoked;
  return m;
}

}  // namespace tb
