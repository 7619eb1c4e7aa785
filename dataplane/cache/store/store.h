#pragma once
// The response cache's memory tier: one Store per proxy process, shared by
// every worker thread.
//
// Sharding and locking. Keys are spread over N shards (a power of two) by
// a stable 64-bit hash. Each shard has its own small mutex, held only for
// hash-map and list operations (a lookup: one probe, a reference count and
// a frequency bump, a few hundred ns; an insert: the same plus the
// evictions it needs, whose objects are released after the lock is
// dropped). Nothing under a shard lock allocates a body, copies bytes,
// does I/O or calls back into the caller. There is no global lock: the
// byte budget is split evenly over the shards, so an insert only ever
// evicts from its own shard.
//
// Accounting. Every published object is charged ChargeOf(object) (key,
// fields, Vary names, body capacity and a fixed per-entry overhead), and a
// fill in progress reserves its bytes before it appends them, so for every
// shard  small + main + reserved <= capacity / N  at all times and the
// store never holds more than its budget. An evicted object still being
// streamed to a client stays alive (shared_ptr) but is no longer counted:
// its memory is bounded by what those clients read, as any response body.
// So does the buffer of an abandoned fill that waiters were streaming: it
// goes when the last of them saw the failure (at its next read).
//
// Eviction: S3-FIFO (Yang et al., SOSP 2023). A new object enters the
// small FIFO (10% of the shard's bytes); an object at the small FIFO's tail
// that was hit at least once since it entered moves to the main FIFO, the
// others leave and their key hashes enter a ghost FIFO (bounded by the
// main FIFO's bytes). An insert whose key is in the ghost goes straight to
// main. The main FIFO's tail is reinserted at its head while its hit
// counter (0..3) is above 0, decrementing it; else it is evicted. Lookups
// only bump a counter: no list is touched on a hit. bench/cache_hit_ratio
// compares its hit ratio with LRU on Zipf traces.
//
// Fills and coalescing. A miss asks Admit(): the first caller for a key
// gets a Fill (the entry under construction: head first, then the body
// appended as it streams from the origin, published by Commit() when the
// response is complete, abandoned on any error so nobody ever sees a
// truncated object). Callers that come while the fill runs are waiters:
// their callback is called once the fill streams or ends (streaming: read
// the body from Wait::stream() as it arrives; published: look up again;
// abandoned: look up again, one of them becomes the next filler;
// uncacheable: go to the origin, and the key is remembered as
// "hit-for-pass" until a deadline so later misses do not queue behind
// each other). Waiters per fill are bounded; beyond the bound a caller is
// told kBusy and goes to the origin uncoalesced.
//
// Streaming to waiters (fill_stream.h). Once Begin() knows the response
// is storable and its length (Content-Length, at most the maximum object
// size), the fill's FillStream holds the head and the body bytes as they
// are appended, in the one buffer that becomes the object's body (no copy
// per waiter, none at Commit). The waiters are then told kStreaming, and a
// miss admitted later gets kStream at once: both read the stream from
// their own thread at their own pace (a slow reader holds the buffer, never
// the fill). Commit() ends the stream complete, Abandon() failed: a reader
// that had bytes sees its response fail (the exchange cuts it: connection
// closed, RST_STREAM), never a complete-looking truncated body. A body of
// unknown length (chunked, close-delimited) is not streamed to waiters:
// it may outgrow the maximum object size, and a waiter already answered
// could then not go to the origin; its waiters wait for the end as before.
//
// Vary. A response without Vary is stored at its primary key. A response
// with Vary is stored at primary + '\x1f' + SecondaryKey (policy.h), and a
// small "Vary marker" object (vary_marker, the Vary names, no body) at the
// primary key. A lookup finds the marker, computes the request's secondary
// key from its names and looks the variant up. A variant whose sequence is
// lower than its marker's is not used: invalidating or purging the primary
// key (which removes the marker) thereby retires every variant at once, and
// so does a marker replaced because Vary changed; they age out of the
// FIFOs like any unused object.
//
// ----------------------------------------------------------------------
// How the pipeline uses it (stages kCacheLookup = 70 and kCacheStore =
// 140, dataplane/pipeline/cache_stage.cc). Wired: lookup, fills, kWait
// (the re-run lookup on wake-up happens in the wake-up itself, which sets
// ExchangeState::reply_when_resumed to answer), stale-if-error. Not yet:
// kRevalidate's conditional request and 304, Range, background
// revalidation, the disk tier.
//
// Route configuration (compiled with the snapshot): a CachePolicy
// (policy.h), the key recipe, bypass conditions, methods; a
// std::shared_ptr<Store> owned by the proxy process (created in proxy_main
// from --cache-memory / --cache-max-object-size when any route caches),
// reached from the stage through the compiled snapshot, carried over
// snapshot swaps like the rate-limit bucket table.
//
// Lookup stage (70), OnRequestHead:
//   - bypass (method not cacheable, a bypass cookie/header, request
//     no-store): kContinue, Cache-Status fwd=bypass|method.
//   - Find(primary); a marker -> SecondaryKey(marker->vary) -> Find(variant).
//   - a usable hit (policy Evaluate: kFresh / kStaleAllowed /
//     kStaleWhileRevalidate): state.reply = a LocalReply whose body is a
//     MemoryBodySource(std::shared_ptr<const std::string>(object->body),
//     offset, length) (no copy: the object's bytes are shared, a Range
//     request gets offset/length or a SequenceBodySource of parts), fields
//     from object->headers plus Age (AgeValue(CurrentAge(...))) and
//     Cache-Status; HEAD and 304 for a matching conditional request as
//     head_only replies; kReply. For kStaleWhileRevalidate it also starts a
//     background revalidation (Admit(kRevalidate); only the caller that got
//     the Fill sends the conditional request, detached from the client).
//   - a miss or kRevalidate: Admit(key, now, callback).
//       kFill: keep the Fill in the stage's StageData (slot kCacheData);
//              for kRevalidate add If-None-Match / If-Modified-Since from
//              the stored object (state.AddField); kContinue.
//       kWait: keep the Wait handle in the StageData, return kPause. The
//              callback runs on the filling worker's thread: it only
//              Post()s to this exchange's EventLoop a closure holding a
//              weak reference to the StageData; on the loop, if the
//              exchange is still alive, it records the outcome and calls
//              state.resumer->Resume(). The chain then goes on with the
//              next stage: the lookup stage's own work after the wait is
//              done by a second lookup at resume time (the paused hook's
//              outcome in StageData makes the exchange re-run the lookup
//              through a `retry_lookup` flag: a hit replies, a pass or an
//              abandoned fill continues to the origin). The StageData's
//              destructor destroys the Wait, which cancels it (after that
//              the callback never runs), so a client that goes away never
//              leaves a dangling resumer.
//       kPass / kBusy: kContinue, no fill.
//   - only-if-cached without a usable object: 504 (RFC 9111 §5.2.1.7).
//
// Store stage (140): OnResponseHead with a Fill in the StageData: the
// head the client gets (after compression: a compressed variant is stored
// under its Vary) is judged by MayStore; not storable -> Uncacheable(now +
// hit_for_pass) (waiters go to the origin at once); storable ->
// Begin(object without body, Content-Length or -1). A 304 answering a
// revalidation: UpdateFrom304 into a new object sharing the old body
// (Insert), and the client gets the stored response. An origin error with
// a stale object and MayServeStaleOnError: the stored object is answered
// instead (on the response head hook, before the head left).
// OnResponseBody: Append(chunk) (the chunk still goes to the client as it
// is: a tee, no copy besides the one into the object); a failed Append
// (over --cache-max-object-size, no room) abandons only the fill.
// OnResponseEnd: Commit(); then the Vary marker when the response varies.
// OnComplete: a Fill still open (client gone, upstream truncated or reset)
// is abandoned by its destructor. A client that goes away mid-response
// therefore also abandons the fill (cleanly: waiters streaming it see their
// responses cut, the others go to the origin, nothing is stored); keeping
// the upstream read going for the waiters' sake ("background fill") needs
// the exchange to detach the upstream from the client and is left for
// later.
// Unsafe methods: InvalidationTargets() -> Remove() each, on the response
// head hook of a 2xx/3xx.
//
// Disk tier (dataplane/cache/disk, a LowerTier): every published object is
// written through to one file under --cache-dir by the disk tier's own
// writer thread (never an event loop), and removals reach it too; entries
// survive a restart (the index is rebuilt by a scan at start). A memory
// miss that hits the disk index is opened on the I/O pool and answered by
// a FileBodySource over the file's body (sendfile on plain HTTP/1.1): see
// cache_stage.cc. Its bytes are accounted against --cache-disk-size,
// separately from this budget.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/cache/store/cached_object.h"
#include "dataplane/cache/store/fill_stream.h"

