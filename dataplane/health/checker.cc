#include "dataplane/health/checker.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include "dataplane/common/log.h"
#include "dataplane/net/event_loop.h"

namespace sluice::health {

bool CheckSpec::Passes(int status) const {
  for (const auto& [low, high] : expected_statuses) {
    if (status >= low && status <= high) return true;
  }
  return false;
}

namespace {

constexpr size_t kMaxResponseBytes = 4096;  // only the status line matters

std::chrono::milliseconds Jittered(std::chrono::milliseconds base, std::mt19937_64& random, double low, double high) {
  std::uniform_real_distribution<double> factor(low, high);
  auto ms = static_cast<int64_t>(static_cast<double>(base.count()) * factor(random));
  return std::chrono::milliseconds(ms < 1 ? 1 : ms);
}

// "HTTP/1.1 200 OK\r\n..." -> 200; 0 while incomplete; -1 when garbage.
int StatusFromResponse(std::string_view data) {
  size_t line_end = data.find("\r\n");
  if (line_end == std::string_view::npos) return data.size() >= kMaxResponseBytes ? -1 : 0;
  std::string_view line = data.substr(0, line_end);
  if (!line.starts_with("HTTP/1.") || line.size() < 12 || line[8] != ' ') return -1;
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return -1;
    status = status * 10 + (line[i] - '0');
  }
  return status;
}

}  // namespace

// One check target: its schedule, its socket while a check runs, and its
// counters. Lives on the checker's loop.
class HealthChecker::Probe : public net::IoHandler {
 public:
  Probe(HealthChecker* checker, CheckTarget target, std::mt19937_64* random)
      : checker_(checker), target_(std::move(target)), random_(random) {
    std::string host = target_.spec.host.empty() ? target_.endpoint_key : target_.spec.host;
    request_ = "GET " + target_.spec.path + " HTTP/1.1\r\nHost: " + host +
               "\r\nUser-Agent: sluice-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n";
  }
  ~Probe() override {
    CancelTimer();
    CloseSocket();
  }

  const std::string& endpoint_key() const { return target_.endpoint_key; }
  const std::string& path() const { return target_.spec.path; }
  EndpointHealth* health() const { return target_.health.get(); }
  bool healthy() const { return healthy_; }

  // The first check: somewhere in the first interval, so that targets (and
  // proxies) spread out.
  void ScheduleFirst() { Schedule(Jittered(target_.spec.interval, *random_, 0.0, 1.0)); }

  void OnIoEvents(uint32_t events) override {
    if (fd_ < 0) return;
    if (connecting_) {
      if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      int err = net::PendingSocketError(fd_);
      if (err != 0) return Done(false, std::string("connect: ") + strerror(err));
      connecting_ = false;
      ssize_t n = send(fd_, request_.data(), request_.size(), MSG_NOSIGNAL);
      // A few hundred bytes always fit a fresh socket's buffer.
      if (n != static_cast<ssize_t>(request_.size())) return Done(false, "cannot send the check request");
    }
    char buffer[2048];
    while (fd_ >= 0) {
      ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
      if (n > 0) {
        response_.append(buffer, static_cast<size_t>(std::min<size_t>(n, kMaxResponseBytes)));
        int status = StatusFromResponse(response_);
        if (status < 0) return Done(false, "not an HTTP response");
        if (status > 0) {
          bool passes = target_.spec.Passes(status);
          return Done(passes, "status " + std::to_string(status));
        }
        continue;
      }
      if (n == 0) return Done(false, "closed before a response");
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return;
      return Done(false, std::string("read: ") + strerror(errno));
    }
  }

 private:
  void Schedule(std::chrono::milliseconds delay) {
    CancelTimer();
    timer_ = checker_->loop_->AddTimer(delay, [this] {
      timer_ = 0;
      Run();
    });
  }

  void CancelTimer() {
    if (timer_ != 0) checker_->loop_->CancelTimer(timer_);
    timer_ = 0;
  }

  void CloseSocket() {
    if (fd_ < 0) return;
    checker_->loop_->Unregister(fd_);
    close(fd_);
    fd_ = -1;
  }

  void Run() {
    checker_->checks_started_.fetch_add(1, std::memory_order_relaxed);
    response_.clear();
    auto connected = net::ConnectNonBlocking(target_.address);
    if (!connected.ok()) return Done(false, "connect: " + connected.status().message());
    fd_ = *connected;
    connecting_ = true;
    checker_->loop_->Register(fd_, this);
    timer_ = checker_->loop_->AddTimer(target_.spec.timeout, [this] {
      timer_ = 0;
      Done(false, "timed out");
    });
  }

