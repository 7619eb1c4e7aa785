#include "dataplane/cache/store/store.h"

#include <algorithm>
#include <deque>
#include <unordered_map>
#include <utility>

#include "dataplane/balancer/hash.h"

namespace sluice::cache {

struct WaiterState {
  // Held while the callback runs, so cancelling waits for a running callback.
  std::mutex mu;
  std::function<void(FillOutcome)> callback;
  // Set with a kStreaming callback (under mu).
  std::shared_ptr<FillStream> stream;
};

struct FillRecord {
  // Guarded by the shard's mutex.
  std::vector<std::shared_ptr<WaiterState>> waiters;
  // Set when the body streams to waiters (Fill::Begin): later misses read it.
  std::shared_ptr<FillStream> stream;
};

namespace {

enum class Queue : uint8_t { kSmall, kMain };

struct Entry {
  std::shared_ptr<const CachedObject> object;
  Entry* newer = nullptr;
  Entry* older = nullptr;
  size_t charge = 0;
  uint64_t hash = 0;
  uint8_t freq = 0;  // hits, 0..3 (S3-FIFO)
  Queue queue = Queue::kSmall;
};

// An intrusive FIFO: head the newest, tail the oldest.
struct Fifo {
  Entry* head = nullptr;
  Entry* tail = nullptr;
  size_t bytes = 0;
  size_t count = 0;
  bool empty() const { return count == 0; }
  void PushHead(Entry* e) {
    e->newer = nullptr;
    e->older = head;
    if (head != nullptr) head->newer = e;
    head = e;
    if (tail == nullptr) tail = e;
    bytes += e->charge;
    ++count;
  }
  void Remove(Entry* e) {
    if (e->newer != nullptr) e->newer->older = e->older;
    else head = e->older;
    if (e->older != nullptr) e->older->newer = e->newer;
    else tail = e->newer;
    e->newer = e->older = nullptr;
    bytes -= e->charge;
    --count;
  }
};

struct TransparentHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return balancer::Hash64(s); }
};

// The fixed part of ChargeOf: the object, its entry, the hash-map node
// (next pointer, key view, value pointer, cached hash), the control
// blocks of the object's and the body's shared_ptr (the body's holds the
// std::string itself).
constexpr size_t kPerObjectOverhead = sizeof(CachedObject) + sizeof(Entry) +
                                      (sizeof(void*) + sizeof(std::string_view) + sizeof(void*) + sizeof(size_t)) +
                                      (2 * sizeof(long) + sizeof(void*) + sizeof(void*)) +
                                      (2 * sizeof(long) + sizeof(void*) + sizeof(std::string));

using Released = std::vector<std::shared_ptr<const CachedObject>>;

void Fire(std::vector<std::shared_ptr<WaiterState>>& waiters, FillOutcome outcome,
          const std::shared_ptr<FillStream>& stream = nullptr) {
  for (const std::shared_ptr<WaiterState>& w : waiters) {
    std::lock_guard<std::mutex> lock(w->mu);
    if (w->callback) {
      std::function<void(FillOutcome)> callback = std::move(w->callback);
      w->callback = nullptr;
      w->stream = stream;
      callback(outcome);
    }
  }
}

}  // namespace

size_t ChargeOf(const CachedObject& o) {
  size_t n = kPerObjectOverhead + HeapBytes(o.key);
  n += o.headers.entries().capacity() * sizeof(http::Header);
  for (const http::Header& h : o.headers.entries()) n += HeapBytes(h.name) + HeapBytes(h.value);
  n += o.vary.capacity() * sizeof(std::string);
  for (const std::string& v : o.vary) n += HeapBytes(v);
  n += o.tags.capacity() * sizeof(std::string);
  for (const std::string& t : o.tags) n += HeapBytes(t);
  if (o.body != nullptr) n += HeapBytes(*o.body);
  return n;
}

class Shard {
 public:
  Shard(size_t capacity, const StoreOptions& options)
      : capacity_(capacity),
        small_target_(static_cast<size_t>(static_cast<double>(capacity) * options.small_fraction)),
        options_(options) {}

  // Everything below runs with mu held.
  std::mutex mu;