namespace sluice::cache {

struct StoreOptions {
  size_t capacity_bytes = 256u << 20;
  // Objects larger than this are never stored (they pass through). Also
  // at most one shard's budget.
  size_t max_object_bytes = 8u << 20;
  // At most this many shards (a power of two), fewer when the budget is so
  // small that a shard could not hold one max_object_bytes object.
  size_t shards = 16;
  // S3-FIFO: the small FIFO's share of the bytes, and how many hits an
  // object needs while in it to move to the main FIFO.
  double small_fraction = 0.10;
  uint8_t move_to_main_hits = 1;
  // Coalescing: waiters per fill, and hit-for-pass records per shard (the
  // oldest forgotten first).
  size_t max_waiters_per_fill = 4096;
  size_t max_pass_records_per_shard = 4096;
};

struct StoreStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t inserts = 0;
  uint64_t evictions = 0;
  uint64_t rejected = 0;         // too large, or no room
  uint64_t fills_abandoned = 0;
  uint64_t coalesced_waits = 0;
  uint64_t bytes = 0;            // charged by published objects
  uint64_t reserved_bytes = 0;   // reserved by fills in progress
  uint64_t objects = 0;
};

enum class FillOutcome : uint8_t {
  kStreaming,    // the response is storable: read it from Wait::stream() as it arrives
  kPublished,    // look up again: the object is there (unless evicted at once)
  kAbandoned,    // the fill failed: look up again (maybe fill yourself)
  kUncacheable,  // go to the origin; do not wait for this key for a while
};

