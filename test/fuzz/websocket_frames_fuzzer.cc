// libFuzzer target: the WebSocket frame boundary tracker
// (dataplane/websocket/frames.h), fed tunnel bytes from either peer.
// Properties beyond "no crash, no sanitizer report": the state after the
// bytes does not depend on how they were split into reads (the first byte
// picks the split), and a lost stream stays lost.
#include <string_view>

#include "dataplane/websocket/frames.h"
#include "test/fuzz/fuzz_util.h"

using sluice::websocket::FrameBoundary;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size == 0) return 0;
  const size_t step = 1 + bytes[0] % 17;
  const std::string_view data(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  FrameBoundary whole, pieces;
  whole.Feed(data);
  bool was_lost = false;
  for (size_t at = 0; at < data.size(); at += step) {
    pieces.Feed(data.substr(at, step));
    FUZZ_CHECK(!was_lost || pieces.lost());
    was_lost = pieces.lost();
  }
  FUZZ_CHECK(whole.at_boundary() == pieces.at_boundary());
  FUZZ_CHECK(whole.lost() == pieces.lost());
  FUZZ_CHECK(!whole.lost() || !whole.at_boundary());
  return 0;
}