  std::shared_ptr<const CachedObject> FindLocked(std::string_view key) {
    auto it = map_.find(key);
    if (it == map_.end()) {
      ++misses;
      return nullptr;
    }
    Entry* e = it->second.get();
    if (e->freq < 3) ++e->freq;
    ++hits;
    return e->object;
  }

  size_t used() const { return small_.bytes + main_.bytes + reserved; }

  // Evicts until `needed` more bytes fit; false when they cannot.
  bool MakeRoom(size_t needed, Released& released) {
    if (needed > capacity_) return false;
    while (used() + needed > capacity_) {
      if (small_.empty() && main_.empty()) return false;  // only fills' reservations left
      EvictOne(released);
    }
    return true;
  }

  bool Reserve(size_t bytes, Released& released) {
    if (!MakeRoom(bytes, released)) return false;
    reserved += bytes;
    return true;
  }

  // Publishes `object` (its charge set), releasing `release` reserved bytes.
  bool PublishLocked(std::shared_ptr<const CachedObject> object, uint64_t hash, size_t release, Released& released) {
    reserved -= release;
    Queue queue = Queue::kSmall;
    uint8_t freq = 0;
    bool replacing = false;
    if (auto it = map_.find(object->key); it != map_.end()) {
      // A refresh keeps the old object's place and hits.
      queue = it->second->queue;
      freq = it->second->freq;
      replacing = true;
      EraseLocked(it->second.get(), released, /*ghost=*/false);
    }
    if (!MakeRoom(object->charge, released)) {
      ++rejected;
      return false;
    }
    if (!replacing) {
      if (auto g = ghost_.find(hash); g != ghost_.end()) {
        queue = Queue::kMain;  // seen recently enough: straight to main
        ghost_bytes_ -= g->second.charge;
        ghost_.erase(g);
      }
    }
    auto entry = std::make_unique<Entry>();
    Entry* e = entry.get();
    e->charge = object->charge;
    e->hash = hash;
    e->freq = freq;
    e->queue = queue;
    e->object = std::move(object);
    map_.emplace(std::string_view(e->object->key), std::move(entry));
    (queue == Queue::kSmall ? small_ : main_).PushHead(e);
    ++inserts;
    return true;
  }

  bool RemoveLocked(std::string_view key, Released& released) {
    auto it = map_.find(key);
    if (it == map_.end()) return false;
    EraseLocked(it->second.get(), released, false);
    return true;
  }

  size_t RemoveIfLocked(const std::function<bool(const CachedObject&)>& match, Released& released) {
    std::vector<Entry*> doomed;
    for (auto& [key, entry] : map_) {
      if (match(*entry->object)) doomed.push_back(entry.get());
    }
    for (Entry* e : doomed) EraseLocked(e, released, false);
    return doomed.size();
  }

  void RememberPass(const std::string& key, int64_t until) {
    auto [it, inserted] = passes_.try_emplace(key, until);
    it->second = until;
    if (inserted) pass_order_.push_back(key);
    while (pass_order_.size() > options_.max_pass_records_per_shard) {
      passes_.erase(pass_order_.front());
      pass_order_.pop_front();
    }
  }

  bool PassLocked(std::string_view key, int64_t now) {
    auto it = passes_.find(key);
    if (it == passes_.end()) return false;
    if (it->second > now) return true;
    // Expired: forgotten (its order record goes when it reaches the front).
    passes_.erase(it);
    return false;
  }

  bool CheckLocked() const {
    size_t bytes[2] = {0, 0}, count[2] = {0, 0};
    for (int q = 0; q < 2; ++q) {
      const Fifo& fifo = q == 0 ? small_ : main_;
      const Entry* newer = nullptr;
      for (const Entry* e = fifo.head; e != nullptr; e = e->older) {
        if (e->newer != newer || e->queue != (q == 0 ? Queue::kSmall : Queue::kMain)) return false;
        if (e->charge != e->object->charge) return false;
        auto it = map_.find(e->object->key);
        if (it == map_.end() || it->second.get() != e) return false;
        bytes[q] += e->charge;
        ++count[q];
        newer = e;
      }
      if (newer != fifo.tail) return false;
    }
    return bytes[0] == small_.bytes && bytes[1] == main_.bytes && count[0] == small_.count &&
           count[1] == main_.count && count[0] + count[1] == map_.size() && used() <= capacity_;
  }

