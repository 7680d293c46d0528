// libFuzzer entry point: the token parser (the same code the bridge and the broker plugin run on
// every login) and the scan payload parser, fed arbitrary bytes. Run by tools/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "jwt.hpp"
#include "scan.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  (void)tb::verify_token(input, "fuzz-secret-0123456789abcdef", 1'800'000'000);
  (void)tb::base64url_decode(input);
  (void)tb::parse_scan(input);
  return 0;
}
