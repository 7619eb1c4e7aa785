#pragma once
// Per-thread spare field lists: the vectors behind HeaderMap, kept empty
// with their capacity for the next head. Every proxied request builds two
// field lists (its request head and the upstream's response head) and frees
// two; each was a malloc and a free of a ~1 KiB block (~250 instructions a
// pair in callgrind). The parsers take a list when a head starts, and the
// owners give it back where the head ends (a recycled HTTP/2 stream, a
// finished exchange).
//
// Only the vector's block is kept: the strings of its fields are freed by
// Give. Bounded in count and in the capacity of each list, so a worker holds
// at most kMaxSpare * kMaxCapacity fields' worth (~256 KiB). Lists never
// need to return to the thread that made them: whichever thread gives one
// keeps it.
#include <cstddef>
#include <utility>
#include <vector>

#include "dataplane/http/message.h"

namespace sluice::http {

class SpareFieldLists {
 public:
  static constexpr size_t kMaxSpare = 128;
  static constexpr size_t kMaxCapacity = 32;

  // Gives `fields` a spare empty list with room for at least `min_capacity`
  // fields when it has less and one is spare; otherwise reserves that room.
  static void Take(HeaderMap& fields, size_t min_capacity) {
    std::vector<Header>& entries = fields.mutable_entries();
    if (entries.capacity() >= min_capacity) return;
    Spares* spares = List();
    if (entries.empty() && spares != nullptr && !spares->lists.empty() &&
        spares->lists.back().capacity() >= min_capacity) {
      entries.swap(spares->lists.back());
      spares->lists.pop_back();
      return;
    }
    entries.reserve(min_capacity);
  }

  // Empties `fields` (its strings are freed) and keeps its block for a later
  // Take; `fields` is left without memory either way.
  static void Give(HeaderMap& fields) {
    std::vector<Header>& entries = fields.mutable_entries();
    const size_t capacity = entries.capacity();
    if (capacity == 0) return;
    Spares* spares = List();
    if (capacity > kMaxCapacity || spares == nullptr || spares->lists.size() >= kMaxSpare) {
      std::vector<Header>().swap(entries);
      return;
    }
    entries.clear();
    spares->lists.push_back(std::move(entries));
    entries = std::vector<Header>();  // a moved-from vector is empty; make it say so
  }

 private:
  struct Spares {
    std::vector<std::vector<Header>> lists;
    Spares() { lists.reserve(kMaxSpare); }
    ~Spares() { gone = true; }
  };
  // Null once the thread's list was destroyed (heads freed during thread
  // exit just free their memory).
  static Spares* List() {
    if (gone) return nullptr;
    thread_local Spares spares;
    return &spares;
  }
  static inline thread_local bool gone = false;
};

}  // namespace sluice::http
