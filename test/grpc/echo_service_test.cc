// The Echo service directly (no proxy): what the end-to-end tests rely on.
#include "test/grpc/echo_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace sluice::grpctest {
namespace {

class EchoServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int port = 0;
    server_ = StartServer(&service_, {"127.0.0.1:0", "", ""}, &port);
    ASSERT_NE(server_, nullptr);
    stub_ = Echo::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override { server_->Shutdown(std::chrono::system_clock::now()); }

  static void Deadline(grpc::ClientContext& context, int ms) {
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(ms));
  }

  EchoService service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Echo::Stub> stub_;
};

TEST_F(EchoServiceTest, UnaryEchoesAndFailsOnRequest) {
  grpc::ClientContext ok_context;
  Deadline(ok_context, 5000);
  Msg request, reply;
  request.set_text("hi");
  ASSERT_TRUE(stub_->Unary(&ok_context, request, &reply).ok());
  EXPECT_EQ(reply.text(), "hi");

  grpc::ClientContext fail_context;
  Deadline(fail_context, 5000);
  request.set_fail_code(grpc::StatusCode::PERMISSION_DENIED);
  request.set_fail_message("no entry");
  grpc::Status status = stub_->Unary(&fail_context, request, &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(status.error_message(), "no entry");
}

TEST_F(EchoServiceTest, ServerStreamSendsRepeatMessagesInOrder) {
  grpc::ClientContext context;
  Deadline(context, 5000);
  Msg request, reply;
  request.set_repeat(5);
  auto reader = stub_->ServerStream(&context, request);
  int64_t expected = 0;
  while (reader->Read(&reply)) EXPECT_EQ(reply.seq(), expected++);
  EXPECT_EQ(expected, 5);
  EXPECT_TRUE(reader->Finish().ok());
}

TEST_F(EchoServiceTest, CancelledSleepIsCounted) {
  grpc::ClientContext context;
  Deadline(context, 200);
  Msg request, reply;
  request.set_sleep_ms(5000);
  EXPECT_EQ(stub_->Unary(&context, request, &reply).error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  for (int i = 0; i < 200 && service_.cancelled_calls() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(service_.cancelled_calls(), 1);
}

}  // namespace
}  // namespace sluice::grpctest
