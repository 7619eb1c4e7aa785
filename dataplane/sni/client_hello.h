#pragma once
// The server name (SNI) of a TLS ClientHello, read from the raw bytes a
// client sent before any TLS library saw them: TLS passthrough decides from
// it whether to terminate the connection or splice it to a backend. The
// bytes are untrusted (test/fuzz/sni_fuzzer.cc).
//
// Pure: no I/O, no allocation beyond the result and, when the ClientHello
// spans several records, one copy of the handshake bytes. The caller peeks
// (MSG_PEEK) whatever the socket holds, up to kMaxClientHelloInput bytes, and
// calls again when more arrive (kNeedMore); nothing is consumed, so a
// connection that is not passed through is handed to the TLS library with
// every byte still queued.
//
// A ClientHello may be split over several TCP segments (kNeedMore until the
// rest arrives) and over several TLS records (the handshake message is
// reassembled from consecutive handshake records). Bounded: a handshake
// message longer than kMaxClientHelloLength, or input that has not yielded
// one within kMaxClientHelloInput bytes (tiny records), is kTooLarge.
#include <cstddef>
#include <string>
#include <string_view>

namespace sluice::sni {

// 16 KiB: OpenSSL's own ClientHello limit is larger (SSL3_RT_MAX_PLAIN_LENGTH
// per record, messages up to 100 KiB+), but real ClientHellos are under 2 KiB
// (about 1.8 KiB with a post-quantum key share); anything longer is passed
// to the TLS library as it is, never through.
constexpr size_t kMaxClientHelloLength = 16 * 1024;
// The most the caller needs to peek: the message plus the headers of the
// records carrying it, when they are not absurdly small.
constexpr size_t kMaxClientHelloInput = 2 * kMaxClientHelloLength;

enum class Status {
  kNeedMore,   // a prefix of a plausible ClientHello: peek again when more bytes arrive
  kFound,      // a complete ClientHello with a host_name: `server_name`
  kNoName,     // a complete ClientHello without a (valid) host_name
  kNotTls,     // the bytes do not start a TLS handshake record
  kInvalid,    // malformed records or ClientHello
  kTooLarge,   // over the bounds above
};

struct Result {
  Status status = Status::kNeedMore;
  // kFound: the host_name, lower case, without a trailing dot; letters,
  // digits, '-', '_' and '.', at most 253 bytes (else kNoName: such a name
  // can never name a host of the snapshot).
  std::string server_name;
};

// `bytes` is everything the client has sent so far (from the first byte).
Result ParseClientHello(std::string_view bytes);

const char* StatusName(Status status);

}  // namespace sluice::sni
