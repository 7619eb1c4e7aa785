// gRPC end to end with real processes on loopback: a grpc++ client (the
// generated stub, in process) -> sluice-proxy (HTTP/2 downstream, over h2c
// prior knowledge and over TLS with ALPN h2) -> the grpc++ Echo server
// (test/grpc, `sluice.io/backend-protocol: grpc`, and `grpcs` for a TLS
// backend), configured by sluice-controller from a folder of manifests.
// Every test runs over both downstream transports.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "test/grpc/echo.grpc.pb.h"
#include "test/support/certificate.h"
#include "test/support/http_client.h"
#include "test/support/manifests.h"
#include "test/support/process.h"
#include "test/support/sluice_cluster.h"

namespace sluice {
namespace {

using Clock = std::chrono::steady_clock;
using grpctest::Echo;
using grpctest::Msg;
using testing::Process;

constexpr int kMaxMessageBytes = 64 * 1024 * 1024;

std::string ServiceAndSlice(const std::string& name, int port) {
  return testing::ServiceAndSlice(name, "grpc", port) + "---\n";
}

// An Ingress for `host` with TLS from the shared secret. ssl-redirect off,
// so the same host also answers on the plaintext (h2c) listener.
std::string GrpcIngress(const std::string& name, const std::string& host, const std::string& service,
                        const std::string& protocol, const std::string& more_annotations = "") {
  return "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " + name +
         "\n  namespace: grpc\n  annotations:\n    sluice.io/backend-protocol: " + protocol +
         "\n    sluice.io/ssl-redirect: \"false\"\n" + more_annotations + "spec:\n  ingressClassName: sluice\n  tls:\n    - {hosts: [" + host +
         "], secretName: grpc-tls}\n  rules:\n    - host: " + host +
         "\n      http:\n        paths:\n          - {path: /, pathType: Prefix, backend: {service: {name: " + service +
         ", port: {number: 80}}}}\n---\n";
}

// Processes shared by every test: starting them per test would cost more
// than the tests themselves.
struct Environment {
  std::string cert_pem;  // the proxy's certificate, also the client's trust root
  int backend_port = 0, tls_backend_port = 0, down_port = 0, restart_port = 0;
  std::unique_ptr<Process> backend, tls_backend, restart_backend;
  // After the backends, so that the proxy and the controller stop first.
  testing::SluiceCluster cluster{{.name = "grpc_e2e", .workers = 1, .https = true, .access_log = "off"}};
  bool ready = false;  // every process up and the first snapshot applied

