#include "dataplane/ratelimit/redis_limiter.h"

#include <hiredis/hiredis.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "dataplane/common/log.h"

namespace sluice::ratelimit {
namespace {

// Leases up to ARGV[3] tokens from the GCRA bucket KEYS[1] (emission
// interval ARGV[1] and tolerance ARGV[2], microseconds), on Redis's clock.
// Returns {granted, microseconds until one more token}; the key expires
// once its bucket is full again.
constexpr const char* kLeaseScript = R"(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local granted = math.floor((now + tolerance + interval - tat) / interval)
if granted > want then granted = want end
if granted < 0 then granted = 0 end
if granted > 0 then
  tat = tat + granted * interval
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
end
local wait = tat - now - tolerance
if wait < 0 then wait = 0 end
return {granted, wait}
)";

constexpr int64_t kIdleLeaseUs = 10 * 1000000;  // a lease unused this long may be given to another key
constexpr size_t kProbe = 8;
constexpr size_t kQueueSize = 4096;
constexpr size_t kMaxBatch = 256;

// "sluice:rl:" and the key in 16 hex digits, into `out` (reused: no
// allocation, no printf, per lease).
void RedisKey(uint64_t key, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.assign("sluice:rl:0000000000000000");
  for (size_t i = out.size(); key != 0; key >>= 4) out[--i] = kHex[key & 15];
}

}  // namespace

// One key's leased tokens: a cache line of atomics, shared by the workers
// (taking tokens) and the Redis thread (adding them).
struct alignas(64) RedisLimiter::Lease {
  std::atomic<uint64_t> key{0};
  std::atomic<int64_t> tokens{0};
  std::atomic<int64_t> denied_until_us{0};
  std::atomic<int64_t> last_used_us{0};
  std::atomic<uint32_t> refill_pending{0};
  std::atomic<uint32_t> answered{0};  // Redis answered for this key at least once
  std::atomic<int64_t> before_first_answer{0};  // requests let through before it
};

struct RedisLimiter::Refill {
  Lease* lease = nullptr;
  uint64_t key = 0;
  GcraLimit gcra;
  int64_t want = 0;
};

// A bounded multi-producer queue (Vyukov's): each cell has a sequence
// number, producers claim a position with one CAS; one consumer.
class RedisLimiter::Queue {
 public:
  Queue() {
    for (size_t i = 0; i < kQueueSize; ++i) cells_[i].sequence.store(i, std::memory_order_relaxed);
  }
  bool Push(const Refill& refill) {
    size_t position = tail_.load(std::memory_order_relaxed);
    for (;;) {
      Cell& cell = cells_[position % kQueueSize];
      size_t sequence = cell.sequence.load(std::memory_order_acquire);
      intptr_t difference = static_cast<intptr_t>(sequence) - static_cast<intptr_t>(position);
      if (difference == 0) {
        if (tail_.compare_exchange_weak(position, position + 1, std::memory_order_relaxed)) {
          cell.refill = refill;
          cell.sequence.store(position + 1, std::memory_order_release);
          return true;
        }
      } else if (difference < 0) {
        return false;  // full
      } else {
        position = tail_.load(std::memory_order_relaxed);
      }
    }
  }
  bool Pop(Refill& out) {
    Cell& cell = cells_[head_ % kQueueSize];
    size_t sequence = cell.sequence.load(std::memory_order_acquire);
    if (static_cast<intptr_t>(sequence) - static_cast<intptr_t>(head_ + 1) < 0) return false;  // empty
    out = cell.refill;
    cell.sequence.store(head_ + kQueueSize, std::memory_order_release);
    ++head_;
    return true;
  }

 private:
  struct Cell {
    std::atomic<size_t> sequence;
    Refill refill;
  };
  Cell cells_[kQueueSize];
  alignas(64) std::atomic<size_t> tail_{0};
  alignas(64) size_t head_ = 0;  // the Redis thread's only
};

