#pragma once
// Credentials a route's basic_auth stage verified lately, so that a client
// sending the same Authorization again costs a SHA-256 and a lookup instead
// of a bcrypt (tens of milliseconds on the event loop). Shared by every
// worker without locks: a fixed table of slots, each one atomic
// fingerprint (64 bits of SHA-256(user NUL password NUL hash): the
// password itself is never kept) and its expiry. Writers overwrite a slot;
// a reader racing a writer may pair a fingerprint with the other entry's
// expiry, which is harmless: every fingerprint ever written was verified
// for this route (the table belongs to one compiled stage, so a new Secret,
// which compiles a new stage, starts empty).
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

namespace sluice::auth {

class VerifiedCache {
 public:
  static constexpr size_t kSlots = 1024;
  static constexpr std::chrono::seconds kLifetime{60};

  // The fingerprint of these credentials against `hash` (never 0).
  static uint64_t Fingerprint(std::string_view user, std::string_view password, std::string_view hash);

  bool Contains(uint64_t fingerprint, std::chrono::steady_clock::time_point now) const;
  void Insert(uint64_t fingerprint, std::chrono::steady_clock::time_point now);

 private:
  struct Slot {
    std::atomic<uint64_t> fingerprint{0};
    std::atomic<int64_t> expires_ms{0};  // steady clock, milliseconds
  };
  std::array<Slot, kSlots> slots_{};
};

}  // namespace sluice::auth
