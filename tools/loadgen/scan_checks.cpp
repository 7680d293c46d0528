// CPU cost per scan of the checks on untrusted MQTT input: the broker plugin's scan check (the
// bridge's parser, run on mosquitto's one thread for every publish on tickets/scan) and the
// bridge's Response Topic rule; and what a signed ticket code (SPEC.md v1.1) adds to the parse of a
// scan, next to the Ed25519 check the bridge does not make online. `tools/bench.sh checks` runs
// it; docs/benchmarks.md has results. And the gates' feed (gate_sync.hpp): the key the bridge
// computes per admitted signed scan, an update's payload per entry, and a gate's merge of one full
// snapshot chunk into its journal.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <unistd.h>

#include "gate_sync.hpp"
#include "journal.hpp"
#include "policy.hpp"
#include "rotating_code.hpp"
#include "scan.hpp"
#include "signed_code.hpp"
#include "topics.hpp"

namespace {

template <typename F>
double micros_per_call(int n, F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) f();
  const std::chrono::duration<double, std::micro> took = std::chrono::steady_clock::now() - t0;
  return took.count() / n;
}

}  // namespace

int main() {
  constexpr int kCalls = 1'000'000;
  const tbauth::Identity scanner{tbauth::Role::Scanner, "gate-n-1", 0};
  const std::string scan =
      R"({"scan_id":"gate-n-1:000123","code":"TB7QK2M9XW4R","scanner":"gate-n-1",)"
      R"("gate":"north","direction":"in","scanned_at":"2026-11-25T19:02:11.123Z"})";
  const std::optional<std::string> id = "gate-n-1";
  int refused = 0;
  const double plugin = micros_per_call(kCalls, [&] {
    refused += tbauth::scan_refusal(scanner, "tickets/scan", scan, false).has_value();
  });
  const double topic = micros_per_call(kCalls, [&] {
    refused += tb::topics::response_topic_refusal("tickets/result/gate-n-1", id).has_value();
  });
  // The same scan with the ticket's signed code (a 12-character code, a window, two gates).
  const auto key = tb::SigningKey::generate();
  tb::CodeClaims claims;
  claims.code = "TB7QK2M9XW4R";
  claims.valid_from = 1'796'000'000'000;
  claims.valid_until = 1'796'030'000'000;
  claims.gates = {"north", "south"};
  const std::string signed_code = key.sign(claims);
  std::string signed_scan = scan;
  signed_scan.replace(signed_scan.find("TB7QK2M9XW4R"), 12, signed_code);
  const double parse_plain =
      micros_per_call(kCalls, [&] { refused += !tb::parse_scan(scan).scan.has_value(); });
  const double parse_signed =
      micros_per_call(kCalls, [&] { refused += !tb::parse_scan(signed_scan).scan.has_value(); });
  const auto decoded = std::get<tb::DecodedCode>(tb::decode_signed_code(signed_code));
  const std::vector<tb::VerifyKey> keys = {{key.key_id(), key.public_key()}};
  const double verify =
      micros_per_call(kCalls / 20, [&] { refused += !tb::verify_signed_code(decoded, keys); });
  // A rotating ticket's check at the bridge: the ticket's secret from the venue's key, then the
  // values of three steps (rotating_code_fresh), as a fresh scan costs it.
  const auto rotation = tb::generate_rotating_key();
  const tb::Millis at = 1'796'000'000'000;
  const std::string value =
      tb::rotating_value(tb::ticket_rotating_secret(rotation, claims.code), tb::rotating_step(at));
  const double rotating = micros_per_call(kCalls / 4, [&] {
    refused +=
        !tb::rotating_value_fresh(tb::ticket_rotating_secret(rotation, claims.code), value, at);
  });
  // The gates' feed: the bridge's key of an admitted signed ticket; an update of a batch of 64.
  const double feed_key =
      micros_per_call(kCalls / 4, [&] { refused += !tb::sync_key_of(signed_code).has_value(); });
  std::vector<tb::SyncEntry> news(
      64, tb::SyncEntry{*tb::sync_key_of(signed_code), 1, true, false, 1'796'000'000'000});
  const double feed_payload =
      micros_per_call(kCalls / 640, [&] { refused += tb::sync_payload(news, at).empty(); }) / 64;
  // A gate's journal (synchronous=FULL, as the agent's) taking full chunks of new tickets, then
  // the same chunk again (the merge of what it holds).
  char dir[] = "/tmp/tb-checks-XXXXXX";
  if (mkdtemp(dir) == nullptr) return 1;
  std::vector<tb::SyncEntry> chunk(tb::kMaxSyncEntriesPerMessage);
  for (std::size_t i = 0; i < chunk.size(); ++i) {
    chunk[i] = {
        tb::hex_encode(reinterpret_cast<const std::uint8_t*>(&i), sizeof i) + std::string(16, '0'),
        1, true, false, at};
  }
  double chunk_new_ms = 0, chunk_again_ms = 0;
  {
    sa::Journal journal(std::string(dir) + "/j.db");
    chunk_new_ms =
        micros_per_call(1, [&] { refused += journal.apply_feed(chunk, 1'000'000) != 0; });
    chunk_again_ms =
        micros_per_call(1, [&] { refused += journal.apply_feed(chunk, 1'000'000) != 0; });
  }
  std::filesystem::remove_all(dir);
  std::printf(
      "{\"plugin_scan_check_us\": %.3f, \"response_topic_check_us\": %.3f, "
      "\"parse_plain_us\": %.3f, \"parse_signed_us\": %.3f, \"ed25519_verify_us\": %.3f, "
      "\"rotating_check_us\": %.3f, \"feed_key_us\": %.3f, \"feed_payload_per_entry_us\": "
      "%.3f, \"feed_chunk_new_ms\": %.1f, \"feed_chunk_again_ms\": %.1f, \"refused\": %d}\n",
      plugin, topic, parse_plain, parse_signed, verify, rotating, feed_key, feed_payload,
      chunk_new_ms / 1000, chunk_again_ms / 1000, refused);
  return refused == 0 ? 0 : 1;
}
