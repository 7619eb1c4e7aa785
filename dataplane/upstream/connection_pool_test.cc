#include "dataplane/upstream/connection_pool.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

namespace sluice::upstream {
namespace {

struct SocketPair {
  SocketPair() { socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds); }
  ~SocketPair() {
    if (fds[1] >= 0) close(fds[1]);
  }
  int fds[2] = {-1, -1};
};

class RecordingOwner : public net::IoHandler {
 public:
  void OnIoEvents(uint32_t events) override { seen |= events; }
  uint32_t seen = 0;
};

TEST(ConnectionPoolTest, ReusesMostRecentAndCapsIdle) {
  net::EventLoop loop;
  ConnectionPool pool(&loop, 2, std::chrono::seconds(60));
  SocketPair pairs[3];
  int first_fds[3];
  for (int i = 0; i < 3; ++i) {
    first_fds[i] = pairs[i].fds[0];
    pool.Release(std::make_unique<UpstreamConnection>(&loop, pairs[i].fds[0], "10.0.0.1:80"));
  }
  EXPECT_EQ(pool.idle_count(), 2u);  // the third was closed
  auto taken = pool.TakeIdle("10.0.0.1:80");
  ASSERT_NE(taken, nullptr);
  EXPECT_EQ(taken->fd(), first_fds[1]);
  EXPECT_EQ(pool.TakeIdle("10.0.0.2:80"), nullptr);
  EXPECT_EQ(pool.idle_count(), 1u);
  char c;
  EXPECT_EQ(read(pairs[2].fds[1], &c, 1), 0);  // the one over the cap was closed
}

TEST(ConnectionPoolTest, DropsConnectionThePeerClosedWhileIdle) {
  net::EventLoop loop;
  ConnectionPool pool(&loop, 8, std::chrono::seconds(60));
  SocketPair pair;
  pool.Release(std::make_unique<UpstreamConnection>(&loop, pair.fds[0], "k"));
  close(pair.fds[1]);
  pair.fds[1] = -1;
  loop.AddTimer(std::chrono::milliseconds(50), [&] { loop.Stop(); });
  loop.Run();
  EXPECT_EQ(pool.idle_count(), 0u);
  EXPECT_EQ(pool.TakeIdle("k"), nullptr);
}

TEST(ConnectionPoolTest, ForwardsEventsToTheOwnerWithoutReRegistering) {
  net::EventLoop loop;
  ConnectionPool pool(&loop, 8, std::chrono::seconds(60));
  SocketPair pair;
  pool.Release(std::make_unique<UpstreamConnection>(&loop, pair.fds[0], "k"));
  auto connection = pool.TakeIdle("k");
  ASSERT_NE(connection, nullptr);
  RecordingOwner owner;
  connection->set_owner(&owner);
  ASSERT_EQ(write(pair.fds[1], "x", 1), 1);
  loop.AddTimer(std::chrono::milliseconds(50), [&] { loop.Stop(); });
  loop.Run();
  EXPECT_TRUE(owner.seen & EPOLLIN);
  pool.Discard(std::move(connection));
}

TEST(ConnectionPoolTest, ClosesConnectionsIdleTooLong) {
  net::EventLoop loop;
  ConnectionPool pool(&loop, 8, std::chrono::milliseconds(10));
  SocketPair pair;
  pool.Release(std::make_unique<UpstreamConnection>(&loop, pair.fds[0], "k"));
  loop.AddTimer(std::chrono::milliseconds(1500), [&] { loop.Stop(); });
  loop.Run();
  EXPECT_EQ(pool.idle_count(), 0u);
  char c;
  EXPECT_EQ(read(pair.fds[1], &c, 1), 0);  // our side was closed
}

// Endpoints taken and released in turn each get their own connections
// back (the pool remembers the list it used last: it must never hand a
// connection to another endpoint), also after a sweep emptied the lists.
TEST(ConnectionPoolTest, KeepsEndpointsApartWhenTheyAlternate) {
  net::EventLoop loop;
  ConnectionPool pool(&loop, 8, std::chrono::milliseconds(20));
  SocketPair a, b, c;
  pool.Release(std::make_unique<UpstreamConnection>(&loop, a.fds[0], "10.0.0.1:80"));
  pool.Release(std::make_unique<UpstreamConnection>(&loop, b.fds[0], "10.0.0.2:80"));
  auto from_a = pool.TakeIdle("10.0.0.1:80");
  ASSERT_NE(from_a, nullptr);
  EXPECT_EQ(from_a->fd(), a.fds[0]);
  EXPECT_EQ(pool.TakeIdle("10.0.0.1:80"), nullptr);
  auto from_b = pool.TakeIdle("10.0.0.2:80");
  ASSERT_NE(from_b, nullptr);
  EXPECT_EQ(from_b->fd(), b.fds[0]);
  pool.Release(std::move(from_a));
  EXPECT_EQ(pool.TakeIdle("10.0.0.2:80"), nullptr);
  pool.Release(std::move(from_b));
  EXPECT_EQ(pool.idle_count(), 2u);
  // The sweep closes both (idle too long) and erases their lists.
  loop.AddTimer(std::chrono::milliseconds(1500), [&] { loop.Stop(); });
  loop.Run();
  EXPECT_EQ(pool.idle_count(), 0u);
  EXPECT_EQ(pool.TakeIdle("10.0.0.2:80"), nullptr);
  pool.Release(std::make_unique<UpstreamConnection>(&loop, c.fds[0], "10.0.0.3:80"));
  EXPECT_EQ(pool.TakeIdle("10.0.0.2:80"), nullptr);
  auto from_c = pool.TakeIdle("10.0.0.3:80");
  ASSERT_NE(from_c, nullptr);
  EXPECT_EQ(from_c->fd(), c.fds[0]);
}

}  // namespace
}  // namespace sluice::upstream
