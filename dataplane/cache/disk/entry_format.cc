#include "dataplane/cache/disk/entry_format.h"

#include <zlib.h>

#include <cstring>

namespace sluice::cache::disk {
namespace {

// Bounds a corrupt head cannot get past (each far above what the proxy
// writes: Vary names and tags are limited by purge.h and the request head
// limits, fields by the response head limit).
constexpr uint32_t kMaxListEntries = 4096;

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutI64(std::string& out, int64_t v) { PutU64(out, static_cast<uint64_t>(v)); }
void PutString(std::string& out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}
void SetU32(std::string& out, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// Reads the variable part; every length checked against what is left.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  bool U32(uint32_t& v) {
    if (bytes_.size() - at_ < 4) return false;
    v = GetU32(bytes_.data() + at_);
    at_ += 4;
    return true;
  }
  bool String(std::string& s) {
    uint32_t n;
    if (!U32(n) || n > bytes_.size() - at_) return false;
    s.assign(bytes_.data() + at_, n);
    at_ += n;
    return true;
  }
  bool Strings(std::vector<std::string>& out) {
    uint32_t n;
    if (!U32(n) || n > kMaxListEntries) return false;
    out.resize(n);
    for (std::string& s : out) {
      if (!String(s)) return false;
    }
    return true;
  }
  bool done() const { return at_ == bytes_.size(); }

 private:
  std::string_view bytes_;
  size_t at_ = 0;
};

constexpr size_t kCrcAt = 24;

// CacheControl's bools in their declaration order (the format's bits).
bool CacheControl::*const kFlags[] = {
    &CacheControl::no_store,        &CacheControl::no_cache,        &CacheControl::no_cache_qualified,
    &CacheControl::is_private,      &CacheControl::private_qualified, &CacheControl::is_public,
    &CacheControl::must_revalidate, &CacheControl::proxy_revalidate, &CacheControl::must_understand,
    &CacheControl::no_transform,    &CacheControl::only_if_cached,  &CacheControl::immutable,
    &CacheControl::malformed,       &CacheControl::present,
};
int64_t CacheControl::*const kNumbers[] = {
    &CacheControl::max_age,   &CacheControl::s_maxage,          &CacheControl::max_stale,
    &CacheControl::min_fresh, &CacheControl::stale_while_revalidate, &CacheControl::stale_if_error,
};

}  // namespace

uint32_t Crc32(std::string_view bytes, uint32_t crc) {
  // zlib's (already linked for gzip): table-driven, a few GB/s.
  while (!bytes.empty()) {
    const uInt n = static_cast<uInt>(std::min<size_t>(bytes.size(), 1u << 30));
    crc = static_cast<uint32_t>(crc32(crc, reinterpret_cast<const Bytef*>(bytes.data()), n));
    bytes.remove_prefix(n);
  }
  return crc;
}

std::string EncodeHead(const CachedObject& object, int64_t written_ns) {
  std::string out;
  out.reserve(kFixedHeadBytes + object.key.size() + 64 * object.headers.entries().size());
  out.append(kMagic);
  PutU32(out, kFormatVersion);
  PutU32(out, 0);  // head_length, set below
  const std::string_view body = object.body != nullptr ? std::string_view(*object.body) : std::string_view();
  PutU64(out, body.size());
  PutU32(out, 0);  // head_crc, set below
  PutU32(out, Crc32(body));
  PutU32(out, object.vary_marker ? 1u : 0u);
  PutI64(out, written_ns);
  PutU32(out, static_cast<uint32_t>(object.status));
  PutI64(out, object.age.request_time);
  PutI64(out, object.age.response_time);
  PutI64(out, object.age.date_value);
  PutI64(out, object.age.age_value);
  PutI64(out, object.freshness.lifetime);
  for (int64_t CacheControl::*number : kNumbers) PutI64(out, object.freshness.cc.*number);
  uint32_t flags = 0;
  for (size_t i = 0; i < std::size(kFlags); ++i) {
    if (object.freshness.cc.*kFlags[i]) flags |= 1u << i;
  }
  PutU32(out, flags);
  PutString(out, object.key);
  PutU32(out, static_cast<uint32_t>(object.vary.size()));
  for (const std::string& name : object.vary) PutString(out, name);
  PutU32(out, static_cast<uint32_t>(object.tags.size()));
  for (const std::string& tag : object.tags) PutString(out, tag);
  PutU32(out, static_cast<uint32_t>(object.headers.entries().size()));
  for (const http::Header& field : object.headers.entries()) {
    PutString(out, field.name);
    PutString(out, field.value);
  }
  SetU32(out, 12, static_cast<uint32_t>(out.size()));
  SetU32(out, kCrcAt, Crc32(out));
  return out;
}