  std::string Logs() const { return cluster.Logs() + "--- backend.log\n" + cluster.Read("backend.log"); }
};

Environment* env = nullptr;

enum class Downstream { kH2c, kTls };

class GrpcEndToEndTest : public ::testing::TestWithParam<Downstream> {
 protected:
  static void SetUpTestSuite() {
    env = new Environment();
    const std::string& dir = env->cluster.dir();
    // One certificate for every host: the proxy serves it (from a
    // kubernetes.io/tls Secret), the TLS backend too, and the client trusts it.
    testing::Pem pem = testing::MakeSelfSignedCertificate(
        dir, "tls", "grpc.test",
        {"grpc.test", "grpcs.test", "down.test", "restart.test", "impatient.test", "empty.test", "nowhere.test"});
    env->cert_pem = pem.cert;
    ASSERT_FALSE(env->cert_pem.empty()) << pem.openssl_output;

    env->backend_port = testing::FreePort();
    env->tls_backend_port = testing::FreePort();
    env->down_port = testing::FreePort();  // nothing listens there
    env->restart_port = testing::FreePort();
    std::string echo = testing::RunfilePath("test/grpc/sluice-grpc-echo");
    env->backend = env->cluster.StartLogged({echo, "--listen", "127.0.0.1:" + std::to_string(env->backend_port)},
                                            "backend.log");
    env->tls_backend = env->cluster.StartLogged({echo, "--listen", "127.0.0.1:" + std::to_string(env->tls_backend_port),
                                                 "--tls-cert", dir + "/tls.crt", "--tls-key", dir + "/tls.key"},
                                                "tls_backend.log");
    StartRestartBackend();

    std::string manifests =
        "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: sluice}\n"
        "spec: {controller: sluice.io/ingress-controller}\n---\n" +
        testing::TlsSecret("grpc-tls", "grpc", pem.cert, pem.key) + "---\n" +
        ServiceAndSlice("echo", env->backend_port) + ServiceAndSlice("echo-tls", env->tls_backend_port) +
        ServiceAndSlice("down", env->down_port) + ServiceAndSlice("restart", env->restart_port) +
        // A Service without endpoints: no EndpointSlice at all.
        "apiVersion: v1\nkind: Service\nmetadata: {name: empty, namespace: grpc}\nspec:\n  ports: [{port: 80, "
        "protocol: TCP}]\n---\n" +
        GrpcIngress("empty", "empty.test", "empty", "grpc") +
        // The certificate for nowhere.test, a host no rule routes (the TLS
        // handshake must succeed for the client to see the proxy's 404).
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: nowhere-tls, namespace: grpc}\n"
        "spec:\n  ingressClassName: sluice\n  tls:\n    - {hosts: [nowhere.test], secretName: grpc-tls}\n"
        "  rules:\n    - host: cert-only.test\n      http:\n        paths:\n          - {path: /, pathType: Prefix, "
        "backend: {service: {name: echo, port: {number: 80}}}}\n---\n" +
        GrpcIngress("restart", "restart.test", "restart", "grpc") +
        GrpcIngress("impatient", "impatient.test", "echo", "grpc", "    sluice.io/proxy-read-timeout: \"1s\"\n") + GrpcIngress("echo", "grpc.test", "echo", "grpc") +
        GrpcIngress("echo-tls", "grpcs.test", "echo-tls", "grpcs") + GrpcIngress("down", "down.test", "down", "grpc");
    env->cluster.WriteManifest("all.yaml", manifests);

    env->cluster.Start();
    ASSERT_TRUE(testing::WaitForPort(env->backend_port)) << env->Logs();
    ASSERT_TRUE(testing::WaitForPort(env->tls_backend_port)) << env->cluster.Read("tls_backend.log");
    ASSERT_TRUE(env->cluster.WaitReady(std::chrono::seconds(20))) << env->Logs();
    env->ready = true;
  }

  // The backend of restart.test, which one test stops and starts again.
  static void StartRestartBackend() {
    env->restart_backend = env->cluster.StartLogged({testing::RunfilePath("test/grpc/sluice-grpc-echo"), "--listen",
                                                     "127.0.0.1:" + std::to_string(env->restart_port)},
                                                    "restart_backend.log");
  }

  static void TearDownTestSuite() {
    delete env;
    env = nullptr;
  }

  void SetUp() override {
    if (env == nullptr || !env->ready) GTEST_FAIL() << "the processes did not start (see above)";
  }

  void TearDown() override {
    if (HasFailure() && env != nullptr) std::cerr << env->Logs();
  }

  // A channel of its own (own connection) to `host` through the proxy, over
  // the downstream transport under test.
  std::shared_ptr<grpc::Channel> Channel(const std::string& host) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetMaxReceiveMessageSize(kMaxMessageBytes);
    args.SetMaxSendMessageSize(kMaxMessageBytes);
    args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, host);  // what the proxy routes on
    if (GetParam() == Downstream::kH2c) {
      return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(env->cluster.http_port()),
                                       grpc::InsecureChannelCredentials(), args);
    }
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = env->cert_pem;
    args.SetSslTargetNameOverride(host);  // SNI and the name checked against the certificate
    return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(env->cluster.https_port()),
                                     grpc::SslCredentials(ssl), args);
  }

  std::unique_ptr<Echo::Stub> Stub(const std::string& host = "grpc.test") { return Echo::NewStub(Channel(host)); }

  static void Deadline(grpc::ClientContext& context, std::chrono::milliseconds limit) {
    context.set_deadline(std::chrono::system_clock::now() + limit);
  }

  std::string ExpectedProto() const { return GetParam() == Downstream::kH2c ? "http" : "https"; }

  // How many calls the plaintext backend has seen cancelled so far.
  int64_t BackendCancelledCalls(Echo::Stub& stub) {
    grpc::ClientContext context;
    Deadline(context, std::chrono::seconds(5));
    Msg request, reply;
    grpc::Status status = stub.Unary(&context, request, &reply);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return reply.cancelled_calls();
  }

  // Polls until the backend counts more than `before` cancelled calls.
  bool WaitForBackendCancellation(Echo::Stub& stub, int64_t before, std::chrono::milliseconds limit) {
    auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      if (BackendCancelledCalls(stub) > before) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
};

