#include "dataplane/connlimit/connection_limits.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace sluice::connlimit {
namespace {

IpAddress Ip(std::string_view text) { return *IpAddress::Parse(text); }

// Admits up to `n` connections from `ip`; returns how many got in and the
// refusal that stopped it (kNone when all did).
Refusal Fill(ConnectionLimits& limits, std::string_view ip, int n, std::vector<Ticket>& held, int* admitted,
             uint32_t second = 1) {
  *admitted = 0;
  for (int i = 0; i < n; ++i) {
    Ticket ticket;
    Refusal refusal = limits.Admit(Ip(ip), second, &ticket);
    if (refusal != Refusal::kNone) return refusal;
    EXPECT_TRUE(ticket.held());
    held.push_back(std::move(ticket));
    ++*admitted;
  }
  return Refusal::kNone;
}

TEST(ConnectionLimitsTest, NoLimitsAdmitsEverything) {
  ConnectionLimits limits(Options{});
  std::vector<Ticket> held;
  int admitted;
  EXPECT_EQ(Fill(limits, "10.0.0.1", 1000, held, &admitted), Refusal::kNone);
  EXPECT_EQ(limits.open_connections(), 1000u);
  held.clear();
  EXPECT_EQ(limits.open_connections(), 0u);
}

TEST(ConnectionLimitsTest, PerAddressCapAndRelease) {
  ConnectionLimits limits(Options{.max_connections_per_address = 3});
  std::vector<Ticket> held;
  int admitted;
  EXPECT_EQ(Fill(limits, "10.0.0.1", 10, held, &admitted), Refusal::kPerAddress);
  EXPECT_EQ(admitted, 3);
  EXPECT_EQ(limits.ConnectionsOf(Ip("10.0.0.1")), 3u);
  // Another address is counted apart; the same one via IPv4-mapped is not.
  std::vector<Ticket> other;
  EXPECT_EQ(Fill(limits, "10.0.0.2", 3, other, &admitted), Refusal::kNone);
  EXPECT_EQ(Fill(limits, "::ffff:10.0.0.1", 1, held, &admitted), Refusal::kPerAddress);
  held.pop_back();  // one closes
  EXPECT_EQ(Fill(limits, "10.0.0.1", 1, held, &admitted), Refusal::kNone);
  EXPECT_EQ(limits.open_connections(), 6u);
}

TEST(ConnectionLimitsTest, Ipv6CountsByTheSlash64) {
  ConnectionLimits limits(Options{.max_connections_per_address = 2});
  std::vector<Ticket> held;
  int admitted;
  EXPECT_EQ(Fill(limits, "2001:db8::1", 1, held, &admitted), Refusal::kNone);
  EXPECT_EQ(Fill(limits, "2001:db8::ffff:2", 1, held, &admitted), Refusal::kNone);
  EXPECT_EQ(Fill(limits, "2001:db8::3", 1, held, &admitted), Refusal::kPerAddress);  // same /64
  EXPECT_EQ(Fill(limits, "2001:db8:0:1::1", 2, held, &admitted), Refusal::kNone);    // next /64
}

TEST(ConnectionLimitsTest, ReserveKeepsRoomForLightClients) {
  ConnectionLimits limits(Options{.max_connections = 100});
  std::vector<Ticket> flood, light;
  int admitted;
  // One address fills everything but the reserve (10%).
  EXPECT_EQ(Fill(limits, "127.0.0.2", 1000, flood, &admitted), Refusal::kReserved);
  EXPECT_EQ(admitted, 90);
  // Light clients still get in, up to kReservedShareConnections each...
  EXPECT_EQ(Fill(limits, "127.0.0.3", 1, light, &admitted), Refusal::kNone);
  EXPECT_EQ(Fill(limits, "127.0.0.4", 1, light, &admitted), Refusal::kNone);
  // ...until the total is reached.
  EXPECT_EQ(Fill(limits, "127.0.0.5", 100, light, &admitted), Refusal::kTotal);
  EXPECT_EQ(admitted, 8);
  EXPECT_EQ(limits.open_connections(), 100u);
  flood.resize(50);
  EXPECT_EQ(Fill(limits, "127.0.0.6", 1, light, &admitted), Refusal::kNone);
}

TEST(ConnectionLimitsTest, RatePerAddressPerSecond) {
  ConnectionLimits limits(Options{.max_rate_per_address = 5});
  std::vector<Ticket> held;
  int admitted;
  EXPECT_EQ(Fill(limits, "10.0.0.1", 10, held, &admitted, /*second=*/7), Refusal::kRate);
  EXPECT_EQ(admitted, 5);
  held.clear();  // closing does not give the rate back
  EXPECT_EQ(Fill(limits, "10.0.0.1", 1, held, &admitted, 7), Refusal::kRate);
  EXPECT_EQ(Fill(limits, "10.0.0.2", 5, held, &admitted, 7), Refusal::kNone);
  EXPECT_EQ(Fill(limits, "10.0.0.1", 5, held, &admitted, 8), Refusal::kNone);  // the next second
}

TEST(ConnectionLimitsTest, TicketMovesAndReleasesOnce) {
  ConnectionLimits limits(Options{.max_connections = 10, .max_connections_per_address = 5});
  Ticket a;
  ASSERT_EQ(limits.Admit(Ip("10.0.0.1"), 1, &a), Refusal::kNone);
  Ticket b(std::move(a));
  EXPECT_FALSE(a.held());
  EXPECT_TRUE(b.held());
  EXPECT_EQ(limits.open_connections(), 1u);
  Ticket c;
  c = std::move(b);
  c.Release();
  c.Release();
  EXPECT_EQ(limits.open_connections(), 0u);
  EXPECT_EQ(limits.ConnectionsOf(Ip("10.0.0.1")), 0u);
}

TEST(ConnectionLimitsTest, WorkersAdmittingAtOnceNeverExceedTheCaps) {
  ConnectionLimits limits(Options{.max_connections = 200, .max_connections_per_address = 40});
  constexpr int kThreads = 4;
  std::atomic<int> peak_over{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<Ticket> held;
      for (int round = 0; round < 200; ++round) {
        Ticket ticket;
        std::string ip = "10.0.0." + std::to_string(1 + (round + t) % 3);
        if (limits.Admit(Ip(ip), 1, &ticket) == Refusal::kNone) held.push_back(std::move(ticket));
        if (limits.ConnectionsOf(Ip(ip)) > 40 + kThreads) peak_over.fetch_add(1);  // in-flight checks may add one each
        if (round % 7 == 0 && !held.empty()) held.pop_back();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(peak_over.load(), 0);
  EXPECT_EQ(limits.open_connections(), 0u);  // every ticket given back
  for (const char* ip : {"10.0.0.1", "10.0.0.2", "10.0.0.3"}) EXPECT_EQ(limits.ConnectionsOf(Ip(ip)), 0u);
}

}  // namespace
}  // namespace sluice::connlimit
