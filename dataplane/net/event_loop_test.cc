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

}  // namespace
}  // namespace sluice::net