TEST_P(GrpcEndToEndTest, UnaryCallReachesTheBackendThroughTheProxy) {
  auto stub = Stub();
  grpc::ClientContext context;
  Deadline(context, std::chrono::seconds(5));
  Msg request, reply;
  request.set_text("hello over gRPC");
  grpc::Status status = stub->Unary(&context, request, &reply);
  ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  EXPECT_EQ(reply.text(), "hello over gRPC");
  EXPECT_EQ(reply.forwarded_proto(), ExpectedProto());  // the proxy's header: it went through sluice
  EXPECT_EQ(reply.authority(), "grpc.test");
}

TEST_P(GrpcEndToEndTest, ErrorStatusCodeAndMessageArriveFromTrailers) {
  auto stub = Stub();
  struct Case {
    grpc::StatusCode code;
    std::string message;
  };
  // grpc-message is percent-encoded on the wire: the proxy must pass it as is.
  for (const Case& c : {Case{grpc::StatusCode::NOT_FOUND, "no such thing"},
                        Case{grpc::StatusCode::PERMISSION_DENIED, "100% denied: caf\xc3\xa9 \xe2\x80\x94 closed"},
                        Case{grpc::StatusCode::RESOURCE_EXHAUSTED, "quota, try again later"},
                        Case{grpc::StatusCode::INTERNAL, ""}}) {
    grpc::ClientContext context;
    Deadline(context, std::chrono::seconds(5));
    Msg request, reply;
    request.set_fail_code(c.code);
    request.set_fail_message(c.message);
    grpc::Status status = stub->Unary(&context, request, &reply);
    EXPECT_EQ(status.error_code(), c.code) << status.error_message();
    EXPECT_EQ(status.error_message(), c.message);
  }
  // An error after streamed messages: the status comes in trailers that
  // follow DATA frames (not a trailers-only response).
  grpc::ClientContext context;
  Deadline(context, std::chrono::seconds(5));
  Msg request, reply;
  request.set_repeat(3);
  request.set_fail_code(grpc::StatusCode::ABORTED);
  request.set_fail_message("aborted after three");
  auto reader = stub->ServerStream(&context, request);
  int received = 0;
  while (reader->Read(&reply)) ++received;
  grpc::Status status = reader->Finish();
  EXPECT_EQ(received, 3);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(status.error_message(), "aborted after three");
}

// The x-echo-* metadata the client sees, "initial:" or "trailing:" prefixed.
std::map<std::string, std::string> EchoMetadataSeen(Echo::Stub& stub, bool fail) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  context.AddMetadata("x-echo-text", "some value");
  context.AddMetadata("x-echo-blob-bin", std::string("\x00\x01\xfe\xff binary", 11));
  Msg request, reply;
  if (fail) request.set_fail_code(grpc::StatusCode::UNAUTHENTICATED);
  grpc::Status status = stub.Unary(&context, request, &reply);
  EXPECT_EQ(status.error_code(), fail ? grpc::StatusCode::UNAUTHENTICATED : grpc::StatusCode::OK);
  std::map<std::string, std::string> seen;
  for (const auto& [where, metadata] : {std::pair{"initial:", &context.GetServerInitialMetadata()},
                                        std::pair{"trailing:", &context.GetServerTrailingMetadata()}}) {
    for (const auto& [key, value] : *metadata) {
      std::string name(key.data(), key.size());
      if (name.starts_with("x-echo-")) seen[where + name] = std::string(value.data(), value.size());
    }
  }
  return seen;
}

