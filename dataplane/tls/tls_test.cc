// TLS contexts and the transport, in process over socketpairs: what a
// client sees (certificate chosen by SNI, ALPN, resumption, records read
// through) with OpenSSL's own client on the other end.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>

#include "dataplane/tls/client_context.h"
#include "dataplane/tls/server_config.h"
#include "dataplane/tls/ticket_keys.h"
#include "dataplane/tls/tls_transport.h"

namespace sluice::tls {
namespace {

// A self-signed certificate valid from now+not_before_s to now+not_after_s.
PemPair MakeCertificate(const std::string& cn, long not_before_s = -3600, long not_after_s = 86400) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), not_before_s);
  X509_gmtime_adj(X509_getm_notAfter(cert), not_after_s);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_sign(cert, key, EVP_sha256());
  PemPair out;
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data;
  long n = BIO_get_mem_data(bio, &data);
  out.chain.assign(data, n);
  BIO_free(bio);
  bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  n = BIO_get_mem_data(bio, &data);
  out.key.assign(data, n);
  BIO_free(bio);
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

CertificateInput Input(const std::string& name, std::vector<std::string> sni, const PemPair& pem) {
  return CertificateInput{name, std::move(sni), pem.chain, pem.key};
}

struct Pair {
  int server = -1, client = -1;
  Pair() {
    int fds[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds);
    server = fds[0];
    client = fds[1];
  }
  ~Pair() {
    close(server);
    close(client);
  }
};

struct ClientResult {
  bool ok = false;
  std::string subject_cn;
  std::string alpn;
  bool resumed = false;
  std::shared_ptr<SSL_SESSION> session;
};

// One full handshake between `config` and an OpenSSL client, both driven
// from this thread. `session`: offer it for resumption.
ClientResult Handshake(const ServerConfig& config, const char* sni, const std::string& alpn_wire,
                       SSL_SESSION* session = nullptr, int max_version = TLS1_3_VERSION,
                       std::unique_ptr<TlsTransport>* server_out = nullptr, SSL** client_out = nullptr) {
  static SSL_CTX* client_ctx = [] {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    return ctx;
  }();
  SSL_CTX_set_max_proto_version(client_ctx, max_version);
  static std::unique_ptr<Pair> keep;  // the pair outlives the call when the caller keeps the ends
  auto pair = std::make_unique<Pair>();
  auto server = std::make_unique<TlsTransport>(config.NewSsl(pair->server), pair->server);
  SSL* client = SSL_new(client_ctx);
  SSL_set_fd(client, pair->client);
  if (sni) SSL_set_tlsext_host_name(client, sni);
  if (!alpn_wire.empty()) {
    SSL_set_alpn_protos(client, reinterpret_cast<const unsigned char*>(alpn_wire.data()), alpn_wire.size());
  }
  if (session) SSL_set_session(client, session);
  ClientResult result;
  bool server_done = false, client_done = false;
  for (int i = 0; i < 100 && !(server_done && client_done); ++i) {
    if (!client_done) {
      int rc = SSL_connect(client);
      if (rc == 1) client_done = true;
      else if (SSL_get_error(client, rc) != SSL_ERROR_WANT_READ) break;
    }
    if (!server_done) {
      auto step = server->Handshake();
      if (step == TlsTransport::HandshakeResult::kDone) server_done = true;
      if (step == TlsTransport::HandshakeResult::kFailed) break;
    }
  }
  result.ok = server_done && client_done;
  if (result.ok) {
    // TLS 1.3 tickets come after the handshake: read them on the client.
    char byte;
    SSL_read(client, &byte, 1);
    X509* peer = SSL_get1_peer_certificate(client);
    char cn[256] = {0};
    if (peer) X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn - 1);
    X509_free(peer);
    result.subject_cn = cn;
    result.alpn = std::string(server->alpn());
    result.resumed = server->resumed();
    result.session = std::shared_ptr<SSL_SESSION>(SSL_get1_session(client), SSL_SESSION_free);
  }
  if (server_out && client_out) {
    *server_out = std::move(server);
    *client_out = client;
    keep = std::move(pair);  // kept for the caller's use (one per test)
    return result;
  }
  if (result.ok) SSL_shutdown(client);  // a session is resumable only after a proper close
  SSL_free(client);
  return result;
}

