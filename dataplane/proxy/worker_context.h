#pragma once
// What one worker's connections share: its loop, its current snapshot, its
// upstream pool, its balancer and its counters. Touched only on the worker's
// own thread (counters are atomics so the admin thread can read them).
#include <atomic>
#include <memory>

#include "dataplane/accesslog/access_log.h"
#include "dataplane/balancer/balancer.h"
#include "dataplane/health/retry_budget.h"
#include "dataplane/metrics/series.h"
#include "dataplane/net/event_loop.h"
#include "dataplane/pipeline/auth_cache.h"
#include "dataplane/pipeline/compression_stats.h"
#include "dataplane/proxy/deadline_list.h"
#include "dataplane/proxy/proxy_config.h"
#include "dataplane/snapshot/compiled_snapshot.h"
#include "dataplane/subrequest/subrequest.h"
#include "dataplane/upstream/connection_pool.h"
#include "dataplane/upstream/http2_pool.h"

namespace sluice::pipeline {
class MirrorSink;  // pipeline/mirror_sink.h
class IoOffload;   // pipeline/io_pool.h
}

namespace sluice::proxy {

struct WorkerStats {
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> connections_active{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> responses_by_class[6] = {};  // index status/100; 0: aborted
  std::atomic<uint64_t> upstream_connects{0};
  std::atomic<uint64_t> upstream_reuses{0};
  std::atomic<uint64_t> upstream_failures{0};
  std::atomic<uint64_t> upstream_retries{0};        // tries after the first
  std::atomic<uint64_t> retry_budget_exhausted{0};  // retries refused by the cluster's budget
  std::atomic<uint64_t> outlier_ejections{0};       // endpoints ejected by this worker's reports
  std::atomic<uint64_t> tls_handshakes{0};          // completed, full or resumed
  std::atomic<uint64_t> tls_resumed{0};             // of which resumed (session ticket)
  std::atomic<uint64_t> tls_handshake_failures{0};  // failed or timed out
  // Completed handshakes by version (TlsVersionIndex) and failures by
  // reason (TlsFailureIndex): fixed label sets.
  static constexpr size_t kTlsVersions = 4;   // other, TLSv1.1 and older, TLSv1.2, TLSv1.3
  static constexpr size_t kTlsFailureReasons = 8;  // TlsTransport::HandshakeFailure, + no_certificate, timeout
  std::atomic<uint64_t> tls_handshakes_by_version[kTlsVersions] = {};
  std::atomic<uint64_t> tls_failures_by_reason[kTlsFailureReasons] = {};
  // Exchanges (HTTP/1.1 requests and HTTP/2 streams) in progress now.
  std::atomic<uint64_t> exchanges_active{0};
  // Connections closed at once by the connection limits, by
  // connlimit::Refusal (index 0 unused), and PROXY protocol headers that
  // were invalid or did not come in time.
  std::atomic<uint64_t> connections_refused[5] = {};
  std::atomic<uint64_t> proxy_protocol_failures{0};
  // TLS passthrough (PassthroughSession): connections spliced, those that
  // never reached a backend, and the bytes each way (counted when each ends).
  std::atomic<uint64_t> passthrough_connections{0};
  std::atomic<uint64_t> passthrough_failures{0};
  std::atomic<uint64_t> passthrough_bytes_in{0};   // client -> backend
  std::atomic<uint64_t> passthrough_bytes_out{0};  // backend -> client
  // Request mirroring (dataplane/mirror): copies sent, answered (any
  // status), failed (no endpoint or cluster, connect error, timeout), and
  // dropped over the per-worker caps.
  std::atomic<uint64_t> mirror_requests{0};
  std::atomic<uint64_t> mirror_completed{0};
  std::atomic<uint64_t> mirror_failures{0};
  std::atomic<uint64_t> mirror_dropped{0};
 // File body ranges (static files, disk-tier cache objects) not in the page
  // cache, read in by an I/O thread before the loop sent them.
  std::atomic<uint64_t> file_warmups{0};
  pipeline::CompressionStats compression;           // the compression stage's counters

  void Count(std::atomic<uint64_t>& counter, uint64_t n = 1) {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);  // single writer
  }
  void Uncount(std::atomic<uint64_t>& counter) {
    counter.store(counter.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);  // single writer
  }
};

struct WorkerContext {
  WorkerContext(net::EventLoop* loop, const ProxyConfig* config)
      : loop(loop),
        config(config),
        deadlines(loop),
        pool(loop, config->max_idle_upstream_per_endpoint, config->upstream_keepalive_timeout),
        h2_pool(loop, config->upstream_keepalive_timeout) {
    if (config->metrics_max_routes != 0 || config->metrics_max_clusters != 0) {
      series = std::make_unique<metrics::WorkerSeries>(config->metrics_max_routes, config->metrics_max_clusters);
    }
  }

  net::EventLoop* loop;
  const ProxyConfig* config;
  std::shared_ptr<const snapshot::CompiledSnapshot> snapshot;
  DeadlineList deadlines;  // the exchanges' timeouts, behind one loop timer
  upstream::ConnectionPool pool;
  upstream::Http2Pool h2_pool;  // multiplexed connections for H2C/H2 clusters
  balancer::Balancer balancer;
  health::RetryBudgets retry_budgets;  // per cluster name
  WorkerStats stats;
  // This worker's per-route and per-cluster counters (null: metrics off).
  std::unique_ptr<metrics::WorkerSeries> series;
  // This worker's access log writer, or null when the access log is off.
  std::unique_ptr<accesslog::AccessLog::Writer> access_log;
  bool draining = false;
  pipeline::AuthCache auth_cache;  // external auth decisions (ext_auth_stage)
  // A shutdown is announced (NoticeShutdown): connections still accepted
  // are served, each HTTP/1.1 response closes its connection and HTTP/2
  // connections get the GOAWAY shutdown notice.
  bool shutting_down = false;
  // The worker's mirror sender (dataplane/mirror), or null (tests): every
  // exchange's ExchangeState::mirror.
  pipeline::MirrorSink* mirror = nullptr;
  // The worker's way to the process's I/O pool (pipeline/io_pool.h), or
  // null: every exchange's ExchangeState::io.
  pipeline::IoOffload* io = nullptr;
  // Reused for serialising heads on this worker's thread (keeps its
  // capacity, so no allocation per response).
  std::string scratch;
  // The stages' own requests (subrequest::WorkerClient, set by the Worker;
  // null in tests without one). Last: its subrequests go before the pools.
  std::unique_ptr<subrequest::Client> subrequests;
};

}  // namespace sluice::proxy