TEST_P(GrpcEndToEndTest, MetadataPassesBothWaysInHeadersAndTrailers) {
  auto stub = Stub();
  // Trailers after a message, then a trailers-only (error) response.
  std::map<std::string, std::string> expected_ok = {{"initial:x-echo-initial", "initial"},
                                                    {"trailing:x-echo-text", "some value"},
                                                    {"trailing:x-echo-blob-bin", std::string("\x00\x01\xfe\xff binary", 11)}};
  EXPECT_EQ(EchoMetadataSeen(*stub, false), expected_ok);
  // Where grpc puts initial metadata of a failed call is grpc's business:
  // through the proxy it must be what the client sees talking directly.
  auto direct = Echo::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(env->backend_port),
                                                  grpc::InsecureChannelCredentials()));
  std::map<std::string, std::string> direct_failed = EchoMetadataSeen(*direct, true);
  EXPECT_EQ(direct_failed.count("trailing:x-echo-text"), 1u);
  EXPECT_EQ(EchoMetadataSeen(*stub, true), direct_failed);
}

TEST_P(GrpcEndToEndTest, CompressedMessagesPassUntouched) {
  auto stub = Stub();
  grpc::ClientContext context;
  Deadline(context, std::chrono::seconds(10));
  context.set_compression_algorithm(GRPC_COMPRESS_GZIP);  // grpc-encoding: gzip, compressed-flag frames
  Msg request, reply;
  request.set_payload(std::string(256 * 1024, 'z'));
  grpc::Status status = stub->Unary(&context, request, &reply);
  ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  EXPECT_EQ(reply.payload(), request.payload());
}

TEST_P(GrpcEndToEndTest, ServerStreamingDeliversThousandMessagesInOrder) {
  auto stub = Stub();
  grpc::ClientContext context;
  Deadline(context, std::chrono::seconds(20));
  Msg request, reply;
  request.set_repeat(1000);
  request.set_payload(std::string(512, 'p'));
  auto reader = stub->ServerStream(&context, request);
  int64_t expected = 0;
  while (reader->Read(&reply)) {
    if (reply.seq() != expected || reply.payload().size() != 512) break;
    ++expected;
  }
  grpc::Status status = reader->Finish();
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  EXPECT_EQ(expected, 1000);
}

TEST_P(GrpcEndToEndTest, BidirectionalStreamingPingPongsHundredRounds) {
  auto stub = Stub();
  grpc::ClientContext context;
  Deadline(context, std::chrono::seconds(20));
  auto stream = stub->Bidi(&context);
  int rounds = 0;
  for (int i = 0; i < 100; ++i) {
    Msg ping, pong;
    ping.set_seq(i);
    ping.set_text("ping " + std::to_string(i));
    // Each reply must come back before the next message goes out: the proxy
    // may not hold either direction until the stream ends.
    if (!stream->Write(ping) || !stream->Read(&pong)) break;
    if (pong.seq() != i || pong.text() != ping.text()) break;
    ++rounds;
  }
  EXPECT_EQ(rounds, 100);
  EXPECT_TRUE(stream->WritesDone());
  Msg extra;
  EXPECT_FALSE(stream->Read(&extra));
  grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
}

TEST_P(GrpcEndToEndTest, BidirectionalStreamRepliesAfterTheClientHalfCloses) {
  auto stub = Stub();
  grpc::ClientContext context;
  Deadline(context, std::chrono::seconds(20));
  auto stream = stub->Bidi(&context);
  // All requests and the client's END_STREAM first; the replies still flow.
  int sent = 0;
  for (int i = 0; i < 50; ++i) {
    Msg ping;
    ping.set_seq(i);
    ping.set_payload(std::string(1000, 'x'));
    if (!stream->Write(ping)) break;
    ++sent;
  }
  EXPECT_EQ(sent, 50);
  EXPECT_TRUE(stream->WritesDone());
  int received = 0;
  Msg pong;
  while (received < 60 && stream->Read(&pong)) {
    if (pong.seq() != received) break;
    ++received;
  }
  EXPECT_EQ(received, 50);
  grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
}