std::shared_ptr<ServerContext> Context(const PemPair& pem) {
  auto context = NewServerContext(pem.chain, pem.key);
  EXPECT_TRUE(context.ok()) << context.status().message();
  return *context;
}

TEST(ServerConfigTest, SniPicksExactThenWildcardThenDefault) {
  std::vector<CertificateProblem> problems;
  auto config = ServerConfig::Build({Input("ns/exact", {"a.example.com"}, MakeCertificate("exact")),
                                     Input("ns/wild", {"*.example.com"}, MakeCertificate("wild"))},
                                    nullptr, Context(MakeCertificate("generated")), &problems);
  EXPECT_TRUE(problems.empty());
  EXPECT_EQ(Handshake(*config, "a.example.com", "").subject_cn, "exact");
  EXPECT_EQ(Handshake(*config, "A.Example.COM", "").subject_cn, "exact");
  EXPECT_EQ(Handshake(*config, "b.example.com", "").subject_cn, "wild");
  EXPECT_EQ(Handshake(*config, "x.b.example.com", "").subject_cn, "generated");  // one label only
  EXPECT_EQ(Handshake(*config, "example.com", "").subject_cn, "generated");
  EXPECT_EQ(Handshake(*config, nullptr, "").subject_cn, "generated");
}

TEST(ServerConfigTest, DefaultIsFlagThenSnapshotWithoutNamesThenGenerated) {
  auto snapshot_default = Input("ns/fallback", {}, MakeCertificate("snapshot-default"));
  auto config = ServerConfig::Build({snapshot_default}, nullptr, Context(MakeCertificate("generated")), nullptr);
  EXPECT_EQ(Handshake(*config, "other.test", "").subject_cn, "snapshot-default");
  config = ServerConfig::Build({snapshot_default}, Context(MakeCertificate("flag")),
                               Context(MakeCertificate("generated")), nullptr);
  EXPECT_EQ(Handshake(*config, "other.test", "").subject_cn, "flag");
}

TEST(ServerConfigTest, BadCertificatesAreReportedOneByOneAndTheRestServe) {
  PemPair good = MakeCertificate("good");
  PemPair other = MakeCertificate("other");
  PemPair mismatched{good.chain, other.key};
  std::vector<CertificateProblem> problems;
  auto config = ServerConfig::Build(
      {Input("ns/good", {"good.test"}, good), Input("ns/mismatch", {"mismatch.test"}, mismatched),
       Input("ns/expired", {"expired.test"}, MakeCertificate("expired", -7200, -3600)),
       Input("ns/future", {"future.test"}, MakeCertificate("future", 3600, 7200)),
       Input("ns/garbage", {"garbage.test"}, PemPair{"not a certificate", "nor a key"})},
      nullptr, Context(MakeCertificate("generated")), &problems);
  ASSERT_EQ(problems.size(), 4u);
  EXPECT_EQ(problems[0].name, "ns/mismatch");
  EXPECT_NE(problems[0].message.find("does not match"), std::string::npos) << problems[0].message;
  EXPECT_EQ(problems[1].name, "ns/expired");
  EXPECT_NE(problems[1].message.find("expired"), std::string::npos);
  EXPECT_EQ(problems[2].name, "ns/future");
  EXPECT_NE(problems[2].message.find("not valid yet"), std::string::npos);
  EXPECT_EQ(problems[3].name, "ns/garbage");
  EXPECT_EQ(Handshake(*config, "good.test", "").subject_cn, "good");
  EXPECT_EQ(Handshake(*config, "mismatch.test", "").subject_cn, "generated");
}

