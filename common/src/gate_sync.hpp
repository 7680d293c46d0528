// The gates' feed (docs/offline.md, "What the gates hear"): the bridge tells every scanner agent
// what each signed ticket has used and which are revoked, so that a gate deciding alone during an
// outage knows what was let in at OTHER gates before it.
//
//   tickets/sync/snapshot/<n>  retained, n = 0 .. chunks-1: every used, inside or revoked signed
//                              ticket, published again when it changed and at every connect of
//                              the bridge
//   tickets/sync/updates       not retained: what one committed batch of the bridge changed
//
// Payload (JSON, at most kMaxSyncPayload bytes):
//
//   {"v":1,"at":<ms>,"entries":[[key, entries, inside, revoked, at], ...]}
//
// and a snapshot chunk adds "chunk" (0-based) and "chunks". inside and revoked are 0 or 1; `at`
// (ms since the epoch) is when that news was true. `key` is 32 lower-case hex digits, the first
// 16 bytes of SHA-256("tb-sync-v1" + the signed code's 64-byte signature): only the one who holds
// the signed code can name it, so the feed shows a reader (a stolen scanner's password reads it)
// no ticket code and no holder.
//
// Merging is free of order, so a gate may apply chunks and updates as they come, twice, or a
// stale one: entries take the larger, revoked stays once set, inside follows the later `at`.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "timeutil.hpp"

namespace tb {

// One MQTT message at most: broker-conf's max_packet_size is 1 MiB, topic and headers included.
inline constexpr std::size_t kMaxSyncPayload = 1024 * 1024 - 4096;
// Entries a chunk or an update carries at most: at most 72 bytes each, a full chunk is below
// kMaxSyncPayload (about 600 KB with usual counts).
inline constexpr std::size_t kMaxSyncEntriesPerMessage = 10'000;
// Chunks of one snapshot at most: 640,000 tickets.
inline constexpr std::size_t kMaxSyncChunks = 64;

struct SyncEntry {
  std::string key;  // sync_key()
  std::int64_t entries = 0;
  bool inside = false;
  bool revoked = false;
  Millis at = 0;
};

struct SyncMessage {
  Millis at = 0;
  std::optional<std::size_t> chunk, chunks;  // a snapshot's
  std::vector<SyncEntry> entries;
};

// The feed's name for the ticket whose signed code carries `signature`.
std::string sync_key(const std::array<std::uint8_t, 64>& signature);
// The same from a signed code as issued; nothing when `signed_code` is no well-formed one.
std::optional<std::string> sync_key_of(std::string_view signed_code);

// One message's payload: an update (no chunk) or chunk `chunk` of `chunks`.
std::string sync_payload(const std::vector<SyncEntry>& entries, Millis at,
                         std::optional<std::size_t> chunk = std::nullopt, std::size_t chunks = 0);
// Reads a payload strictly (every field, its type and range); why it is refused otherwise.
std::variant<SyncMessage, std::string> parse_sync_payload(std::string_view payload);

// The two merged as the feed merges (above).
SyncEntry merge(const SyncEntry& a, const SyncEntry& b);

}  // namespace tb
