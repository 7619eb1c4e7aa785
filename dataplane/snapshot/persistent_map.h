#pragma once
// A map from string to V whose copies share structure: copying is O(1),
// and changing a copy (Set, Erase, Mutable) copies only the nodes on the
// path to that key, O(log n), leaving every other copy untouched. Diff
// finds what changed between two related maps in time proportional to the
// change, skipping the subtrees they still share.
//
// This is what lets a one-resource delta at 10,000 virtual hosts cost
// microseconds instead of copying 10,000 entries: the proxy's resource
// state and each compiled snapshot are such maps, and successive versions
// share everything that did not change.
//
// A hash array mapped trie: 32-way nodes indexed by 5 bits of the key's
// 64-bit hash, each holding only its present slots (bitmap + dense array).
// Iteration order is the hash order: stable, but not sorted (SortedKeys).
//
// Thread safety: a const map (and every node it shares) may be read from
// any number of threads. Mutating a map object needs exclusive access to
// that object only; nodes still shared with another copy are never written
// (a node is changed in place only when this map holds its sole reference).
#include <atomic>
#include <algorithm>
#include <bit>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::snapshot {

struct StringHash {
  uint64_t operator()(std::string_view key) const { return std::hash<std::string_view>{}(key); }
};

// `Hasher` is replaceable for tests (to force collisions).
template <typename V, typename Hasher = StringHash>
class PersistentMap {
 public:
  // The value for `key`, or null.
  const V* Find(std::string_view key) const {
    const uint64_t hash = Hash(key);
    const Node* node = root_.get();
    for (int shift = 0; node != nullptr; shift += kBits) {
      if (shift >= 64) {
        for (const Entry& entry : node->entries) {
          if (entry.key == key) return &entry.value;
        }
        return nullptr;
      }
      const uint32_t bit = BitFor(hash, shift);
      if ((node->bitmap & bit) == 0) return nullptr;
      const Entry& entry = node->entries[IndexOf(node->bitmap, bit)];
      if (entry.child != nullptr) {
        node = entry.child.get();
        continue;
      }
      return entry.hash == hash && entry.key == key ? &entry.value : nullptr;
    }
    return nullptr;
  }
  bool Contains(std::string_view key) const { return Find(key) != nullptr; }

  // Inserts or replaces.
  void Set(std::string key, V value) { Mutable(std::move(key)) = std::move(value); }

  // The value for `key`, inserted (default-constructed) if absent, owned
  // by this map alone: valid until the next change to this map.
  V& Mutable(std::string key) {
    const uint64_t hash = Hash(key);
    return Slot(root_, 0, hash, std::move(key));
  }

  // Returns whether `key` was present.
  bool Erase(std::string_view key) {
    if (!Contains(key)) return false;  // nothing copied for a miss
    EraseFrom(root_, 0, Hash(key), key);
    --size_;
    return true;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // fn(const std::string& key, const V& value) for every entry, in hash order.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    if (root_ != nullptr) Visit(*root_, fn);
  }

  // Every key, sorted (for output people read, and for deterministic order).
  std::vector<std::string> SortedKeys() const {
    std::vector<std::string> keys;
    keys.reserve(size_);
    ForEach([&keys](const std::string& key, const V&) { keys.push_back(key); });
    std::sort(keys.begin(), keys.end());
    return keys;
  }

  // fn(key, const V* before, const V* after) for every key whose value
  // differs (operator!=) between `before` and `after`; null: absent on that
  // side. Subtrees the two maps share are skipped without a look, so two
  // versions of one map differ in O(changes * log n); unrelated maps are
  // compared entry by entry. Order unspecified.
  template <typename Fn>
  static void Diff(const PersistentMap& before, const PersistentMap& after, Fn&& fn) {
    DiffNodes(before.root_.get(), after.root_.get(), 0, fn);
  }

 private:
  static constexpr int kBits = 5;

  struct Node;
  // A present slot: either a subtree (child) or one key and its value.
  struct Entry {
    std::shared_ptr<Node> child;
    uint64_t hash = 0;
    std::string key;
    V value{};
  };
  // At shift >= 64 the hash is used up: a collision node, entries unordered
  // and bitmap unused.
  struct Node {
    uint32_t bitmap = 0;
    std::vector<Entry> entries;
  };

  static uint64_t Hash(std::string_view key) { return Hasher{}(key); }
  static uint32_t BitFor(uint64_t hash, int shift) { return uint32_t{1} << ((hash >> shift) & 31); }
  static size_t IndexOf(uint32_t bitmap, uint32_t bit) { return static_cast<size_t>(std::popcount(bitmap & (bit - 1))); }

  // `slot` made safe to write: copied unless this map holds it alone.
  static Node* Own(std::shared_ptr<Node>& slot) {
    if (slot == nullptr) {
      slot = std::make_shared<Node>();
    } else if (slot.use_count() != 1) {
      slot = std::make_shared<Node>(*slot);
    } else {
      // Another thread may just have dropped its reference after reading;
      // its reads happen before our writes.
      std::atomic_thread_fence(std::memory_order_acquire);
    }
    return slot.get();
  }

