#pragma once
// Counts events in one-second windows: the cheap rate limit behind the
// HTTP/2 flood defences (rapid reset, PING/SETTINGS/WINDOW_UPDATE/empty DATA
// floods). Time is passed in, so the limit is testable without sleeping.
#include <cstdint>

namespace sluice::http2 {

class RateWindow {
 public:
  // Adds one event at `now_ms`; returns the count in the current window.
  uint32_t Add(int64_t now_ms, uint32_t n = 1) {
    if (now_ms - window_start_ms_ >= 1000 || now_ms < window_start_ms_) {
      window_start_ms_ = now_ms;
      count_ = 0;
      credit_ = 0;
    }
    count_ += n;
    return count_;
  }
  // Extra allowance in the current window (e.g. one WINDOW_UPDATE per DATA
  // frame we sent is legitimate).
  void Credit(int64_t now_ms, uint32_t n = 1) {
    Add(now_ms, 0);
    credit_ += n;
  }
  uint32_t credit() const { return credit_; }

 private:
  int64_t window_start_ms_ = INT64_MIN / 2;
  uint32_t count_ = 0;
  uint32_t credit_ = 0;
};

}  // namespace sluice::http2