// The Redis thread's connection: blocking socket with send/receive
// timeouts, optionally TLS; hiredis's reader parses the replies.
class RedisLimiter::Connection {
 public:
  explicit Connection(const RedisOptions& options) : options_(options) {}
  ~Connection() { Close(); }

  Status Open() {
    Close();
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (getaddrinfo(options_.host.c_str(), std::to_string(options_.port).c_str(), &hints, &found) != 0 || !found) {
      return Status::Error("cannot resolve " + options_.host);
    }
    // Each address in turn ("localhost" may give ::1 before 127.0.0.1).
    for (addrinfo* address = found; address != nullptr && fd_ < 0; address = address->ai_next) {
      fd_ = socket(address->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (fd_ < 0) continue;
      int rc = connect(fd_, address->ai_addr, address->ai_addrlen);
      pollfd p{fd_, POLLOUT, 0};
      int error = 0;
      socklen_t length = sizeof error;
      if ((rc != 0 && errno != EINPROGRESS) || poll(&p, 1, static_cast<int>(options_.timeout.count())) != 1 ||
          getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length) != 0 || error != 0) {
        close(fd_);
        fd_ = -1;
      }
    }
    freeaddrinfo(found);
    if (fd_ < 0) return Fail("connect failed or timed out");
    int flags = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &flags, sizeof flags);
    // Blocking from here, every read and write bounded by the timeout.
    fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
    timeval tv{static_cast<time_t>(options_.timeout.count() / 1000),
               static_cast<suseconds_t>((options_.timeout.count() % 1000) * 1000)};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (options_.tls) {
      Status tls = StartTls();
      if (!tls.ok()) return tls;
    }
    reader_ = redisReaderCreate();
    if (!options_.password.empty()) {
      std::vector<std::string> auth = {"AUTH"};
      if (!options_.username.empty()) auth.push_back(options_.username);
      auth.push_back(options_.password);
      if (!Append(auth) || !Flush()) return Fail("AUTH could not be sent");
      redisReply* reply = ReadReply();
      bool ok = reply != nullptr && reply->type == REDIS_REPLY_STATUS;
      std::string error = reply != nullptr && reply->type == REDIS_REPLY_ERROR ? std::string(reply->str) : "";
      if (reply != nullptr) freeReplyObject(reply);
      if (!ok) return Fail("AUTH refused" + (error.empty() ? std::string() : ": " + error));
    }
    // The lease script once per connection; each lease then sends its SHA
    // (EVALSHA), not its text: a tenth of the bytes to format and send.
    if (!Append({"SCRIPT", "LOAD", kLeaseScript}) || !Flush()) return Fail("SCRIPT LOAD could not be sent");
    redisReply* sha = ReadReply();
    bool loaded = sha != nullptr && sha->type == REDIS_REPLY_STRING;
    if (loaded) script_sha_.assign(sha->str, sha->len);
    if (sha != nullptr) freeReplyObject(sha);
    if (!loaded) return Fail("SCRIPT LOAD failed");
    return Status::Ok();
  }
  const std::string& script_sha() const { return script_sha_; }

  void Close() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    ssl_ = nullptr;
    if (ssl_context_ != nullptr) SSL_CTX_free(ssl_context_);
    ssl_context_ = nullptr;
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    if (reader_ != nullptr) redisReaderFree(reader_);
    reader_ = nullptr;
    out_.clear();
  }
  bool open() const { return fd_ >= 0; }

  // Queues one command (sent by Flush).
  bool Append(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lengths;
    for (const std::string& arg : args) {
      argv.push_back(arg.data());
      lengths.push_back(arg.size());
    }
    char* command = nullptr;
    int length = redisFormatCommandArgv(&command, static_cast<int>(argv.size()), argv.data(), lengths.data());
    if (length < 0) return false;
    out_.append(command, static_cast<size_t>(length));
    redisFreeCommand(command);
    return true;
  }

  bool Flush() {
    size_t sent = 0;
    while (sent < out_.size()) {
      ssize_t n = ssl_ != nullptr ? SSL_write(ssl_, out_.data() + sent, static_cast<int>(out_.size() - sent))
                                  : send(fd_, out_.data() + sent, out_.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) {
        if (n < 0 && ssl_ == nullptr && errno == EINTR) continue;
        return false;
      }
      sent += static_cast<size_t>(n);
    }
    out_.clear();
    return true;
  }

  // The next reply (caller frees it), or null on error, EOF or timeout.
  redisReply* ReadReply() {
    for (;;) {
      void* reply = nullptr;
      if (redisReaderGetReply(reader_, &reply) != REDIS_OK) return nullptr;
      if (reply != nullptr) return static_cast<redisReply*>(reply);
      char buffer[16384];
      ssize_t n = ssl_ != nullptr ? SSL_read(ssl_, buffer, sizeof buffer) : recv(fd_, buffer, sizeof buffer, 0);
      if (n < 0 && ssl_ == nullptr && errno == EINTR) continue;
      if (n <= 0) return nullptr;  // closed, or nothing within the timeout
      if (redisReaderFeed(reader_, buffer, static_cast<size_t>(n)) != REDIS_OK) return nullptr;
    }
  }

 private:
  Status Fail(std::string message) {
    Close();
    return Status::Error(std::move(message));
  }

  Status StartTls() {
    ssl_context_ = SSL_CTX_new(TLS_client_method());
    if (ssl_context_ == nullptr) return Fail("TLS: no context");
    SSL_CTX_set_verify(ssl_context_, SSL_VERIFY_PEER, nullptr);
    bool loaded = options_.ca_file.empty()
                      ? SSL_CTX_set_default_verify_paths(ssl_context_) == 1
                      : SSL_CTX_load_verify_locations(ssl_context_, options_.ca_file.c_str(), nullptr) == 1;
    if (!loaded) return Fail("TLS: cannot load the CA certificates");
    ssl_ = SSL_new(ssl_context_);
    SSL_set_fd(ssl_, fd_);
    // The name (SNI and the certificate's DNS names), or an IP literal
    // checked against the certificate's IP addresses.
    unsigned char ip[16];
    bool literal = inet_pton(AF_INET, options_.host.c_str(), ip) == 1 || inet_pton(AF_INET6, options_.host.c_str(), ip) == 1;
    if (literal) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), options_.host.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl_, options_.host.c_str());
      SSL_set1_host(ssl_, options_.host.c_str());
    }
    if (SSL_connect(ssl_) != 1) {
      unsigned long error = ERR_get_error();
      char text[256] = "handshake failed";
      if (error != 0) ERR_error_string_n(error, text, sizeof text);
      return Fail(std::string("TLS: ") + text);
    }
    return Status::Ok();
  }

  const RedisOptions& options_;
  int fd_ = -1;
  SSL_CTX* ssl_context_ = nullptr;
  SSL* ssl_ = nullptr;
  redisReader* reader_ = nullptr;
  std::string out_;
  std::string script_sha_;
};