class Store;
class Shard;

// A tier below the memory store (the disk tier, dataplane/cache/disk),
// told without any store lock held of every object the store publishes
// (a committed fill, an Insert) and of every removal (invalidation,
// purge), so that it writes through and forgets what was removed. An
// eviction from memory is not a removal: the lower tier keeps its copy.
// Its calls must not block on I/O (they run on event loops).
class LowerTier {
 public:
  virtual ~LowerTier() = default;
  virtual void Published(const std::shared_ptr<const CachedObject>& object) = 0;
  virtual void Removed(std::string_view key) = 0;
  virtual void RemovedIf(const std::function<bool(const CachedObject&)>& match) = 0;
};
struct FillRecord;
struct WaiterState;

// A caller waiting for another request's fill. Destroying it cancels the
// wait: once the destructor returned, the callback is not running and
// never will. The callback must not destroy its own Wait.
class Wait {
 public:
  explicit Wait(std::shared_ptr<WaiterState> state, Shard* shard, std::shared_ptr<FillRecord> record);
  ~Wait();
  Wait(const Wait&) = delete;
  Wait& operator=(const Wait&) = delete;
  // After a kStreaming callback: the fill's bytes as they arrive.
  std::shared_ptr<FillStream> stream() const;

 private:
  std::shared_ptr<WaiterState> state_;
  Shard* shard_;
  std::weak_ptr<FillRecord> record_;
};

// The entry under construction for one key, owned by the exchange that
// fetches it. Not thread-safe (one owner); the store is.
class Fill {
 public:
  Fill(Store* store, Shard* shard, std::shared_ptr<FillRecord> record, std::string key);
  ~Fill();  // abandons a fill that was not finished
  Fill(const Fill&) = delete;
  Fill& operator=(const Fill&) = delete;

  const std::string& key() const { return key_; }
  // The response head is known: `head` (key, status, fields, times,
  // freshness, vary; its body is ignored), the body's length when known
  // (Content-Length) or -1. False when it cannot be stored (too large, no
  // room): the fill is then abandoned.
  bool Begin(CachedObject head, int64_t expected_length);
  // Appends body bytes. False when the object grew over the maximum size,
  // beyond its Content-Length, or there is no room: the fill is abandoned.
  bool Append(std::string_view bytes);
  // The response is complete: publishes the object (replacing any object
  // at the key) and tells the waiters. Null when the fill was abandoned, the
  // body is shorter than its Content-Length (truncated), or no room.
  std::shared_ptr<const CachedObject> Commit();
  // The fill failed (upstream error, truncated response, client gone).
  void Abandon();
  // The response is not cacheable: waiters go to the origin now and the
  // key answers kPass until `pass_until` (seconds, as Admit's `now`).
  void Uncacheable(int64_t pass_until);
  bool finished() const { return finished_; }
  bool begun() const { return object_ != nullptr; }

