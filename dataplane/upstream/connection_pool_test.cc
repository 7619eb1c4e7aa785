#include "dataplane/upstream/connection_pool.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

namespace sluice::upstream {
namespace {

class NullHandler : public net::IoHandler {
 public:
  void OnIoEvents(uint32_t) override {}
};

TEST(ConnectionPoolTest, ReusesMostRecentAndCapsIdle) {
  net::EventLoop loop;
  ConnectionPool pool(&loop, 2, std::chrono::seconds(60));
  NullHandler handler;
  int pairs[3][2];
  for (auto& p : pairs) {
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p), 0);
    loop.Register(p[0], &handler);
    pool.Release("10.0.0.1:80", p[0]);
  }
  EXPECT_EQ(pool.idle_count(), 2u);  // the third was closed
  EXPECT_EQ(pool.TakeIdle("10.0.0.1:80"), pairs[1][0]);
  EXPECT_EQ(pool.TakeIdle("10.0.0.2:80"), -1);
  EXPECT_EQ(pool.idle_count(), 1u);
  for (auto& p : pairs) close(p[1]);
}

TEST(ConnectionPoolTest, DropsConnectionThePeerClosed) {
  net::EventLoop loop;
  ConnectionPool pool(&loop, 8, std::chrono::seconds(60));
  NullHandler handler;
  int p[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p), 0);
  loop.Register(p[0], &handler);
  pool.Release("k", p[0]);
  close(p[1]);
  loop.AddTimer(std::chrono::milliseconds(50), [&] { loop.Stop(); });
  loop.Run();
  EXPECT_EQ(pool.idle_count(), 0u);
  EXPECT_EQ(pool.TakeIdle("k"), -1);
}

TEST(ConnectionPoolTest, ClosesConnectionsIdleTooLong) {
  net::EventLoop loop;
  ConnectionPool pool(&loop, 8, std::chrono::milliseconds(10));
  NullHandler handler;
  int p[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p), 0);
  loop.Register(p[0], &handler);
  pool.Release("k", p[0]);
  loop.AddTimer(std::chrono::milliseconds(1500), [&] { loop.Stop(); });
  loop.Run();
  EXPECT_EQ(pool.idle_count(), 0u);
  char c;
  EXPECT_EQ(read(p[1], &c, 1), 0);  // our side was closed
  close(p[1]);
}

}  // namespace
}  // namespace sluice::upstream
