#include "dataplane/proxy/deadline_list.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

namespace sluice::proxy {
namespace {

using std::chrono::milliseconds;

struct Watcher : DeadlineWatcher {
  std::function<void()> on_deadline;
  void OnDeadline() override { on_deadline(); }
};

struct Fired {
  std::string name;
  milliseconds after;
};

class DeadlineListTest : public testing::Test {
 protected:
  // Runs the loop for `total` (bounded by a stop timer).
  void RunFor(milliseconds total) {
    loop_.AddTimer(total, [this] { loop_.Stop(); });
    loop_.Run();
  }
  // A watcher that records when it fired, relative to `start_`.
  void Track(Watcher& w, std::string name) {
    w.on_deadline = [this, &w, name] {
      fired_.push_back({name, std::chrono::duration_cast<milliseconds>(net::Clock::now() - start_)});
      EXPECT_FALSE(w.watched());
    };
  }
  net::Clock::time_point At(milliseconds delay) const { return start_ + delay; }

  net::EventLoop loop_;
  DeadlineList list_{&loop_};
  net::Clock::time_point start_ = loop_.now();
  std::vector<Fired> fired_;
};

TEST_F(DeadlineListTest, FiresEachOnceInDeadlineOrderAndNeverEarly) {
  Watcher a, b, c;
  Track(a, "a");
  Track(b, "b");
  Track(c, "c");
  list_.Watch(&a, At(milliseconds(90)));
  list_.Watch(&b, At(milliseconds(30)));
  list_.Watch(&c, At(milliseconds(60)));
  EXPECT_EQ(list_.size(), 3u);
  RunFor(milliseconds(200));
  ASSERT_EQ(fired_.size(), 3u);
  EXPECT_EQ(fired_[0].name, "b");
  EXPECT_EQ(fired_[1].name, "c");
  EXPECT_EQ(fired_[2].name, "a");
  EXPECT_GE(fired_[0].after, milliseconds(30));
  EXPECT_GE(fired_[1].after, milliseconds(60));
  EXPECT_GE(fired_[2].after, milliseconds(90));
  EXPECT_LT(fired_[2].after, milliseconds(190));
  EXPECT_EQ(list_.size(), 0u);
}

TEST_F(DeadlineListTest, UnwatchedNeverFiresAndMovedDeadlinesCount) {
  Watcher gone, later, sooner;
  Track(gone, "gone");
  Track(later, "later");
  Track(sooner, "sooner");
  list_.Watch(&gone, At(milliseconds(20)));
  list_.Watch(&later, At(milliseconds(20)));
  list_.Watch(&sooner, At(milliseconds(150)));
  list_.Unwatch(&gone);
  list_.Unwatch(&gone);  // twice: harmless
  EXPECT_FALSE(gone.watched());
  list_.Watch(&later, At(milliseconds(100)));   // moved later
  list_.Watch(&sooner, At(milliseconds(40)));   // moved earlier
  EXPECT_EQ(list_.size(), 2u);
  RunFor(milliseconds(220));
  ASSERT_EQ(fired_.size(), 2u);
  EXPECT_EQ(fired_[0].name, "sooner");
  EXPECT_GE(fired_[0].after, milliseconds(40));
  EXPECT_LT(fired_[0].after, milliseconds(100));
  EXPECT_EQ(fired_[1].name, "later");
  EXPECT_GE(fired_[1].after, milliseconds(100));
}

// An exchange watches itself again from OnDeadline (its deadline had moved);
// another watcher's callback may unwatch a watcher due in the same sweep.
TEST_F(DeadlineListTest, CallbacksMayWatchAgainAndUnwatchOthers) {
  Watcher again, victim, killer;
  int again_count = 0;
  again.on_deadline = [&] {
    if (++again_count < 3) list_.Watch(&again, loop_.now() + milliseconds(20));
  };
  Track(victim, "victim");
  killer.on_deadline = [&] { list_.Watch(&victim, loop_.now() + milliseconds(500)); };  // moved away
  list_.Watch(&again, At(milliseconds(10)));
  list_.Watch(&killer, At(milliseconds(30)));
  list_.Watch(&victim, At(milliseconds(30)));
  RunFor(milliseconds(200));
  EXPECT_EQ(again_count, 3);
  // The victim was due in the killer's sweep, or moved before its own: it
  // fires at most once, and never after being moved 500 ms away unless due.
  for (const Fired& f : fired_) EXPECT_LT(f.after, milliseconds(200));
  EXPECT_LE(fired_.size(), 1u);
  list_.Unwatch(&victim);
}

}  // namespace
}  // namespace sluice::proxy