  std::unordered_map<std::string, std::shared_ptr<FillRecord>, TransparentHash, std::equal_to<>> fills;
  size_t reserved = 0;
  uint64_t hits = 0, misses = 0, inserts = 0, evictions = 0, rejected = 0, abandoned = 0, waits = 0;
  size_t bytes() const { return small_.bytes + main_.bytes; }
  size_t objects() const { return map_.size(); }

 private:
  struct Ghost {
    uint64_t sequence;
    size_t charge;
  };
  struct GhostRecord {
    uint64_t hash;
    uint64_t sequence;
  };

  void EraseLocked(Entry* e, Released& released, bool ghost) {
    (e->queue == Queue::kSmall ? small_ : main_).Remove(e);
    if (ghost) AddGhost(e->hash, e->charge);
    const std::string_view key = e->object->key;
    released.push_back(std::move(e->object));  // keeps `key` valid, freed after the lock
    map_.erase(key);
  }

  void AddGhost(uint64_t hash, size_t charge) {
    const uint64_t sequence = ++ghost_sequence_;
    auto [it, inserted] = ghost_.try_emplace(hash, Ghost{sequence, charge});
    if (!inserted) {
      ghost_bytes_ -= it->second.charge;
      it->second = Ghost{sequence, charge};
    }
    ghost_bytes_ += charge;
    ghost_fifo_.push_back(GhostRecord{hash, sequence});
    // The ghost remembers about as many bytes as the main FIFO holds.
    const size_t main_target = capacity_ - small_target_;
    while (!ghost_fifo_.empty() && (ghost_bytes_ > main_target || ghost_fifo_.size() > 4 * ghost_.size() + 64)) {
      const GhostRecord oldest = ghost_fifo_.front();
      ghost_fifo_.pop_front();
      auto g = ghost_.find(oldest.hash);
      if (g != ghost_.end() && g->second.sequence == oldest.sequence) {
        ghost_bytes_ -= g->second.charge;
        ghost_.erase(g);
      }
    }
  }

  void EvictOne(Released& released) {
    if (!small_.empty() && (small_.bytes >= small_target_ || main_.empty())) {
      Entry* t = small_.tail;
      small_.Remove(t);
      if (t->freq >= options_.move_to_main_hits) {
        // Hit while in the small FIFO: worth keeping.
        t->freq = 0;
        t->queue = Queue::kMain;
        main_.PushHead(t);
        return;
      }
      // Not hit while in the small FIFO: out, but remembered in the ghost.
      small_.PushHead(t);  // back in its queue for EraseLocked to take out
      EraseLocked(t, released, /*ghost=*/true);
      ++evictions;
      return;
    }
    // Main: reinsert while hit (each pass costs a hit), evict the first
    // that was not. Terminates: every reinsertion decrements a counter.
    while (!main_.empty()) {
      Entry* t = main_.tail;
      if (t->freq > 0) {
        --t->freq;
        main_.Remove(t);
        main_.PushHead(t);
        continue;
      }
      EraseLocked(t, released, false);
      ++evictions;
      return;
    }
  }

  const size_t capacity_;
  const size_t small_target_;
  const StoreOptions& options_;
  std::unordered_map<std::string_view, std::unique_ptr<Entry>, TransparentHash> map_;
  Fifo small_, main_;
  std::unordered_map<uint64_t, Ghost> ghost_;
  std::deque<GhostRecord> ghost_fifo_;
  size_t ghost_bytes_ = 0;
  uint64_t ghost_sequence_ = 0;
  std::unordered_map<std::string, int64_t, TransparentHash, std::equal_to<>> passes_;
  std::deque<std::string> pass_order_;
};

// ---------------------------------------------------------------- Store

uint64_t Store::HashKey(std::string_view key) { return balancer::Hash64(key, 0x5eed); }

