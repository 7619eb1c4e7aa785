#include "dataplane/sni/client_hello.h"

#include <cstdint>

namespace sluice::sni {
namespace {

constexpr uint8_t kHandshakeRecord = 22;
constexpr uint8_t kClientHello = 1;
constexpr size_t kRecordHeader = 5;
constexpr size_t kMaxRecordFragment = 16 * 1024;  // RFC 8446 5.1: 2^14
constexpr uint16_t kServerNameExtension = 0;
constexpr uint8_t kHostNameType = 0;

// A bounds-checked reader over one byte range.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool U8(uint8_t* out) {
    if (data_.size() < 1) return false;
    *out = static_cast<uint8_t>(data_[0]);
    data_.remove_prefix(1);
    return true;
  }
  bool U16(uint16_t* out) {
    if (data_.size() < 2) return false;
    *out = static_cast<uint16_t>(static_cast<uint8_t>(data_[0]) << 8 | static_cast<uint8_t>(data_[1]));
    data_.remove_prefix(2);
    return true;
  }
  bool Bytes(size_t n, std::string_view* out) {
    if (data_.size() < n) return false;
    *out = data_.substr(0, n);
    data_.remove_prefix(n);
    return true;
  }
  bool Skip(size_t n) {
    std::string_view ignored;
    return Bytes(n, &ignored);
  }
  // A vector with a `width`-byte length prefix (1 or 2).
  bool Vector(int width, std::string_view* out) {
    uint16_t length = 0;
    if (width == 1) {
      uint8_t short_length = 0;
      if (!U8(&short_length)) return false;
      length = short_length;
    } else if (!U16(&length)) {
      return false;
    }
    return Bytes(length, out);
  }
  bool empty() const { return data_.empty(); }

 private:
  std::string_view data_;
};

bool HostNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

// server_name extension data (RFC 6066 3): the first host_name entry.
Result ServerNameOf(std::string_view data) {
  Reader reader(data);
  std::string_view list;
  if (!reader.Vector(2, &list) || !reader.empty() || list.empty()) return {Status::kInvalid, {}};
  Reader entries(list);
  while (!entries.empty()) {
    uint8_t type = 0;
    std::string_view name;
    if (!entries.U8(&type) || !entries.Vector(2, &name)) return {Status::kInvalid, {}};
    if (type != kHostNameType) continue;
    std::string lower;
    lower.reserve(name.size());
    for (char c : name) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (!HostNameChar(c)) return {Status::kNoName, {}};
      lower.push_back(c);
    }
    if (!lower.empty() && lower.back() == '.') lower.pop_back();
    if (lower.empty() || lower.size() > 253 || lower.front() == '.') return {Status::kNoName, {}};
    return {Status::kFound, std::move(lower)};
  }
  return {Status::kNoName, {}};
}

// The ClientHello body (RFC 8446 4.1.2; TLS 1.0-1.2 have the same layout,
// extensions optional).
Result ParseBody(std::string_view body) {
  Reader reader(body);
  std::string_view ignored;
  uint16_t version = 0;
  if (!reader.U16(&version) || (version >> 8) != 3) return {Status::kInvalid, {}};
  if (!reader.Skip(32)) return {Status::kInvalid, {}};  // random
  if (!reader.Vector(1, &ignored) || ignored.size() > 32) return {Status::kInvalid, {}};  // session id
  if (!reader.Vector(2, &ignored) || ignored.size() < 2 || ignored.size() % 2 != 0) {
    return {Status::kInvalid, {}};  // cipher suites
  }
  if (!reader.Vector(1, &ignored) || ignored.empty()) return {Status::kInvalid, {}};  // compression methods
  if (reader.empty()) return {Status::kNoName, {}};  // no extensions (SSL 3 style)
  std::string_view extensions;
  if (!reader.Vector(2, &extensions) || !reader.empty()) return {Status::kInvalid, {}};
  Reader each(extensions);
  Result found{Status::kNoName, {}};
  bool seen = false;
  while (!each.empty()) {
    uint16_t type = 0;
    std::string_view data;
    if (!each.U16(&type) || !each.Vector(2, &data)) return {Status::kInvalid, {}};
    if (type != kServerNameExtension) continue;
    // A repeated extension is a decode error for every TLS library; which
    // name would the backend see?
    if (seen) return {Status::kInvalid, {}};
    seen = true;
    found = ServerNameOf(data);
    if (found.status == Status::kInvalid) return found;
  }
  return found;
}

}  // namespace

Result ParseClientHello(std::string_view bytes) {
  // Reassembles the handshake message from consecutive handshake records.
  // The common case (one record holding the whole message) is parsed in
  // place; `joined` is used only when the message spans records.
  std::string joined;
  std::string_view first_fragment;
  size_t records = 0;
  size_t offset = 0;
  while (true) {
    std::string_view message = records <= 1 ? first_fragment : std::string_view(joined);
    if (message.size() >= 4) {
      if (static_cast<uint8_t>(message[0]) != kClientHello) return {Status::kInvalid, {}};
      size_t length = static_cast<size_t>(static_cast<uint8_t>(message[1])) << 16 |
                      static_cast<size_t>(static_cast<uint8_t>(message[2])) << 8 |
                      static_cast<uint8_t>(message[3]);
      if (length + 4 > kMaxClientHelloLength) return {Status::kTooLarge, {}};
      // Bytes after the message in its last record (a second handshake
      // message) are not the ClientHello's; ignore them.
      if (message.size() >= length + 4) return ParseBody(message.substr(4, length));
    }
    if (offset >= kMaxClientHelloInput) return {Status::kTooLarge, {}};
    if (bytes.size() - offset < kRecordHeader) {
      // What is there must still look like the start of a record header.
      if (offset < bytes.size() && static_cast<uint8_t>(bytes[offset]) != kHandshakeRecord) {
        return {records == 0 ? Status::kNotTls : Status::kInvalid, {}};
      }
      if (bytes.size() - offset >= 2 && static_cast<uint8_t>(bytes[offset + 1]) != 3) {
        return {records == 0 ? Status::kNotTls : Status::kInvalid, {}};
      }
      return {Status::kNeedMore, {}};
    }
    const uint8_t type = static_cast<uint8_t>(bytes[offset]);
    const uint8_t major = static_cast<uint8_t>(bytes[offset + 1]);
    const size_t length = static_cast<size_t>(static_cast<uint8_t>(bytes[offset + 3])) << 8 |
                          static_cast<uint8_t>(bytes[offset + 4]);
    if (type != kHandshakeRecord || major != 3) return {records == 0 ? Status::kNotTls : Status::kInvalid, {}};
    if (length == 0 || length > kMaxRecordFragment) return {Status::kInvalid, {}};
    if (bytes.size() - offset - kRecordHeader < length) return {Status::kNeedMore, {}};
    std::string_view fragment = bytes.substr(offset + kRecordHeader, length);
    offset += kRecordHeader + length;
    ++records;
    if (records == 1) {
      first_fragment = fragment;
    } else {
      if (records == 2) joined.assign(first_fragment);
      joined.append(fragment);
    }
  }
}

const char* StatusName(Status status) {
  switch (status) {
    case Status::kNeedMore: return "need_more";
    case Status::kFound: return "found";
    case Status::kNoName: return "no_name";
    case Status::kNotTls: return "not_tls";
    case Status::kInvalid: return "invalid";
    case Status::kTooLarge: return "too_large";
  }
  return "unknown";
}

}  // namespace sluice::sni
