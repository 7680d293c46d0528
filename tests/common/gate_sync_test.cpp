// The gates' feed format (gate_sync.hpp): keys, payloads read strictly, the order-free merge.
#include "gate_sync.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "signed_code.hpp"

namespace tb {
namespace {

SyncEntry entry(std::string key, std::int64_t entries, bool inside, bool revoked, Millis at) {
  return SyncEntry{std::move(key), entries, inside, revoked, at};
}

const std::string kKey(32, 'a');

TEST(GateSync, TheKeyComesFromTheSignatureAndShowsNoCode) {
  const auto key = SigningKey::generate();
  CodeClaims claims;
  claims.code = "SECRET-CODE-1";
  const std::string code = key.sign(claims);
  const auto k = sync_key_of(code);
  ASSERT_TRUE(k);
  EXPECT_EQ(k->size(), 32U);
  EXPECT_EQ(k->find_first_not_of("0123456789abcdef"), std::string::npos);
  // The same ticket signed again names the same key; another ticket another.
  EXPECT_EQ(sync_key_of(key.sign(claims)), k);
  claims.code = "SECRET-CODE-2";
  EXPECT_NE(sync_key_of(key.sign(claims)), k);
  // Lower case (a wedge with Caps Lock) is the same code.
  std::string lower = code;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_EQ(sync_key_of(lower), k);
  EXPECT_EQ(sync_key_of("PLAIN-CODE"), std::nullopt);
  EXPECT_EQ(sync_key_of(code.substr(0, code.size() - 3)), std::nullopt);
}

TEST(GateSync, PayloadsRoundTrip) {
  const std::vector<SyncEntry> in = {entry(kKey, 2, true, false, 1'700'000'000'000),
                                     entry(std::string(32, '0'), 0, false, true, 5)};
  const auto update = parse_sync_payload(sync_payload(in, 42));
  ASSERT_TRUE(std::holds_alternative<SyncMessage>(update)) << std::get<std::string>(update);
  const auto& u = std::get<SyncMessage>(update);
  EXPECT_EQ(u.at, 42);
  EXPECT_EQ(u.chunk, std::nullopt);
  ASSERT_EQ(u.entries.size(), 2U);
  EXPECT_EQ(u.entries[0].key, kKey);
  EXPECT_EQ(u.entries[0].entries, 2);
  EXPECT_TRUE(u.entries[0].inside);
  EXPECT_FALSE(u.entries[0].revoked);
  EXPECT_EQ(u.entries[0].at, 1'700'000'000'000);
  EXPECT_TRUE(u.entries[1].revoked);

  const auto chunk = parse_sync_payload(sync_payload(in, 7, 2, 3));
  ASSERT_TRUE(std::holds_alternative<SyncMessage>(chunk));
  EXPECT_EQ(std::get<SyncMessage>(chunk).chunk, 2U);
  EXPECT_EQ(std::get<SyncMessage>(chunk).chunks, 3U);
}

TEST(GateSync, AFullChunkFitsOneMessage) {
  std::vector<SyncEntry> many(kMaxSyncEntriesPerMessage,
                              entry(kKey, 2'147'483'647, true, true, 9'007'199'254'740'991));
  const auto payload = sync_payload(many, 9'007'199'254'740'991, 63, 64);
  EXPECT_LE(payload.size(), kMaxSyncPayload);
  EXPECT_TRUE(std::holds_alternative<SyncMessage>(parse_sync_payload(payload)));
}

TEST(GateSync, HostilePayloadsAreRefused) {
  const std::string k = "\"" + kKey + "\"";
  for (const std::string& bad : std::vector<std::string>{
           "",
           "[]",
           "null",
           "{",
           R"({"v":2,"at":1,"entries":[]})",
           R"({"at":1,"entries":[]})",
           R"({"v":1,"entries":[]})",
           R"({"v":1,"at":-1,"entries":[]})",
           R"({"v":1,"at":1.5,"entries":[]})",
           R"({"v":1,"at":"1","entries":[]})",
           R"({"v":1,"at":1})",
           R"({"v":1,"at":1,"entries":{}})",
           R"({"v":1,"at":1,"chunk":0,"entries":[]})",
           R"({"v":1,"at":1,"chunk":1,"chunks":1,"entries":[]})",
           R"({"v":1,"at":1,"chunk":0,"chunks":0,"entries":[]})",
           R"({"v":1,"at":1,"chunk":0,"chunks":65,"entries":[]})",
           R"({"v":1,"at":1,"entries":[[)" + k + R"(,1,0,0]]})",
           R"({"v":1,"at":1,"entries":[[)" + k + R"(,1,0,0,1,9]]})",
           R"({"v":1,"at":1,"entries":[[)" + k + R"(,-1,0,0,1]]})",
           R"({"v":1,"at":1,"entries":[[)" + k + R"(,1,2,0,1]]})",
           R"({"v":1,"at":1,"entries":[[)" + k + R"(,1,0,true,1]]})",
           R"({"v":1,"at":1,"entries":[[)" + k + R"(,18446744073709551615,0,0,1]]})",
           R"({"v":1,"at":1,"entries":[[)" + k + R"(,1,0,0,9007199254740992]]})",
           R"({"v":1,"at":1,"entries":[["ABCDEF0123456789ABCDEF0123456789",1,0,0,1]]})",
           R"({"v":1,"at":1,"entries":[["abc",1,0,0,1]]})",
           R"({"v":1,"at":1,"entries":[[5,1,0,0,1]]})",
           R"({"v":1,"at":1,"entries":[5]})"}) {
    EXPECT_TRUE(std::holds_alternative<std::string>(parse_sync_payload(bad))) << bad;
  }
  std::string many = R"({"v":1,"at":1,"entries":[)";
  for (std::size_t i = 0; i <= kMaxSyncEntriesPerMessage; ++i) {
    many += (i ? "," : "") + std::string("[") + k + ",1,0,0,1]";
  }
  many += "]}";
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_sync_payload(many)));
  EXPECT_TRUE(std::holds_alternative<std::string>(
      parse_sync_payload(std::string(kMaxSyncPayload + 1, ' '))));
}

// Any order of the same news gives the same state: entries the most, revoked once set, inside
// of the latest.
TEST(GateSync, MergingIsFreeOfOrder) {
  const auto a = entry(kKey, 1, true, false, 100);
  const auto b = entry(kKey, 3, false, false, 200);
  const auto c = entry(kKey, 2, true, true, 150);
  for (const auto& m : {merge(merge(a, b), c), merge(merge(c, a), b), merge(b, merge(c, a)),
                        merge(merge(merge(a, b), c), b)}) {
    EXPECT_EQ(m.entries, 3);
    EXPECT_FALSE(m.inside);
    EXPECT_TRUE(m.revoked);
    EXPECT_EQ(m.at, 200);
  }
}

}  // namespace
}  // namespace tb