Store::Store(const StoreOptions& options) : options_(options) {
  size_t n = 1;
  while (n * 2 <= std::max<size_t>(options.shards, 1)) n *= 2;
  // Each shard must hold at least one object of the largest size.
  const size_t max_object = std::max<size_t>(options.max_object_bytes, 1);
  while (n > 1 && options.capacity_bytes / n < max_object) n /= 2;
  shard_capacity_ = options.capacity_bytes / n;
  max_object_bytes_ = std::min(max_object, shard_capacity_);
  for (size_t i = 0; i < n; ++i) shards_.push_back(std::make_unique<Shard>(shard_capacity_, options_));
}

Store::~Store() = default;

namespace {
StoreOptions& ProcessWideOptions() {
  static StoreOptions options;
  return options;
}
}  // namespace

void Store::ConfigureProcessWide(const StoreOptions& options) { ProcessWideOptions() = options; }

Store& Store::ProcessWide() {
  static Store* store = new Store(ProcessWideOptions());  // never destroyed: workers may outlive main's statics
  return *store;
}

Shard& Store::ShardOf(uint64_t hash) const {
  // The high bits: the map inside the shard hashes the key again.
  return *shards_[(hash >> 40) & (shards_.size() - 1)];
}

std::shared_ptr<const CachedObject> Store::Find(std::string_view key) {
  Shard& shard = ShardOf(HashKey(key));
  std::lock_guard<std::mutex> lock(shard.mu);
  return shard.FindLocked(key);
}

Admission Store::Admit(std::string_view key, int64_t now, std::function<void(FillOutcome)> on_done, AdmitMode mode) {
  Shard& shard = ShardOf(HashKey(key));
  Admission out;
  std::shared_ptr<WaiterState> waiter;
  std::shared_ptr<FillRecord> record;
  {
    std::lock_guard<std::mutex> lock(shard.mu);
    if (mode == AdmitMode::kMiss) {
      out.object = shard.FindLocked(key);
      if (out.object != nullptr) {
        out.kind = Admission::kHit;
        return out;
      }
    }
    if (shard.PassLocked(key, now)) {
      out.kind = Admission::kPass;
      return out;
    }
    if (auto it = shard.fills.find(key); it != shard.fills.end()) {
      if (it->second->stream != nullptr) {
        // Its body is arriving: read it (no waiter list, no bound: a
        // reader costs the fill nothing).
        ++shard.waits;
        out.kind = Admission::kStream;
        out.stream = it->second->stream;
        return out;
      }
      if (it->second->waiters.size() >= options_.max_waiters_per_fill) {
        out.kind = Admission::kBusy;
        return out;
      }
      waiter = std::make_shared<WaiterState>();
      waiter->callback = std::move(on_done);
      it->second->waiters.push_back(waiter);
      record = it->second;
      ++shard.waits;
      out.kind = Admission::kWait;
    } else {
      record = std::make_shared<FillRecord>();
      shard.fills.emplace(std::string(key), record);
      out.kind = Admission::kFill;
    }
  }
  if (out.kind == Admission::kWait) {
    out.wait = std::make_unique<Wait>(std::move(waiter), &shard, std::move(record));
  } else {
    out.fill = std::make_unique<Fill>(this, &shard, std::move(record), std::string(key));
  }
  return out;
}

bool Store::Insert(std::shared_ptr<CachedObject> object) {
  if (object == nullptr || object->body == nullptr) return false;
  object->sequence = NextSequence();
  object->charge = ChargeOf(*object);
  if (object->body->size() > max_object_bytes_) return false;  // passes through
  const uint64_t hash = HashKey(object->key);
  Shard& shard = ShardOf(hash);
  std::shared_ptr<const CachedObject> published = object;
  bool ok;
  {
    Released released;  // destroyed after the lock (declared before it)
    std::lock_guard<std::mutex> lock(shard.mu);
    ok = shard.PublishLocked(std::move(object), hash, 0, released);
  }
  if (ok) WroteThrough(published);
  return ok;
}

void Store::WroteThrough(const std::shared_ptr<const CachedObject>& published) {
  if (lower_tier_ != nullptr) lower_tier_->Published(published);
}

bool Store::Remove(std::string_view key) {
  if (lower_tier_ != nullptr) lower_tier_->Removed(key);
  Shard& shard = ShardOf(HashKey(key));
  Released released;
  std::lock_guard<std::mutex> lock(shard.mu);
  return shard.RemoveLocked(key, released);
}