  V& Slot(std::shared_ptr<Node>& slot, int shift, uint64_t hash, std::string&& key) {
    Node* node = Own(slot);
    if (shift >= 64) {
      for (Entry& entry : node->entries) {
        if (entry.key == key) return entry.value;
      }
      ++size_;
      node->entries.push_back(Entry{nullptr, hash, std::move(key), V{}});
      return node->entries.back().value;
    }
    const uint32_t bit = BitFor(hash, shift);
    const size_t index = IndexOf(node->bitmap, bit);
    if ((node->bitmap & bit) == 0) {
      ++size_;
      node->bitmap |= bit;
      auto it = node->entries.insert(node->entries.begin() + static_cast<std::ptrdiff_t>(index),
                                     Entry{nullptr, hash, std::move(key), V{}});
      return it->value;
    }
    Entry& entry = node->entries[index];
    if (entry.child != nullptr) return Slot(entry.child, shift + kBits, hash, std::move(key));
    if (entry.hash == hash && entry.key == key) return entry.value;
    // Two keys share this slot: push the resident one down a level.
    auto child = std::make_shared<Node>();
    const int below = shift + kBits;
    Entry resident{nullptr, entry.hash, std::move(entry.key), std::move(entry.value)};
    if (below < 64) child->bitmap = BitFor(resident.hash, below);
    child->entries.push_back(std::move(resident));
    entry = Entry{std::move(child), 0, std::string(), V{}};
    return Slot(entry.child, below, hash, std::move(key));
  }

  // `key` is known to be present below `slot`.
  static void EraseFrom(std::shared_ptr<Node>& slot, int shift, uint64_t hash, std::string_view key) {
    Node* node = Own(slot);
    if (shift >= 64) {
      auto it = std::find_if(node->entries.begin(), node->entries.end(),
                             [key](const Entry& entry) { return entry.key == key; });
      node->entries.erase(it);
    } else {
      const uint32_t bit = BitFor(hash, shift);
      const size_t index = IndexOf(node->bitmap, bit);
      Entry& entry = node->entries[index];
      bool remove = entry.child == nullptr;
      if (!remove) {
        EraseFrom(entry.child, shift + kBits, hash, key);
        const Node* child = entry.child.get();
        if (child == nullptr) {
          remove = true;
        } else if (child->entries.size() == 1 && child->entries[0].child == nullptr) {
          // A lone key climbs back up: its hash bits still lead here.
          Entry lone = child->entries[0];
          entry = std::move(lone);
        }
      }
      if (remove) {
        node->entries.erase(node->entries.begin() + static_cast<std::ptrdiff_t>(index));
        node->bitmap &= ~bit;
      }
    }
    if (node->entries.empty()) slot.reset();
  }

  template <typename Fn>
  static void Visit(const Node& node, Fn&& fn) {
    for (const Entry& entry : node.entries) {
      if (entry.child != nullptr) {
        Visit(*entry.child, fn);
      } else {
        fn(entry.key, entry.value);
      }
    }
  }

  using Flat = std::vector<std::pair<const std::string*, const V*>>;
  static void Flatten(const Entry* entry, Flat& out) {
    if (entry == nullptr) return;
    if (entry->child == nullptr) {
      out.emplace_back(&entry->key, &entry->value);
    } else {
      Visit(*entry->child, [&out](const std::string& key, const V& value) { out.emplace_back(&key, &value); });
    }
  }

  // Entry by entry, for subtrees whose shapes differ (small: only where
  // the maps differ) or that are unrelated.
  template <typename Fn>
  static void DiffFlat(Flat& a, Flat& b, Fn& fn) {
    auto by_key = [](const auto& x, const auto& y) { return *x.first < *y.first; };
    std::sort(a.begin(), a.end(), by_key);
    std::sort(b.begin(), b.end(), by_key);
    size_t i = 0, j = 0;
    while (i < a.size() || j < b.size()) {
      if (j == b.size() || (i < a.size() && *a[i].first < *b[j].first)) {
        fn(*a[i].first, a[i].second, static_cast<const V*>(nullptr));
        ++i;
      } else if (i == a.size() || *b[j].first < *a[i].first) {
        fn(*b[j].first, static_cast<const V*>(nullptr), b[j].second);
        ++j;
      } else {
        if (*a[i].second != *b[j].second) fn(*a[i].first, a[i].second, b[j].second);
        ++i;
        ++j;
      }
    }
  }

  template <typename Fn>
  static void DiffNodes(const Node* a, const Node* b, int shift, Fn& fn) {
    if (a == b) return;
    if (a == nullptr) {  // all added: no need to match keys up
      Visit(*b, [&fn](const std::string& k, const V& v) { fn(k, static_cast<const V*>(nullptr), &v); });
      return;
    }
    if (b == nullptr) {
      Visit(*a, [&fn](const std::string& k, const V& v) { fn(k, &v, static_cast<const V*>(nullptr)); });
      return;
    }
    if (shift >= 64) {
      Flat fa, fb;
      if (a != nullptr) Visit(*a, [&fa](const std::string& k, const V& v) { fa.emplace_back(&k, &v); });
      if (b != nullptr) Visit(*b, [&fb](const std::string& k, const V& v) { fb.emplace_back(&k, &v); });
      DiffFlat(fa, fb, fn);
      return;
    }
    for (uint32_t bits = a->bitmap | b->bitmap; bits != 0; bits &= bits - 1) {
      const uint32_t bit = bits & (~bits + 1);
      const Entry* ea = (a->bitmap & bit) ? &a->entries[IndexOf(a->bitmap, bit)] : nullptr;
      const Entry* eb = (b->bitmap & bit) ? &b->entries[IndexOf(b->bitmap, bit)] : nullptr;
      if (ea != nullptr && eb != nullptr && ea->child != nullptr && eb->child != nullptr) {
        DiffNodes(ea->child.get(), eb->child.get(), shift + kBits, fn);
      } else if (ea != nullptr && eb != nullptr && ea->child == nullptr && eb->child == nullptr && ea->key == eb->key) {
        if (ea->value != eb->value) fn(ea->key, &ea->value, &eb->value);
      } else {
        Flat fa, fb;
        Flatten(ea, fa);
        Flatten(eb, fb);
        DiffFlat(fa, fb, fn);
      }
    }
  }

  std::shared_ptr<Node> root_;
  size_t size_ = 0;
};

}  // namespace sluice::snapshot