Result<RedisOptions> RedisOptions::Parse(std::string_view address) {
  RedisOptions options;
  std::string_view rest = address;
  if (rest.rfind("rediss://", 0) == 0) {
    options.tls = true;
    rest.remove_prefix(9);
  } else if (rest.rfind("redis://", 0) == 0) {
    rest.remove_prefix(8);
  }
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) rest = rest.substr(0, slash);  // a db number
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view credentials = rest.substr(0, at);
    rest.remove_prefix(at + 1);
    size_t colon = credentials.find(':');
    if (colon == std::string_view::npos) {
      options.password = std::string(credentials);
    } else {
      options.username = std::string(credentials.substr(0, colon));
      options.password = std::string(credentials.substr(colon + 1));
    }
  }
  std::string_view host = rest;
  if (!rest.empty() && rest.front() == '[') {  // [IPv6]:port
    size_t close = rest.find(']');
    if (close == std::string_view::npos) return Status::Error("invalid Redis address \"" + std::string(address) + "\"");
    host = rest.substr(1, close - 1);
    rest.remove_prefix(close + 1);
  } else if (size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    rest.remove_prefix(colon);
  } else {
    rest = {};
  }
  if (!rest.empty()) {
    if (rest.front() != ':' || rest.size() < 2) return Status::Error("invalid Redis port in \"" + std::string(address) + "\"");
    int port = 0;
    for (char c : rest.substr(1)) {
      if (c < '0' || c > '9' || port > 65535) return Status::Error("invalid Redis port in \"" + std::string(address) + "\"");
      port = port * 10 + (c - '0');
    }
    if (port == 0 || port > 65535) return Status::Error("invalid Redis port in \"" + std::string(address) + "\"");
    options.port = port;
  }
  if (host.empty()) return Status::Error("no Redis host in \"" + std::string(address) + "\"");
  options.host = std::string(host);
  return options;
}

