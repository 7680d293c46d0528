// libFuzzer entry point: the token parser (the same code the bridge and the broker plugin run on
// every login), the scan payload parser, the signed ticket code reader (SPEC.md v1.1) and the
// gates' feed reader (gate_sync.hpp), fed arbitrary bytes. Run by tools/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gate_sync.hpp"
#include "jwt.hpp"
#include "scan.hpp"
#include "signed_code.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  (void)tb::verify_token(input, "fuzz-secret-0123456789abcdef", 1'800'000'000);
  (void)tb::base64url_decode(input);
  (void)tb::parse_scan(input);
  (void)tb::parse_device_scan("fuzz", input);
  (void)tb::parse_sync_payload(input);
  (void)tb::sync_key_of(input);
  auto code = tb::decode_signed_code(input);
  if (auto* d = std::get_if<tb::DecodedCode>(&code)) {
    tb::VerifyKey key;  // under the code's own key id, so that the signature check itself runs
    key.key_id = d->key_id;
    key.key[0] = 1;
    (void)tb::verify_signed_code(*d, {key});
  }
  return 0;
}
