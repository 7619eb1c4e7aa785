#pragma once
// Per-thread spare field lists: the vectors behind HeaderMap, kept empty
// with their capacity for the next head. Every proxied request builds two
// field lists (its request head and the upstream's response head) and frees
// two; each was a malloc and a free of a ~1 KiB block (~250 instructions a
// pair in callgrind). The parsers take a list when a head starts, and the
// owners give it back where the head ends (a recycled HTTP/2 stream, a
// finished exchange).
//
// The vector's block is kept, and so are the heap blocks of field values
// too long for the string's inline buffer (15 bytes): a typical upstream
// response has three (Date, Last-Modified, Content-Type), each was a malloc
// when parsed and a free when dropped (~450 instructions per proxied
// request in callgrind). AppendField builds such values in a spare string;
// Give keeps the strings of kSpareStringCapacity it finds. Spare strings
// are all allocated with that one capacity, so any of them fits any value
// up to it: no search, no size classes. Longer values and the names (short
// in practice) are allocated and freed as before.
//
// Bounded in count and in the capacity of each list, so a worker holds at
// most kMaxSpare * kMaxCapacity fields' worth (~256 KiB) plus
// kMaxSpareStrings * 64 bytes (16 KiB). Lists and strings never need to
// return to the thread that made them: whichever thread gives one keeps it.
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dataplane/http/message.h"

namespace sluice::http {

class SpareFieldLists {
 public:
  static constexpr size_t kMaxSpare = 128;
  static constexpr size_t kMaxCapacity = 32;
  static constexpr size_t kMaxSpareStrings = 256;
  // A 64-byte block: dates (29 bytes), most content types, etags, cookies
  // of a few values.
  static constexpr size_t kSpareStringCapacity = 63;
  static constexpr size_t kInlineCapacity = 15;  // libstdc++'s SSO buffer

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

  // Appends a field to `fields` (`name` lower case), its value in a spare
  // string when it is too long for the inline buffer and fits one.
  static Header& AppendField(HeaderMap& fields, std::string_view name, std::string_view value) {
    if (value.size() <= kInlineCapacity || value.size() > kSpareStringCapacity) {
      return fields.AppendField(name, value);
    }
    Spares* spares = List();
    if (spares != nullptr && !spares->strings.empty()) {
      Header& field = fields.AppendField(name, value, std::move(spares->strings.back()));
      spares->strings.pop_back();
      return field;
    }
    std::string storage;
    storage.reserve(kSpareStringCapacity);  // so that it can serve any value when given back
    return fields.AppendField(name, value, std::move(storage));
  }

  // Empties `fields` (its strings are freed, or kept as spare strings) and
  // keeps its block for a later Take; `fields` is left without memory
  // either way.
  static void Give(HeaderMap& fields) {
    // Inline: most lists given back by a recycled stream never had a block.
    if (fields.mutable_entries().capacity() != 0) GiveBlock(fields);
  }

 private:
  [[gnu::noinline]] static void GiveBlock(HeaderMap& fields) {
    std::vector<Header>& entries = fields.mutable_entries();
    const size_t capacity = entries.capacity();
    Spares* spares = List();
    if (spares != nullptr) {
      for (Header& field : entries) {
        if (field.value.capacity() == kSpareStringCapacity && spares->strings.size() < kMaxSpareStrings) {
          field.value.clear();
          spares->strings.push_back(std::move(field.value));
        }
      }
    }
    if (capacity > kMaxCapacity || spares == nullptr || spares->lists.size() >= kMaxSpare) {
      std::vector<Header>().swap(entries);
      return;
    }
    entries.clear();
    spares->lists.push_back(std::move(entries));
    entries = std::vector<Header>();  // a moved-from vector is empty; make it say so
  }

  struct Spares {
    std::vector<std::vector<Header>> lists;
    std::vector<std::string> strings;  // empty, each of kSpareStringCapacity
    Spares() {
      lists.reserve(kMaxSpare);
      strings.reserve(kMaxSpareStrings);
    }
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