int64_t RedisLimiter::BatchSize(const GcraLimit& limit) {
  // A twentieth of a second's worth, at least one, at most the burst: the
  // tokens a proxy may hold unused stay a few percent of the rate.
  int64_t per_second = 1000000 / std::max<int64_t>(limit.interval_us, 1);
  return std::clamp<int64_t>(per_second / 20, 1, std::max<int64_t>(limit.quota, 1));
}

RedisLimiter::RedisLimiter(RedisOptions options, const BucketTable* clock, int lease_slots_log2)
    : options_(std::move(options)),
      lease_mask_((size_t{1} << lease_slots_log2) - 1),
      leases_(new Lease[size_t{1} << lease_slots_log2]),
      queue_(std::make_unique<Queue>()),
      wakeup_fd_(eventfd(0, EFD_CLOEXEC)),
      clock_(clock) {
  thread_ = std::thread([this] { Run(); });
}

RedisLimiter::~RedisLimiter() {
  stopping_.store(true);
  uint64_t one = 1;
  (void)!write(wakeup_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  close(wakeup_fd_);
}

RedisLimiter::Lease* RedisLimiter::FindLease(uint64_t key, int64_t now_us) {
  if (key == 0) key = 1;  // 0 marks a free lease
  size_t start = static_cast<size_t>(key) & lease_mask_;
  Lease* reusable = nullptr;
  for (size_t i = 0; i < kProbe; ++i) {
    Lease& lease = leases_[(start + i) & lease_mask_];
    uint64_t held = lease.key.load(std::memory_order_acquire);
    if (held == key) return &lease;
    if (reusable == nullptr &&
        (held == 0 || (lease.last_used_us.load(std::memory_order_relaxed) < now_us - kIdleLeaseUs &&
                       lease.refill_pending.load(std::memory_order_relaxed) == 0))) {
      reusable = &lease;
    }
  }
  if (reusable == nullptr) return nullptr;
  uint64_t held = reusable->key.load(std::memory_order_acquire);
  // Reset, then publish the key. A worker that matched the previous key a
  // moment ago may still take one of its stale tokens: at most one
  // request, for a key idle ten seconds.
  reusable->tokens.store(0, std::memory_order_relaxed);
  reusable->denied_until_us.store(0, std::memory_order_relaxed);
  reusable->answered.store(0, std::memory_order_relaxed);
  reusable->before_first_answer.store(0, std::memory_order_relaxed);
  reusable->last_used_us.store(now_us, std::memory_order_relaxed);
  if (!reusable->key.compare_exchange_strong(held, key, std::memory_order_acq_rel)) {
    return held == key ? reusable : nullptr;  // another worker took it (for this key, or another)
  }
  return reusable;
}

void RedisLimiter::RequestRefill(Lease& lease, const ClusterLimit& limit) {
  uint32_t idle = 0;
  if (!lease.refill_pending.compare_exchange_strong(idle, 1, std::memory_order_acq_rel)) return;
  if (!queue_->Push(Refill{&lease, limit.key == 0 ? 1 : limit.key, limit.gcra, BatchSize(limit.gcra)})) {
    lease.refill_pending.store(0, std::memory_order_release);
    return;
  }
  uint64_t one = 1;
  (void)!write(wakeup_fd_, &one, sizeof one);
}

ClusterLimiter::Answer RedisLimiter::Take(const ClusterLimit& limit, int64_t now_us) {
  Lease* lease = FindLease(limit.key, now_us);
  if (lease == nullptr) return {Outcome::kUnknown, 0};  // more active keys than leases: the local bucket decides
  if (lease->last_used_us.load(std::memory_order_relaxed) != now_us) {
    lease->last_used_us.store(now_us, std::memory_order_relaxed);
  }
  int64_t tokens = lease->tokens.load(std::memory_order_acquire);
  while (tokens > 0) {
    if (lease->tokens.compare_exchange_weak(tokens, tokens - 1, std::memory_order_acq_rel)) {
      // Half a batch left: ask for the next one now, so it arrives before
      // this one runs out (unless Redis said the bucket is empty until then).
      if (tokens - 1 <= BatchSize(limit.gcra) / 2 &&
          lease->denied_until_us.load(std::memory_order_relaxed) <= now_us) {
        RequestRefill(*lease, limit);
      }
      return {Outcome::kAllowed, 0};
    }
  }
  if (!healthy()) return {Outcome::kUnavailable, 0};
  int64_t denied_until = lease->denied_until_us.load(std::memory_order_acquire);
  if (denied_until > now_us) return {Outcome::kDenied, denied_until - now_us};
  // Read before asking: the Redis thread may answer (and set it) before
  // RequestRefill returns, the wake-up preempting this thread.
  bool known = lease->answered.load(std::memory_order_acquire) != 0;
  RequestRefill(*lease, limit);
  // Tokens that arrived meanwhile.
  tokens = lease->tokens.load(std::memory_order_acquire);
  while (tokens > 0) {
    if (lease->tokens.compare_exchange_weak(tokens, tokens - 1, std::memory_order_acq_rel)) {
      return {Outcome::kAllowed, 0};
    }
  }
  // The first lease of a key is on its way (one round trip): up to one
  // batch passes meanwhile, as if leased (a client's first burst is not
  // refused for the round trip; a flood's first contact gets at most one
  // batch more per proxy). Later, an empty lease with a refill in flight
  // means the key is going faster than its batches: refused until the
  // answer.
  if (!known && lease->before_first_answer.fetch_add(1, std::memory_order_relaxed) < BatchSize(limit.gcra)) {
    return {Outcome::kAllowed, 0};
  }
  return {Outcome::kDenied, limit.gcra.interval_us};
}

void RedisLimiter::FailPending(std::vector<Refill>& batch) {
  for (Refill& refill : batch) refill.lease->refill_pending.store(0, std::memory_order_release);
  batch.clear();
}

void RedisLimiter::Run() {
  Connection connection(options_);
  std::vector<Refill> batch;
  std::string key;
  bool was_healthy = false, reported_down = false;
  auto last_attempt = std::chrono::steady_clock::now() - std::chrono::seconds(10);
  // A connection that failed while healthy is opened again at once, and
  // only a failed reconnection makes the limiter unhealthy: one slow answer
  // (a loaded machine, a Redis fork) does not flip every fail-closed route.
  bool retry_now = false;
  while (!stopping_.load()) {
    if (!connection.open()) {
      auto now = std::chrono::steady_clock::now();
      if (retry_now || now - last_attempt >= std::chrono::seconds(1)) {
        retry_now = false;
        last_attempt = now;
        Status opened = connection.Open();
        if (opened.ok()) {
          healthy_.store(true);
          if (!was_healthy) log::Info("ratelimit: connected to Redis", {{"host", options_.host}});
          was_healthy = true;
        } else {
          healthy_.store(false);
          if (was_healthy || !reported_down) {  // once per outage, not every second
            log::Warn("ratelimit: Redis unavailable", {{"host", options_.host}, {"error", opened.message()}});
          }
          was_healthy = false;
          reported_down = true;
        }
      }
    }
    // Sleep until a worker asks (or a second passes: reconnect, ping).
    pollfd wait{wakeup_fd_, POLLIN, 0};
    if (poll(&wait, 1, 1000) == 1) {
      uint64_t count;
      (void)!read(wakeup_fd_, &count, sizeof count);
    }
    Refill refill;
    while (batch.size() < kMaxBatch && queue_->Pop(refill)) batch.push_back(refill);
    if (!connection.open()) {
      FailPending(batch);  // the workers' fail mode applies; they ask again later
      continue;
    }
    if (batch.empty()) {
      // Idle: a PING notices a dead or hung Redis before a refill needs it.
      redisReply* pong = nullptr;
      if (!connection.Append({"PING"}) || !connection.Flush() || (pong = connection.ReadReply()) == nullptr) {
        connection.Close();
        retry_now = true;
      }
      if (pong != nullptr) freeReplyObject(pong);
      continue;
    }
    // One pipeline for the whole batch.
    bool sent = true;
    for (const Refill& r : batch) {
      RedisKey(r.key, key);
      sent = sent && connection.Append({"EVALSHA", connection.script_sha(), "1", key, std::to_string(r.gcra.interval_us),
                                        std::to_string(r.gcra.tolerance_us), std::to_string(r.want)});
    }
    if (!sent || !connection.Flush()) {
      connection.Close();
      retry_now = true;
      FailPending(batch);
      continue;
    }
    redis_calls_.fetch_add(batch.size(), std::memory_order_relaxed);
    size_t answered = 0;
    bool failed_script = false;
    for (; answered < batch.size(); ++answered) {
      redisReply* reply = connection.ReadReply();
      if (reply == nullptr) break;
      Refill& r = batch[answered];
      if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 && reply->element[0]->type == REDIS_REPLY_INTEGER &&
          reply->element[1]->type == REDIS_REPLY_INTEGER && r.lease->key.load(std::memory_order_acquire) == r.key) {
        int64_t granted = reply->element[0]->integer;
        int64_t wait_us = reply->element[1]->integer;
        if (granted > 0) r.lease->tokens.fetch_add(granted, std::memory_order_acq_rel);
        // Short of a batch: ask again once a whole batch is due, not at
        // each token (one call per batch, even at saturation).
        int64_t batch_due_us = wait_us + (r.want - 1) * r.gcra.interval_us;
        r.lease->denied_until_us.store(granted < r.want ? clock_->NowUs() + batch_due_us : 0,
                                       std::memory_order_release);
        r.lease->answered.store(1, std::memory_order_release);
      } else if (reply->type == REDIS_REPLY_ERROR) {
        // NOSCRIPT (SCRIPT FLUSH on the server) included: reconnecting
        // loads the script again.
        log::Warn("ratelimit: Redis refused the lease script", {{"error", reply->str}});
        failed_script = true;
      }
      r.lease->refill_pending.store(0, std::memory_order_release);
      freeReplyObject(reply);
    }
    if (failed_script) {  // reconnect (and load the script again)
      connection.Close();
      retry_now = true;
    }
    if (answered < batch.size()) {
      // Slow (no answer within the timeout) or gone: drop the connection;
      // the unanswered refills are asked again once it is back.
      connection.Close();
      retry_now = true;
      batch.erase(batch.begin(), batch.begin() + static_cast<ptrdiff_t>(answered));
      FailPending(batch);
      continue;
    }
    batch.clear();
  }
}

}  // namespace sluice::ratelimit
