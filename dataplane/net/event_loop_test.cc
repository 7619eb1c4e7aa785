#include "dataplane/net/event_loop.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <thread>

namespace sluice::net {
namespace {

TEST(EventLoopTest, TimersFireInDeadlineOrderAndCancelledOnesDoNot) {
  EventLoop loop;
  std::vector<int> fired;
  loop.AddTimer(std::chrono::milliseconds(20), [&] { fired.push_back(2); });
  loop.AddTimer(std::chrono::milliseconds(5), [&] { fired.push_back(1); });
  auto cancelled = loop.AddTimer(std::chrono::milliseconds(10), [&] { fired.push_back(99); });
  loop.CancelTimer(cancelled);
  loop.AddTimer(std::chrono::milliseconds(30), [&] { loop.Stop(); });
  loop.Run();
  EXPECT_EQ(fired, (std::vector<int>{1, 2}));
}

TEST(EventLoopTest, PostFromAnotherThreadRunsOnTheLoop) {
  EventLoop loop;
  std::atomic<std::thread::id> ran_on{};
  std::thread poster([&] {
    loop.Post([&] {
      ran_on = std::this_thread::get_id();
      loop.Stop();
    });
  });
  loop.Run();
  poster.join();
  EXPECT_EQ(ran_on.load(), std::this_thread::get_id());
}

class PipeReader : public IoHandler {
 public:
  PipeReader(int fd, EventLoop* loop) : fd_(fd), loop_(loop) {}
  void OnIoEvents(uint32_t events) override {
    char buf[64];
    ssize_t n;
    while ((n = read(fd_, buf, sizeof buf)) > 0) data_.append(buf, n);
    if (data_ == "hello") loop_->Stop();
  }
  std::string data_;

 private:
  int fd_;
  EventLoop* loop_;
};

TEST(EventLoopTest, DeliversReadEventsEdgeTriggered) {
  EventLoop loop;
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_NONBLOCK), 0);
  PipeReader reader(fds[0], &loop);
  ASSERT_TRUE(loop.Register(fds[0], &reader, EPOLLIN | EPOLLET));
  ASSERT_EQ(write(fds[1], "hel", 3), 3);
  loop.AddTimer(std::chrono::milliseconds(5), [&] { (void)!write(fds[1], "lo", 2); });
  loop.AddTimer(std::chrono::milliseconds(2000), [&] { loop.Stop(); });  // bound
  loop.Run();
  EXPECT_EQ(reader.data_, "hello");
  close(fds[0]);
  close(fds[1]);
}

class CountingHandler : public IoHandler {
 public:
  void OnIoEvents(uint32_t) override { ++events; }
  int events = 0;
};

TEST(EventLoopTest, RetargetHandsTheRegistrationToANewHandler) {
  EventLoop loop;
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_NONBLOCK), 0);
  CountingHandler first, second;
  ASSERT_TRUE(loop.Register(fds[0], &first, EPOLLIN | EPOLLET));
  ASSERT_TRUE(loop.Retarget(fds[0], &second));
  EXPECT_FALSE(loop.Retarget(fds[1], &second)) << "never registered";
  ASSERT_EQ(write(fds[1], "x", 1), 1);
  loop.AddTimer(std::chrono::milliseconds(20), [&] { loop.Stop(); });
  loop.Run();
  EXPECT_EQ(first.events, 0);
  EXPECT_EQ(second.events, 1);
  close(fds[0]);
  close(fds[1]);
}

TEST(EventLoopTest, AnFdForgottenAndClosedCanBeRegisteredAgainUnderItsNumber) {
  EventLoop loop;
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_NONBLOCK), 0);
  CountingHandler old_handler, new_handler;
  ASSERT_TRUE(loop.Register(fds[0], &old_handler, EPOLLIN | EPOLLET));
  ASSERT_EQ(write(fds[1], "x", 1), 1);  // pending for the old registration
  loop.ForgetBeforeClose(fds[0]);
  close(fds[0]);  // the kernel drops the registration with the last reference
  EXPECT_FALSE(loop.Retarget(fds[0], &new_handler));
  int again[2];
  ASSERT_EQ(pipe2(again, O_NONBLOCK), 0);
  ASSERT_EQ(again[0], fds[0]) << "the lowest free number is reused";
  ASSERT_TRUE(loop.Register(again[0], &new_handler, EPOLLIN | EPOLLET)) << "no stale registration left behind";
  ASSERT_EQ(write(again[1], "y", 1), 1);
  loop.AddTimer(std::chrono::milliseconds(20), [&] { loop.Stop(); });
  loop.Run();
  EXPECT_EQ(old_handler.events, 0);
  EXPECT_EQ(new_handler.events, 1);
  close(fds[1]);
  close(again[0]);
  close(again[1]);
}

}  // namespace
}  // namespace sluice::net
