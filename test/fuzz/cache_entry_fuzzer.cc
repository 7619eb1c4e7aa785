// libFuzzer target: the disk tier's entry head parser
// (dataplane/cache/disk/entry_format), which reads files under
// --cache-dir: bytes the proxy wrote once, but a disk, a crash or another
// program may have changed them. The first input byte picks a mode: odd,
// the rest is taken as it is (every check, the CRC first, must hold);
// even, the head CRC is patched in to match before parsing, so the fuzzer
// gets past it into the variable part (strings, lists, fields).
// Properties beyond "no crash, no sanitizer report": a parsed head is no
// longer than the input; it encodes back to a head that parses to the same
// object; a Vary marker has no body.
#include <cstdint>
#include <string>
#include <string_view>

#include "dataplane/cache/disk/entry_format.h"
#include "test/fuzz/fuzz_util.h"

namespace disk = sluice::cache::disk;

namespace {

void PatchCrc(std::string& bytes) {
  if (bytes.size() < disk::kFixedHeadBytes) return;
  const uint64_t head_length = disk::PeekHeadLength(bytes);
  if (head_length < 28 || head_length > bytes.size()) return;
  for (size_t i = 24; i < 28; ++i) bytes[i] = 0;
  const uint32_t crc = disk::Crc32(std::string_view(bytes).substr(0, head_length));
  for (int i = 0; i < 4; ++i) bytes[24 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
}

bool SameObject(const sluice::cache::CachedObject& a, const sluice::cache::CachedObject& b) {
  if (a.key != b.key || a.status != b.status || a.vary != b.vary || a.tags != b.tags ||
      a.vary_marker != b.vary_marker || a.headers.entries().size() != b.headers.entries().size() ||
      a.freshness.lifetime != b.freshness.lifetime || a.age.response_time != b.age.response_time ||
      a.freshness.cc.max_age != b.freshness.cc.max_age || a.freshness.cc.no_cache != b.freshness.cc.no_cache ||
      a.freshness.cc.present != b.freshness.cc.present) {
    return false;
  }
  for (size_t i = 0; i < a.headers.entries().size(); ++i) {
    if (a.headers.entries()[i].name != b.headers.entries()[i].name ||
        a.headers.entries()[i].value != b.headers.entries()[i].value) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool as_is = (data[0] & 1) != 0;
  std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (!as_is) PatchCrc(bytes);
  sluice::Result<disk::EntryHead> head = disk::ParseHead(bytes);
  if (!head.ok()) return 0;
  FUZZ_CHECK(head->head_length <= bytes.size());
  FUZZ_CHECK(head->head_length >= disk::kFixedHeadBytes);
  FUZZ_CHECK(!head->object->vary_marker || head->body_length == 0);
  // The same object written again parses to the same object.
  const std::string again = disk::EncodeHead(*head->object, head->written_ns);
  sluice::Result<disk::EntryHead> reparsed = disk::ParseHead(again);
  FUZZ_CHECK(reparsed.ok());
  FUZZ_CHECK(SameObject(*head->object, *reparsed->object));
  FUZZ_CHECK(reparsed->written_ns == head->written_ns);
  return 0;
}