TEST_P(GrpcEndToEndTest, BidirectionalStreamEndsWithTheServersErrorStatus) {
  auto stub = Stub();
  grpc::ClientContext context;
  Deadline(context, std::chrono::seconds(10));
  auto stream = stub->Bidi(&context);
  Msg ping, pong;
  ping.set_text("first");
  ASSERT_TRUE(stream->Write(ping));
  ASSERT_TRUE(stream->Read(&pong));
  ping.set_fail_code(grpc::StatusCode::FAILED_PRECONDITION);
  ping.set_fail_message("stop here");
  stream->Write(ping);
  EXPECT_FALSE(stream->Read(&pong));
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(), "stop here");
}

TEST_P(GrpcEndToEndTest, LargeMessagesCrossFlowControlWindows) {
  auto stub = Stub();
  // 4 MiB each way in one message: far above every HTTP/2 window on the path.
  std::string big(4 * 1024 * 1024, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131 + i / 4099) & 0xff);
  {
    grpc::ClientContext context;
    Deadline(context, std::chrono::seconds(30));
    Msg request, reply;
    request.set_payload(big);
    grpc::Status status = stub->Unary(&context, request, &reply);
    ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
    EXPECT_TRUE(reply.payload() == big) << "payload of " << reply.payload().size() << " bytes differs";
  }
  // And 8 x 1 MiB streamed down.
  grpc::ClientContext context;
  Deadline(context, std::chrono::seconds(30));
  Msg request, reply;
  request.set_payload(big.substr(0, 1024 * 1024));
  request.set_repeat(8);
  auto reader = stub->ServerStream(&context, request);
  int good = 0;
  while (reader->Read(&reply)) good += reply.payload() == request.payload() ? 1 : 0;
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(good, 8);
}

TEST_P(GrpcEndToEndTest, ManyConcurrentCallsShareOneChannel) {
  auto stub = Stub();
  constexpr int kCalls = 200;  // above the proxy's 100 concurrent streams per connection
  struct Call {
    grpc::ClientContext context;
    Msg request, reply;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<Msg>> reader;
  };
  grpc::CompletionQueue queue;
  std::vector<std::unique_ptr<Call>> calls;
  for (int i = 0; i < kCalls; ++i) {
    auto call = std::make_unique<Call>();
    Deadline(call->context, std::chrono::seconds(30));
    call->request.set_seq(i);
    call->request.set_text("call " + std::to_string(i));
    call->request.set_sleep_ms(100);  // keeps them in flight together
    call->reader = stub->PrepareAsyncUnary(&call->context, call->request, &queue);
    call->reader->StartCall();
    call->reader->Finish(&call->reply, &call->status, call.get());
    calls.push_back(std::move(call));
  }
  int completed = 0, ok = 0;
  for (int i = 0; i < kCalls; ++i) {
    void* tag = nullptr;
    bool event_ok = false;
    auto status = queue.AsyncNext(&tag, &event_ok, std::chrono::system_clock::now() + std::chrono::seconds(40));
    if (status != grpc::CompletionQueue::GOT_EVENT) break;
    ++completed;
    auto* call = static_cast<Call*>(tag);
    if (call->status.ok() && call->reply.seq() == call->request.seq() && call->reply.text() == call->request.text()) {
      ++ok;
    } else {
      ADD_FAILURE() << "call " << call->request.seq() << ": " << call->status.error_code() << " "
                    << call->status.error_message();
    }
  }
  EXPECT_EQ(completed, kCalls);
  EXPECT_EQ(ok, kCalls);
  queue.Shutdown();
  void* tag;
  bool event_ok;
  while (queue.Next(&tag, &event_ok)) {
  }
}