TEST(ServerConfigTest, AlpnHttp11ByServerPreferenceAndNoneWithoutAlpn) {
  auto config = ServerConfig::Build({}, nullptr, Context(MakeCertificate("generated")), nullptr);
  std::string h2_and_h1("\x02h2\x08http/1.1", 12);
  EXPECT_EQ(Handshake(*config, nullptr, h2_and_h1).alpn, kOfferH2 ? "h2" : "http/1.1");
  EXPECT_EQ(Handshake(*config, nullptr, std::string("\x08http/1.1", 9)).alpn, "http/1.1");
  ClientResult none = Handshake(*config, nullptr, "");
  EXPECT_TRUE(none.ok);
  EXPECT_EQ(none.alpn, "");
  ClientResult unknown = Handshake(*config, nullptr, std::string("\x06spdy/3", 7));
  EXPECT_TRUE(unknown.ok);  // no common protocol: no ALPN, HTTP/1.1
  EXPECT_EQ(unknown.alpn, "");
}

TEST(ServerConfigTest, TicketsResumeAcrossConfigsAndOnePreviousKey) {
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    SCOPED_TRACE(version);
    PemPair pem = MakeCertificate("resume");
    auto first = ServerConfig::Build({}, nullptr, Context(pem), nullptr);
    ClientResult full = Handshake(*first, "r.test", "", nullptr, version);
    ASSERT_TRUE(full.ok);
    EXPECT_FALSE(full.resumed);
    EXPECT_EQ(SSL_SESSION_has_ticket(full.session.get()), 1);
    EXPECT_EQ(SSL_SESSION_is_resumable(full.session.get()), 1);
    // Another config (a new snapshot) with the same certificate: the shared
    // key ring still opens the ticket.
    auto second = ServerConfig::Build({}, nullptr, Context(pem), nullptr);
    ClientResult resumed = Handshake(*second, "r.test", "", full.session.get(), version);
    EXPECT_TRUE(resumed.resumed);
    TicketKeyRing::Instance().Rotate();
    ClientResult after_one = Handshake(*second, "r.test", "", full.session.get(), version);
    EXPECT_TRUE(after_one.resumed);  // the previous key still decrypts
    TicketKeyRing::Instance().Rotate();
    ClientResult after_two = Handshake(*second, "r.test", "", full.session.get(), version);
    EXPECT_TRUE(after_two.ok);
    EXPECT_FALSE(after_two.resumed);  // retired: a full handshake
  }
}

std::string TicketOf(SSL_SESSION* session) {
  const unsigned char* ticket = nullptr;
  size_t length = 0;
  SSL_SESSION_get0_ticket(session, &ticket, &length);
  return std::string(reinterpret_cast<const char*>(ticket), length);
}

TEST(ServerConfigTest, Tls13ResumptionHandsOutAFreshTicketThatResumesToo) {
  // Clients that use each TLS 1.3 ticket once (as RFC 8446 recommends and
  // browsers do) keep resuming only if every resumption brings a new one.
  auto config = ServerConfig::Build({}, nullptr, Context(MakeCertificate("fresh")), nullptr);
  ClientResult full = Handshake(*config, nullptr, "", nullptr, TLS1_3_VERSION);
  ASSERT_TRUE(full.ok);
  ClientResult second = Handshake(*config, nullptr, "", full.session.get(), TLS1_3_VERSION);
  ASSERT_TRUE(second.resumed);
  std::string first_ticket = TicketOf(full.session.get());
  std::string second_ticket = TicketOf(second.session.get());
  ASSERT_FALSE(second_ticket.empty());
  EXPECT_NE(second_ticket, first_ticket);
  ClientResult third = Handshake(*config, nullptr, "", second.session.get(), TLS1_3_VERSION);
  EXPECT_TRUE(third.resumed);
}

