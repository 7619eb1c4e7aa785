#include "dataplane/sni/client_hello.h"

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <string>

#include "gtest/gtest.h"

namespace sluice::sni {
namespace {

// The ClientHello OpenSSL really sends as a client: a client SSL over a
// memory BIO, SSL_connect once, and the bytes it wrote. `max_version` 0:
// OpenSSL's default (TLS 1.3 with its key shares).
std::string RealClientHello(const char* server_name, int max_version = 0, bool with_alpn = false) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (max_version != 0) SSL_CTX_set_max_proto_version(ctx, max_version);
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
  if (server_name != nullptr) SSL_set_tlsext_host_name(ssl, server_name);
  if (with_alpn) {
    static const unsigned char kAlpn[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_set_alpn_protos(ssl, kAlpn, sizeof kAlpn);
  }
  SSL_connect(ssl);  // wants to read the ServerHello: the ClientHello is written
  char* data = nullptr;
  long length = BIO_get_mem_data(out, &data);
  std::string hello(data, static_cast<size_t>(length));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return hello;
}

// Splits one handshake record into records of at most `chunk` fragment bytes
// (a client is free to do so; some middleboxes do).
std::string Rerecord(const std::string& hello, size_t chunk) {
  std::string message = hello.substr(5);
  std::string out;
  for (size_t at = 0; at < message.size(); at += chunk) {
    std::string fragment = message.substr(at, chunk);
    out.push_back(22);
    out.push_back(3);
    out.push_back(1);
    out.push_back(static_cast<char>(fragment.size() >> 8));
    out.push_back(static_cast<char>(fragment.size() & 0xff));
    out += fragment;
  }
  return out;
}

TEST(ClientHello, OpenSslTls13) {
  std::string hello = RealClientHello("Backend.Example.com");
  ASSERT_GT(hello.size(), 100u);
  Result result = ParseClientHello(hello);
  EXPECT_EQ(result.status, Status::kFound) << StatusName(result.status);
  EXPECT_EQ(result.server_name, "backend.example.com");
}

TEST(ClientHello, OpenSslTls12WithAlpn) {
  Result result = ParseClientHello(RealClientHello("a.test", TLS1_2_VERSION, /*with_alpn=*/true));
  EXPECT_EQ(result.status, Status::kFound);
  EXPECT_EQ(result.server_name, "a.test");
}

TEST(ClientHello, NoServerName) {
  EXPECT_EQ(ParseClientHello(RealClientHello(nullptr)).status, Status::kNoName);
}

TEST(ClientHello, EveryPrefixNeedsMore) {
  std::string hello = RealClientHello("split.example.com");
  for (size_t n = 0; n < hello.size(); ++n) {
    ASSERT_EQ(ParseClientHello(hello.substr(0, n)).status, Status::kNeedMore) << n;
  }
  // Whatever follows the ClientHello (early data, a second record) is not looked at.
  EXPECT_EQ(ParseClientHello(hello + "\x17\x03\x03garbage").server_name, "split.example.com");
}

TEST(ClientHello, SplitOverRecords) {
  std::string hello = RealClientHello("records.example.com");
  for (size_t chunk : {1u, 7u, 64u, 300u}) {
    std::string split = Rerecord(hello, chunk);
    Result result = ParseClientHello(split);
    if (chunk == 1) {
      // 6 bytes of input per message byte: over kMaxClientHelloInput only for
      // messages longer than ~5.4 KiB; this one is not.
      ASSERT_LT(split.size(), kMaxClientHelloInput);
    }
    EXPECT_EQ(result.status, Status::kFound) << chunk;
    EXPECT_EQ(result.server_name, "records.example.com");
    for (size_t n = 0; n < split.size(); n += 13) {
      ASSERT_EQ(ParseClientHello(split.substr(0, n)).status, Status::kNeedMore) << chunk << " " << n;
    }
  }
}

TEST(ClientHello, NotTls) {
  EXPECT_EQ(ParseClientHello("GET / HTTP/1.1\r\n").status, Status::kNotTls);
  EXPECT_EQ(ParseClientHello("G").status, Status::kNotTls);
  EXPECT_EQ(ParseClientHello(std::string("\x16\x01", 2)).status, Status::kNotTls);
  EXPECT_EQ(ParseClientHello("").status, Status::kNeedMore);
}

TEST(ClientHello, TooLargeMessage) {
  // A handshake header announcing 1 MiB.
  std::string record("\x16\x03\x01\x00\x04\x01\x10\x00\x00", 9);
  EXPECT_EQ(ParseClientHello(record).status, Status::kTooLarge);
}

TEST(ClientHello, TinyRecordsAreBounded) {
  // Records of one byte each never complete within the input bound.
  std::string message("\x01\x00\x3f\xf0", 4);  // announces 16368 bytes
  message.resize(4 + 0x3ff0, 'x');
  std::string split = Rerecord(std::string(5, '\0') + message, 1);
  EXPECT_EQ(ParseClientHello(split).status, Status::kTooLarge);
}

TEST(ClientHello, Malformed) {
  std::string hello = RealClientHello("m.example.com");
  // Not a ClientHello (a ServerHello type).
  std::string wrong = hello;
  wrong[5] = 2;
  EXPECT_EQ(ParseClientHello(wrong).status, Status::kInvalid);
  // An empty record.
  EXPECT_EQ(ParseClientHello(std::string("\x16\x03\x01\x00\x00", 5)).status, Status::kInvalid);
  // A non-handshake record after the first one, before the message is complete.
  std::string split = Rerecord(hello, 50);
  split[55] = 21;  // alert
  EXPECT_EQ(ParseClientHello(split).status, Status::kInvalid);
  // The message's length disagrees with its contents (one byte too short).
  std::string shortened = hello;
  shortened[8] = static_cast<char>(static_cast<uint8_t>(shortened[8]) - 1);
  EXPECT_EQ(ParseClientHello(shortened).status, Status::kInvalid);
}

TEST(ClientHello, NamesThatCannotBeHostsAreNotNames) {
  for (const char* name : {"bad name.example", "a\x01.b", ".leading.dot"}) {
    Result result = ParseClientHello(RealClientHello(name));
    EXPECT_EQ(result.status, Status::kNoName) << name;
  }
  EXPECT_EQ(ParseClientHello(RealClientHello("trailing.dot.")).server_name, "trailing.dot");
}

}  // namespace
}  // namespace sluice::sni