  void Done(bool passed, const std::string& detail) {
    CloseSocket();
    CancelTimer();
    if (!passed) checker_->checks_failed_.fetch_add(1, std::memory_order_relaxed);
    if (passed) {
      failures_ = 0;
      ++passes_;
      if (!healthy_ && passes_ >= target_.spec.healthy_threshold) Transition(true, detail);
    } else {
      passes_ = 0;
      ++failures_;
      if (healthy_ && failures_ >= target_.spec.unhealthy_threshold) Transition(false, detail);
    }
    Schedule(Jittered(target_.spec.interval, *random_, 0.9, 1.1));
  }

  void Transition(bool healthy, const std::string& detail) {
    healthy_ = healthy;
    log::Write(healthy ? "info" : "warn", healthy ? "endpoint healthy" : "endpoint unhealthy",
               {{"endpoint", target_.endpoint_key},
                {"path", target_.spec.path},
                {"checks_in_a_row", std::to_string(healthy ? passes_ : failures_)},
                {"last_check", detail}});
    checker_->RecomputeEndpoint(target_.endpoint_key);
  }

  HealthChecker* checker_;
  CheckTarget target_;
  std::mt19937_64* random_;
  std::string request_;
  std::string response_;
  int fd_ = -1;
  bool connecting_ = false;
  net::EventLoop::TimerId timer_ = 0;
  bool healthy_ = true;  // optimistic: a new endpoint takes traffic at once
  uint32_t passes_ = 0;
  uint32_t failures_ = 0;

  friend class HealthChecker;
};

namespace {
std::string ProbeId(const std::string& key, const std::string& path) { return key + " " + path; }
}  // namespace

HealthChecker::HealthChecker() : loop_(std::make_unique<net::EventLoop>()) {}

HealthChecker::~HealthChecker() { Stop(); }

void HealthChecker::Start() {
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] {
    loop_->Run();
    probes_.clear();  // on the loop's thread: their timers and sockets belong to it
  });
}

void HealthChecker::Stop() {
  if (!started_) return;
  started_ = false;
  loop_->Stop();
  if (thread_.joinable()) thread_.join();
}

void HealthChecker::Update(std::vector<CheckTarget> targets) {
  loop_->Post([this, targets = std::move(targets)]() mutable { ApplyUpdate(std::move(targets)); });
}

void HealthChecker::ApplyUpdate(std::vector<CheckTarget> targets) {
  static thread_local std::mt19937_64 random(std::random_device{}());
  std::unordered_map<std::string, std::unique_ptr<Probe>> existing;
  std::unordered_set<std::string> previously_checked;
  for (auto& probe : probes_) {
    previously_checked.insert(probe->endpoint_key());
    existing.emplace(ProbeId(probe->endpoint_key(), probe->path()), std::move(probe));
  }
  std::vector<std::unique_ptr<Probe>> next;
  std::unordered_set<std::string> ids;
  std::unordered_set<std::string> checked;
  for (CheckTarget& target : targets) {
    std::string id = ProbeId(target.endpoint_key, target.spec.path);
    if (!ids.insert(id).second) continue;  // one check per endpoint and path
    checked.insert(target.endpoint_key);
    if (auto it = existing.find(id); it != existing.end() && it->second->health() == target.health.get()) {
      // Same check: keep its counters and schedule; take new settings for
      // the next round.
      std::string host = target.spec.host.empty() ? target.endpoint_key : target.spec.host;
      it->second->target_.spec = target.spec;
      it->second->request_ = "GET " + target.spec.path + " HTTP/1.1\r\nHost: " + host +
                             "\r\nUser-Agent: sluice-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n";
      next.push_back(std::move(it->second));
      existing.erase(it);
      continue;
    }
    target.health->actively_checked.store(true, std::memory_order_relaxed);
    next.push_back(std::make_unique<Probe>(this, std::move(target), &random));
    next.back()->ScheduleFirst();
  }
  // Checks that ended: their sockets close now, their objects after this
  // batch of events.
  for (auto& [id, probe] : existing) {
    probe->CancelTimer();
    probe->CloseSocket();
    if (!checked.count(probe->endpoint_key()) && probe->health() != nullptr) {
      probe->health()->actively_checked.store(false, std::memory_order_relaxed);
      probe->health()->active_healthy.store(true, std::memory_order_relaxed);
    }
    loop_->DeleteLater(std::move(probe));
  }
  probes_ = std::move(next);
  for (const std::string& key : previously_checked) {
    if (checked.count(key)) RecomputeEndpoint(key);
  }
}

void HealthChecker::RecomputeEndpoint(const std::string& endpoint_key) {
  EndpointHealth* health = nullptr;
  bool healthy = true;
  for (const auto& probe : probes_) {
    if (probe == nullptr || probe->endpoint_key() != endpoint_key) continue;
    health = probe->health();
    healthy = healthy && probe->healthy();
  }
  if (health != nullptr) health->active_healthy.store(healthy, std::memory_order_relaxed);
}

}  // namespace sluice::health