 private:
  bool Reserve(size_t total);
  void Finish(FillOutcome outcome, int64_t pass_until);

  Store* store_;
  Shard* shard_;
  std::shared_ptr<FillRecord> record_;
  std::string key_;
  std::unique_ptr<CachedObject> object_;
  // The body as it arrives (shared with the waiters when it streams to them).
  std::shared_ptr<FillStream> stream_;
  int64_t expected_length_ = -1;
  size_t reserved_ = 0;  // bytes reserved in the shard
  bool finished_ = false;
};

struct Admission {
  enum Kind : uint8_t {
    kHit,    // an object is there (kMiss mode only): `object`
    kFill,   // you fetch it: `fill`
    kWait,   // another request fetches it: `wait`; your callback says when it streams or is done
    kStream, // another request fetches it and its body is arriving: read `stream`
    kPass,   // the key was found uncacheable recently: go to the origin
    kBusy,   // too many waiters: go to the origin without waiting
  } kind = kPass;
  std::shared_ptr<const CachedObject> object;
  std::unique_ptr<Fill> fill;
  std::unique_ptr<Wait> wait;
  std::shared_ptr<FillStream> stream;
};

enum class AdmitMode : uint8_t {
  kMiss,        // a hit if an object appeared meanwhile
  kRevalidate,  // a stored object is there but needs validation: fill anyway
};

class Store {
 public:
  explicit Store(const StoreOptions& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // The object at `key`, or null. A hit bumps its S3-FIFO counter.
  std::shared_ptr<const CachedObject> Find(std::string_view key);
  // See the header comment. `on_done` is called at most once, from the
  // thread that finishes the fill, without any store lock held; it should
  // only hand the outcome to the waiter's own thread (EventLoop::Post).
  Admission Admit(std::string_view key, int64_t now, std::function<void(FillOutcome)> on_done,
                  AdmitMode mode = AdmitMode::kMiss);
  // Publishes a complete object at once (a 304's updated fields over the
  // same body, a Vary marker). False when it is too large or no room.
  bool Insert(std::shared_ptr<CachedObject> object);
  // Removes the object at `key` (invalidation, purge); true if there was one.
  bool Remove(std::string_view key);
  // Removes every object whose key starts with `prefix` (admin purge: walks
  // every shard, one at a time). Returns how many.
  size_t RemovePrefix(std::string_view prefix);
  // Removes every object `match` selects (admin purge by URL, prefix or
  // tag: walks every shard, one at a time, holding its lock while `match`
  // runs). Returns how many.
  size_t RemoveIf(const std::function<bool(const CachedObject&)>& match);

  StoreStats stats() const;
  size_t capacity_bytes() const { return shard_capacity_ * shards_.size(); }
  size_t shard_count() const { return shards_.size(); }
  size_t max_object_bytes() const { return max_object_bytes_; }
  const StoreOptions& options() const { return options_; }
  // Checks every shard's lists and counters against each other (tests).
  bool CheckInvariants() const;

  static uint64_t HashKey(std::string_view key);

  // The tier below (set once, before the workers start), or null.
  void set_lower_tier(LowerTier* tier) { lower_tier_ = tier; }
  LowerTier* lower_tier() const { return lower_tier_; }

  // The proxy's one store, shared by every worker and every route that
  // caches (created on first use with the options last given to
  // ConfigureProcessWide, which proxy_main calls before the workers start;
  // memory is only taken as objects arrive).
  static void ConfigureProcessWide(const StoreOptions& options);
  static Store& ProcessWide();

 private:
  friend class Fill;
  Shard& ShardOf(uint64_t hash) const;
  uint64_t NextSequence() { return sequence_.fetch_add(1, std::memory_order_relaxed) + 1; }
  // Hands a published object to the lower tier (no lock held).
  void WroteThrough(const std::shared_ptr<const CachedObject>& published);

  StoreOptions options_;
  size_t shard_capacity_ = 0;
  size_t max_object_bytes_ = 0;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<uint64_t> sequence_{0};
  LowerTier* lower_tier_ = nullptr;
};

}  // namespace sluice::cache