TEST_P(GrpcEndToEndTest, DeadlineExceededCancelsTheUpstreamCall) {
  auto stub = Stub();
  int64_t before = BackendCancelledCalls(*stub);
  grpc::ClientContext context;
  Deadline(context, std::chrono::milliseconds(400));
  Msg request, reply;
  request.set_sleep_ms(15000);
  auto start = Clock::now();
  grpc::Status status = stub->Unary(&context, request, &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << status.error_message();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
  // The backend stops working on it: well before its 15 s sleep ends.
  EXPECT_TRUE(WaitForBackendCancellation(*stub, before, std::chrono::seconds(5)));
}

TEST_P(GrpcEndToEndTest, ClientCancellationResetsTheUpstreamStream) {
  // No deadline in play here (the server's own timer would cancel too): only
  // the proxy forwarding the client's RST_STREAM can tell the backend.
  auto stub = Stub();
  int64_t before = BackendCancelledCalls(*stub);
  grpc::ClientContext context;
  Deadline(context, std::chrono::seconds(60));
  Msg request, reply;
  request.set_repeat(1);
  request.set_sleep_ms(30000);  // after the first message, hold the stream open
  auto reader = stub->ServerStream(&context, request);
  ASSERT_TRUE(reader->Read(&reply));
  auto start = Clock::now();
  context.TryCancel();
  while (reader->Read(&reply)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitForBackendCancellation(*stub, before, std::chrono::seconds(5)));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(6));
}

