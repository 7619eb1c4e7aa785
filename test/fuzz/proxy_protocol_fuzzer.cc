// libFuzzer target for the PROXY protocol parser: any bytes a client sends
// first on a --proxy-protocol listener. Properties beyond "no crash":
//  - a header is never longer than the input or than kMaxHeaderLength;
//  - the decision only depends on the header's own bytes: the header alone
//    parses the same, and every shorter prefix of it is "need more" (the
//    session may see it split across reads anywhere);
//  - "invalid" is final: more bytes never make it valid.
#include <cstdint>
#include <string>
#include <string_view>

#include "dataplane/proxy_protocol/proxy_protocol.h"
#include "test/fuzz/fuzz_util.h"

using sluice::proxy_protocol::Parse;
using sluice::proxy_protocol::Status;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto result = Parse(input);
  switch (result.status) {
    case Status::kDone: {
      FUZZ_CHECK(result.length > 0 && result.length <= input.size());
      FUZZ_CHECK(result.length <= sluice::proxy_protocol::kMaxHeaderLength);
      FUZZ_CHECK(result.header.version == 1 || result.header.version == 2);
      auto alone = Parse(input.substr(0, result.length));
      FUZZ_CHECK(alone.status == Status::kDone && alone.length == result.length);
      FUZZ_CHECK(alone.header.source == result.header.source && alone.header.local == result.header.local);
      for (size_t n = 0; n < result.length; ++n) FUZZ_CHECK(Parse(input.substr(0, n)).status == Status::kNeedMore);
      break;
    }
    case Status::kInvalid: {
      FUZZ_CHECK(!result.error.empty());
      std::string longer(input);
      longer.append("\r\n\r\n");
      FUZZ_CHECK(Parse(longer).status == Status::kInvalid);
      break;
    }
    case Status::kNeedMore:
      FUZZ_CHECK(input.size() < sluice::proxy_protocol::kMaxHeaderLength);
      break;
  }
  return 0;
}