size_t Store::RemovePrefix(std::string_view prefix) {
  return RemoveIf([prefix](const CachedObject& object) { return object.key.starts_with(prefix); });
}

size_t Store::RemoveIf(const std::function<bool(const CachedObject&)>& match) {
  if (lower_tier_ != nullptr) lower_tier_->RemovedIf(match);
  size_t removed = 0;
  for (const auto& shard : shards_) {
    // Destroyed after the lock is released: a last reference to a large
    // body is freed outside it.
    Released released;
    std::lock_guard<std::mutex> lock(shard->mu);
    removed += shard->RemoveIfLocked(match, released);
  }
  return removed;
}

StoreStats Store::stats() const {
  StoreStats s;
  for (const auto& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard->mu);
    s.hits += shard->hits;
    s.misses += shard->misses;
    s.inserts += shard->inserts;
    s.evictions += shard->evictions;
    s.rejected += shard->rejected;
    s.fills_abandoned += shard->abandoned;
    s.coalesced_waits += shard->waits;
    s.bytes += shard->bytes();
    s.reserved_bytes += shard->reserved;
    s.objects += shard->objects();
  }
  return s;
}

bool Store::CheckInvariants() const {
  for (const auto& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard->mu);
    if (!shard->CheckLocked()) return false;
  }
  return true;
}

// ----------------------------------------------------------------- Wait

Wait::Wait(std::shared_ptr<WaiterState> state, Shard* shard, std::shared_ptr<FillRecord> record)
    : state_(std::move(state)), shard_(shard), record_(record) {}

Wait::~Wait() {
  if (std::shared_ptr<FillRecord> record = record_.lock()) {
    std::lock_guard<std::mutex> lock(shard_->mu);
    std::erase(record->waiters, state_);
  }
  // Waits for a callback running right now; none runs after this.
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->callback = nullptr;
}

std::shared_ptr<FillStream> Wait::stream() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->stream;
}

// ----------------------------------------------------------------- Fill

Fill::Fill(Store* store, Shard* shard, std::shared_ptr<FillRecord> record, std::string key)
    : store_(store), shard_(shard), record_(std::move(record)), key_(std::move(key)) {}

Fill::~Fill() {
  if (!finished_) Abandon();
}

bool Fill::Reserve(size_t total) {
  if (total <= reserved_) return true;
  Released released;
  std::lock_guard<std::mutex> lock(shard_->mu);
  if (!shard_->Reserve(total - reserved_, released)) {
    ++shard_->rejected;
    return false;
  }
  reserved_ = total;
  return true;
}

bool Fill::Begin(CachedObject head, int64_t expected_length) {
  if (finished_ || object_ != nullptr) return false;
  if (expected_length >= 0 && static_cast<uint64_t>(expected_length) > store_->max_object_bytes()) {
    Abandon();
    return false;
  }
  object_ = std::make_unique<CachedObject>(std::move(head));
  object_->key = key_;
  object_->body = nullptr;
  expected_length_ = expected_length;
  // The head's charge, plus the whole body when its length is known (one
  // allocation of exactly that size: the buffer never moves, so it can
  // stream to waiters).
  const size_t head_charge = ChargeOf(*object_);
  size_t body_capacity = 0;
  if (expected_length > 15) body_capacity = static_cast<size_t>(expected_length) + 1;
  if (!Reserve(head_charge + body_capacity)) {
    Abandon();
    return false;
  }
  std::shared_ptr<const CachedObject> stream_head;
  if (expected_length >= 0) {
    // What the waiters answer with: the head, its body the stream's.
    auto shared_head = std::make_shared<CachedObject>(*object_);
    shared_head->body = std::make_shared<const std::string>();
    stream_head = std::move(shared_head);
  }
  stream_ = std::make_shared<FillStream>(std::move(stream_head), expected_length);
  if (expected_length > 0) stream_->Reserve(static_cast<size_t>(expected_length));
  if (!Reserve(head_charge + HeapBytes(*stream_->buffer()))) {
    Abandon();
    return false;
  }
  if (expected_length < 0) return true;  // not streamed to waiters (store.h)
  std::vector<std::shared_ptr<WaiterState>> waiters;
  {
    std::lock_guard<std::mutex> lock(shard_->mu);
    record_->stream = stream_;
    waiters = std::move(record_->waiters);
    record_->waiters.clear();
  }
  Fire(waiters, FillOutcome::kStreaming, stream_);
  return true;
}