TEST(TlsTransportTest, DataSentWithTheClientFinishedIsReadAfterTheHandshake) {
  // The server reads ahead, so a request that arrives behind the client's
  // Finished sits inside OpenSSL once the handshake is done, and the socket
  // raises no new edge: Read() must still hand it over.
  auto config = ServerConfig::Build({}, nullptr, Context(MakeCertificate("ahead")), nullptr);
  Pair pair;
  TlsTransport server(config->NewSsl(pair.server), pair.server);
  SSL_CTX* client_ctx = SSL_CTX_new(TLS_client_method());
  SSL* client = SSL_new(client_ctx);
  SSL_set_fd(client, pair.client);
  bool client_done = false;
  for (int i = 0; i < 100 && !client_done; ++i) {
    int rc = SSL_connect(client);
    if (rc == 1) {
      client_done = true;
    } else {
      ASSERT_EQ(SSL_get_error(client, rc), SSL_ERROR_WANT_READ);
    }
    if (!client_done) {
      ASSERT_NE(server.Handshake(), TlsTransport::HandshakeResult::kFailed);
    }
  }
  ASSERT_TRUE(client_done);
  ASSERT_EQ(SSL_write(client, "GET / HTTP/1.1\r\n", 16), 16);
  TlsTransport::HandshakeResult step = TlsTransport::HandshakeResult::kWantIo;
  for (int i = 0; i < 10 && step == TlsTransport::HandshakeResult::kWantIo; ++i) step = server.Handshake();
  ASSERT_EQ(step, TlsTransport::HandshakeResult::kDone);
  char buffer[64];
  EXPECT_EQ(recv(pair.server, buffer, sizeof buffer, MSG_PEEK), -1);  // already inside OpenSSL
  EXPECT_EQ(server.Read(buffer, sizeof buffer), 16);
  EXPECT_EQ(std::string(buffer, 16), "GET / HTTP/1.1\r\n");
  EXPECT_EQ(server.Read(buffer, sizeof buffer), -1);
  EXPECT_EQ(errno, EAGAIN);
  SSL_free(client);
  SSL_CTX_free(client_ctx);
}

TEST(TlsTransportTest, ReadReturnsEveryBufferedRecordThenEagain) {
  auto config = ServerConfig::Build({}, nullptr, Context(MakeCertificate("io")), nullptr);
  std::unique_ptr<TlsTransport> server;
  SSL* client = nullptr;
  ClientResult hs = Handshake(*config, nullptr, "", nullptr, TLS1_3_VERSION, &server, &client);
  ASSERT_TRUE(hs.ok);
  std::string record(10000, 'x');
  for (int i = 0; i < 3; ++i) ASSERT_EQ(SSL_write(client, record.data(), record.size()), 10000);
  std::string buffer(64 * 1024, '\0');
  // One call returns all three records: a short read means the socket is
  // drained, as with recv(), so edge-triggered callers do not stall.
  ssize_t n = server->Read(buffer.data(), buffer.size());
  EXPECT_EQ(n, 30000);
  n = server->Read(buffer.data(), buffer.size());
  EXPECT_EQ(n, -1);
  EXPECT_EQ(errno, EAGAIN);
  // Writes come out the other end; the clean close is an EOF (0).
  ASSERT_EQ(server->Write("hello", 5), 5);
  char got[16] = {0};
  ASSERT_EQ(SSL_read(client, got, sizeof got), 5);
  EXPECT_EQ(std::string(got, 5), "hello");
  SSL_shutdown(client);
  EXPECT_EQ(server->Read(buffer.data(), buffer.size()), 0);
  SSL_free(client);
}

TEST(TlsTransportTest, OldProtocolVersionsAreRefused) {
  auto config = ServerConfig::Build({}, nullptr, Context(MakeCertificate("old")), nullptr);
  EXPECT_FALSE(Handshake(*config, nullptr, "", nullptr, TLS1_1_VERSION).ok);
  EXPECT_TRUE(Handshake(*config, nullptr, "", nullptr, TLS1_2_VERSION).ok);
}

TEST(ClientContextTest, SameSettingsShareOneContextAndIdentityDiffers) {
  ClientSettings a;
  a.server_name = "backend.test";
  auto first = ClientContext::Get(a);
  auto again = ClientContext::Get(a);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->get(), again->get());
  ClientSettings b = a;
  b.verify = true;
  auto verifying = ClientContext::Get(b);
  ASSERT_TRUE(verifying.ok());
  EXPECT_NE((*verifying)->identity(), (*first)->identity());
}

}  // namespace
}  // namespace sluice::tls