TEST_P(GrpcEndToEndTest, BackendDownIsUnavailable) {
  auto stub = Stub("down.test");
  grpc::ClientContext context;
  Deadline(context, std::chrono::seconds(10));
  Msg request, reply;
  request.set_text("anyone?");
  grpc::Status status = stub->Unary(&context, request, &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  // The proxy's own words (a gRPC Trailers-Only answer), not grpc's
  // "Received http2 header with status: 502".
  EXPECT_EQ(status.error_message(), "upstream unavailable");
}

// The proxy's own answers reach gRPC clients as gRPC statuses: grpc-status
// and grpc-message in a Trailers-Only response, mapped as Envoy maps them.
TEST_P(GrpcEndToEndTest, UnknownHostIsUnimplemented) {
  auto stub = Stub("nowhere.test");
  grpc::ClientContext context;
  Deadline(context, std::chrono::seconds(5));
  Msg request, reply;
  grpc::Status status = stub->Unary(&context, request, &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << status.error_message();
  EXPECT_EQ(status.error_message(), "not found");
}

TEST_P(GrpcEndToEndTest, ServiceWithoutEndpointsIsUnavailable) {
  auto stub = Stub("empty.test");
  grpc::ClientContext context;
  Deadline(context, std::chrono::seconds(5));
  Msg request, reply;
  grpc::Status status = stub->Unary(&context, request, &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(status.error_message(), "no healthy upstream");
  // A streaming call is refused the same way, before any message.
  grpc::ClientContext stream_context;
  Deadline(stream_context, std::chrono::seconds(5));
  auto stream = stub->Bidi(&stream_context);
  Msg pong;
  EXPECT_FALSE(stream->Read(&pong));
  grpc::Status stream_status = stream->Finish();
  EXPECT_EQ(stream_status.error_code(), grpc::StatusCode::UNAVAILABLE) << stream_status.error_message();
}

TEST_P(GrpcEndToEndTest, BackendRestartIsUnavailableThenServesAgain) {
  auto stub = Stub("restart.test");
  auto call = [&] {
    grpc::ClientContext context;
    Deadline(context, std::chrono::seconds(5));
    Msg request, reply;
    request.set_text("still there?");
    return stub->Unary(&context, request, &reply).error_code();
  };
  ASSERT_TRUE(testing::WaitForPort(env->restart_port));
  EXPECT_EQ(call(), grpc::StatusCode::OK);  // the proxy now holds a pooled HTTP/2 connection to it
  // A stream open across the stop ends with an error, not at its deadline.
  grpc::ClientContext open_context;
  Deadline(open_context, std::chrono::seconds(20));
  auto open_stream = stub->Bidi(&open_context);
  Msg ping, pong;
  ASSERT_TRUE(open_stream->Write(ping));
  ASSERT_TRUE(open_stream->Read(&pong));
  // A graceful stop: GOAWAY on that connection, the open call cut after the
  // server's 2 s grace, then the socket closes.
  auto stop_at = Clock::now();
  env->restart_backend->Signal(SIGTERM);
  EXPECT_FALSE(open_stream->Read(&pong));
  grpc::Status cut = open_stream->Finish();
  EXPECT_FALSE(cut.ok());
  EXPECT_NE(cut.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << cut.error_message();
  EXPECT_LT(Clock::now() - stop_at, std::chrono::seconds(8));
  EXPECT_EQ(env->restart_backend->Wait(std::chrono::seconds(10)), 0);
  EXPECT_EQ(call(), grpc::StatusCode::UNAVAILABLE);
  StartRestartBackend();
  ASSERT_TRUE(testing::WaitForPort(env->restart_port));
  // Back within a few tries (a failed endpoint may sit out a short ejection).
  grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
  auto deadline = Clock::now() + std::chrono::seconds(15);
  while (Clock::now() < deadline && (code = call()) != grpc::StatusCode::OK) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(code, grpc::StatusCode::OK);
}

TEST_P(GrpcEndToEndTest, ProxyReadTimeoutEndsSilentCallsAndCancelsThem) {
  auto stub = Stub("impatient.test");  // sluice.io/proxy-read-timeout: 1s
  int64_t before = BackendCancelledCalls(*Stub());
  // No response headers within 1 s: the proxy's timeout, answered as
  // DEADLINE_EXCEEDED to a call with a deadline (grpc-timeout) ...
  {
    grpc::ClientContext context;
    Deadline(context, std::chrono::seconds(10));
    Msg request, reply;
    request.set_sleep_ms(5000);
    auto start = Clock::now();
    grpc::Status status = stub->Unary(&context, request, &reply);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << status.error_message();
    EXPECT_EQ(status.error_message(), "upstream timed out");
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(4));
  }
  // ... and as UNAVAILABLE (the 504 mapping) to one without.
  {
    grpc::ClientContext context;
    Msg request, reply;
    request.set_sleep_ms(3000);
    auto start = Clock::now();
    grpc::Status status = stub->Unary(&context, request, &reply);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
  }
  // A stream silent for 1 s after its first message: reset.
  grpc::ClientContext context;
  Deadline(context, std::chrono::seconds(10));
  Msg request, reply;
  request.set_repeat(1);
  request.set_sleep_ms(5000);
  auto reader = stub->ServerStream(&context, request);
  ASSERT_TRUE(reader->Read(&reply));
  auto start = Clock::now();
  EXPECT_FALSE(reader->Read(&reply));
  grpc::Status status = reader->Finish();
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << status.error_message();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(4));
  // The calls were cancelled upstream, not left to run.
  EXPECT_TRUE(WaitForBackendCancellation(*Stub(), before + 2, std::chrono::seconds(5)));
}

TEST_P(GrpcEndToEndTest, TlsBackendWithGrpcsProtocol) {
  auto stub = Stub("grpcs.test");
  grpc::ClientContext unary_context;
  Deadline(unary_context, std::chrono::seconds(5));
  Msg request, reply;
  request.set_text("to a TLS backend");
  grpc::Status status = stub->Unary(&unary_context, request, &reply);
  ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  EXPECT_EQ(reply.text(), "to a TLS backend");
  EXPECT_EQ(reply.forwarded_proto(), ExpectedProto());

  grpc::ClientContext context;
  Deadline(context, std::chrono::seconds(10));
  auto stream = stub->Bidi(&context);
  int rounds = 0;
  for (int i = 0; i < 20; ++i) {
    Msg ping, pong;
    ping.set_seq(i);
    if (!stream->Write(ping) || !stream->Read(&pong) || pong.seq() != i) break;
    ++rounds;
  }
  EXPECT_EQ(rounds, 20);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

INSTANTIATE_TEST_SUITE_P(Downstreams, GrpcEndToEndTest, ::testing::Values(Downstream::kH2c, Downstream::kTls),
                         [](const ::testing::TestParamInfo<Downstream>& info) {
                           return info.param == Downstream::kH2c ? "H2c" : "Tls";
                         });

}  // namespace
}  // namespace sluice