bool Fill::Append(std::string_view bytes) {
  if (finished_ || object_ == nullptr) return false;
  const size_t size = stream_->size();
  const size_t need = size + bytes.size();
  if (need > store_->max_object_bytes() ||
      (expected_length_ >= 0 && need > static_cast<uint64_t>(expected_length_))) {
    Abandon();
    return false;
  }
  const size_t capacity = stream_->capacity();
  if (need > capacity) {
    // Unknown length: grow geometrically (at most the maximum object size),
    // reserving the new capacity before allocating it.
    const size_t target = std::max(need, std::min(store_->max_object_bytes(), std::max<size_t>(2 * capacity, 16384)));
    const size_t head_charge = reserved_ - HeapBytes(*stream_->buffer());
    if (!Reserve(head_charge + target + 1)) {
      Abandon();
      return false;
    }
    stream_->Reserve(target);
    if (!Reserve(head_charge + HeapBytes(*stream_->buffer()))) {
      Abandon();
      return false;
    }
  }
  stream_->Append(bytes);
  return true;
}

std::shared_ptr<const CachedObject> Fill::Commit() {
  if (finished_ || object_ == nullptr) return nullptr;
  if (expected_length_ >= 0 && stream_->size() != static_cast<uint64_t>(expected_length_)) {
    Abandon();  // truncated: never stored, and its readers fail
    return nullptr;
  }
  // Geometric growth left spare capacity: keep an exact copy instead.
  stream_->ShrinkToFit();
  // The stream's buffer is the body: the bytes the waiters read, no copy.
  object_->body = stream_->buffer();
  object_->sequence = store_->NextSequence();
  object_->charge = ChargeOf(*object_);
  std::shared_ptr<const CachedObject> published(std::move(object_));
  std::vector<std::shared_ptr<WaiterState>> waiters;
  bool ok;
  {
    Released released;
    const uint64_t hash = Store::HashKey(key_);
    std::lock_guard<std::mutex> lock(shard_->mu);
    auto it = shard_->fills.find(key_);
    if (it != shard_->fills.end() && it->second == record_) shard_->fills.erase(it);
    waiters = std::move(record_->waiters);
    // The reservation becomes the object's charge (it may differ by a few
    // bytes: the shrink above, the fixed overhead).
    ok = shard_->PublishLocked(published, hash, reserved_, released);
    if (!ok) ++shard_->abandoned;
  }
  reserved_ = 0;
  finished_ = true;
  // Every byte arrived: the readers' responses are complete, stored or not.
  stream_->End(FillStream::State::kComplete);
  if (ok) store_->WroteThrough(published);
  Fire(waiters, ok ? FillOutcome::kPublished : FillOutcome::kAbandoned);
  return ok ? published : nullptr;
}

void Fill::Abandon() {
  if (finished_) return;
  Finish(FillOutcome::kAbandoned, 0);
}

void Fill::Uncacheable(int64_t pass_until) {
  if (finished_) return;
  Finish(FillOutcome::kUncacheable, pass_until);
}

void Fill::Finish(FillOutcome outcome, int64_t pass_until) {
  std::vector<std::shared_ptr<WaiterState>> waiters;
  {
    std::lock_guard<std::mutex> lock(shard_->mu);
    auto it = shard_->fills.find(key_);
    if (it != shard_->fills.end() && it->second == record_) shard_->fills.erase(it);
    waiters = std::move(record_->waiters);
    shard_->reserved -= reserved_;
    if (outcome == FillOutcome::kUncacheable) shard_->RememberPass(key_, pass_until);
    if (outcome == FillOutcome::kAbandoned) ++shard_->abandoned;
  }
  reserved_ = 0;
  finished_ = true;
  object_.reset();
  // Its readers fail (their responses are cut, never complete-looking);
  // the buffer goes with the last of them.
  if (stream_ != nullptr) stream_->End(FillStream::State::kFailed);
  stream_.reset();
  Fire(waiters, outcome);
}

}  // namespace sluice::cache
