// libFuzzer target for the ClientHello SNI parser: any bytes a client sends
// first on the HTTPS listener while TLS passthrough hosts exist. Properties
// beyond "no crash":
//  - a found name is non-empty, at most 253 bytes, lower case host
//    characters only (it is looked up among the snapshot's hosts);
//  - "need more" only below the input bound (the proxy's peek is bounded);
//  - a decision is final: more bytes after the input never change a found
//    name, "not TLS", "invalid" or "too large" (the session may see the
//    bytes split across reads anywhere).
#include <cstdint>
#include <string>
#include <string_view>

#include "dataplane/sni/client_hello.h"
#include "test/fuzz/fuzz_util.h"

using sluice::sni::ParseClientHello;
using sluice::sni::Status;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto result = ParseClientHello(input);
  if (result.status == Status::kFound) {
    FUZZ_CHECK(!result.server_name.empty() && result.server_name.size() <= 253);
    for (char c : result.server_name) {
      FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.');
    }
  } else {
    FUZZ_CHECK(result.server_name.empty());
  }
  if (result.status == Status::kNeedMore) {
    FUZZ_CHECK(input.size() < sluice::sni::kMaxClientHelloInput + 5 + 16 * 1024);
    return 0;
  }
  std::string longer(input);
  longer.append("\x16\x03\x01\x00\x05hello", 10);
  auto again = ParseClientHello(longer);
  FUZZ_CHECK(again.status == result.status);
  FUZZ_CHECK(again.server_name == result.server_name);
  return 0;
}