uint64_t PeekHeadLength(std::string_view fixed) {
  if (fixed.size() < 16 || fixed.substr(0, kMagic.size()) != kMagic || GetU32(fixed.data() + 8) != kFormatVersion) {
    return 0;
  }
  return GetU32(fixed.data() + 12);
}

Result<EntryHead> ParseHead(std::string_view bytes) {
  if (bytes.size() < kFixedHeadBytes) return Status::Error("short");
  if (bytes.substr(0, kMagic.size()) != kMagic) return Status::Error("not a cache entry (magic)");
  if (GetU32(bytes.data() + 8) != kFormatVersion) return Status::Error("another format version");
  const uint64_t head_length = GetU32(bytes.data() + 12);
  if (head_length < kFixedHeadBytes || head_length > kMaxHeadBytes) return Status::Error("bad head length");
  if (bytes.size() < head_length) return Status::Error("short");
  std::string head(bytes.substr(0, head_length));
  const uint32_t crc = GetU32(head.data() + kCrcAt);
  SetU32(head, kCrcAt, 0);
  if (Crc32(head) != crc) return Status::Error("head checksum mismatch");

  const char* p = head.data();
  EntryHead out;
  out.head_length = head_length;
  out.body_length = GetU64(p + 16);
  out.body_crc = GetU32(p + 28);
  const uint32_t entry_flags = GetU32(p + 32);
  if ((entry_flags & ~1u) != 0) return Status::Error("unknown flags");
  out.written_ns = static_cast<int64_t>(GetU64(p + 36));
  auto object = std::make_shared<CachedObject>();
  object->vary_marker = (entry_flags & 1u) != 0;
  const uint32_t status = GetU32(p + 44);
  if (status < 100 || status > 999) return Status::Error("bad status");
  object->status = static_cast<int>(status);
  object->age.request_time = static_cast<int64_t>(GetU64(p + 48));
  object->age.response_time = static_cast<int64_t>(GetU64(p + 56));
  object->age.date_value = static_cast<int64_t>(GetU64(p + 64));
  object->age.age_value = static_cast<int64_t>(GetU64(p + 72));
  object->freshness.lifetime = static_cast<int64_t>(GetU64(p + 80));
  size_t at = 88;
  for (int64_t CacheControl::*number : kNumbers) {
    object->freshness.cc.*number = static_cast<int64_t>(GetU64(p + at));
    at += 8;
  }
  const uint32_t cc_flags = GetU32(p + at);
  if ((cc_flags >> std::size(kFlags)) != 0) return Status::Error("unknown Cache-Control flags");
  for (size_t i = 0; i < std::size(kFlags); ++i) object->freshness.cc.*kFlags[i] = (cc_flags >> i) & 1u;

  Reader reader(std::string_view(head).substr(kFixedHeadBytes));
  uint32_t fields = 0;
  if (!reader.String(object->key) || object->key.empty() || !reader.Strings(object->vary) ||
      !reader.Strings(object->tags) || !reader.U32(fields) || fields > kMaxListEntries) {
    return Status::Error("truncated head");
  }
  for (uint32_t i = 0; i < fields; ++i) {
    std::string name, value;
    if (!reader.String(name) || !reader.String(value) || name.empty()) return Status::Error("truncated head");
    object->headers.Add(std::move(name), std::move(value));
  }
  if (!reader.done()) return Status::Error("trailing bytes in head");
  if (object->vary_marker && out.body_length != 0) return Status::Error("a Vary marker with a body");
  out.object = std::move(object);
  return out;
}

}  // namespace sluice::cache::disk
