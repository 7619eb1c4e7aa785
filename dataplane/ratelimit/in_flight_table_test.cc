#include "dataplane/ratelimit/in_flight_table.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace sluice::ratelimit {
namespace {

TEST(InFlightTableTest, AdmitsUpToTheLimitAndReleasesWithTheSlot) {
  InFlightTable table;
  std::vector<InFlightTable::Slot> slots(3);
  for (auto& slot : slots) EXPECT_TRUE(table.Admit(7, 3, &slot));
  InFlightTable::Slot refused;
  EXPECT_FALSE(table.Admit(7, 3, &refused));
  EXPECT_FALSE(refused.held());
  EXPECT_EQ(table.InFlight(7), 3u);
  // Another key is not affected.
  InFlightTable::Slot other;
  EXPECT_TRUE(table.Admit(8, 1, &other));
  slots.pop_back();  // a request ends: its slot is free again
  EXPECT_EQ(table.InFlight(7), 2u);
  InFlightTable::Slot again;
  EXPECT_TRUE(table.Admit(7, 3, &again));
  // Moving a slot keeps one hold.
  InFlightTable::Slot moved = std::move(again);
  EXPECT_FALSE(again.held());
  EXPECT_EQ(table.InFlight(7), 3u);
}

// Workers share the table: the limit holds across threads.
TEST(InFlightTableTest, TheLimitHoldsAcrossThreads) {
  InFlightTable table;
  constexpr uint32_t kLimit = 10;
  std::atomic<uint32_t> admitted{0};
  std::vector<std::thread> threads;
  std::vector<std::vector<InFlightTable::Slot>> held(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        InFlightTable::Slot slot;
        if (table.Admit(42, kLimit, &slot)) {
          ++admitted;
          held[t].push_back(std::move(slot));
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(admitted.load(), kLimit);
  held.clear();
  EXPECT_EQ(table.InFlight(42), 0u);
}

}  // namespace
}  // namespace sluice::ratelimit
