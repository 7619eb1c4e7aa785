// sluice-proxy: the data plane. See README.md for flags.
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/grpc_tls/grpc_tls.h"
#include "base/prom_text.h"
#include "base/version/version.h"
#include "dataplane/accesslog/access_log.h"
#include "dataplane/admin/admin_server.h"
#include "base/ip_prefix.h"
#include "dataplane/cache/purge/purge.h"
#include "dataplane/cache/disk/disk_cache.h"
#include "dataplane/cache/store/store.h"
#include "dataplane/common/log.h"
#include "dataplane/connlimit/connection_limits.h"
#include "dataplane/discovery/snapshot_client.h"
#include "dataplane/health/checker.h"
#include "dataplane/health/registry.h"
#include "dataplane/health/snapshot_health.h"
#include "dataplane/metrics/series.h"
#include "dataplane/metrics/snapshot_series.h"
#include "dataplane/net/event_loop.h"
#include "dataplane/net/socket.h"
#include "dataplane/pipeline/compression_stage.h"
#include "dataplane/pipeline/cache_disk_lookup.h"
#include "dataplane/pipeline/io_pool.h"
#include "dataplane/pipeline/open_file_cache.h"
#include "dataplane/proxy/tls_handshake_session.h"
#include "dataplane/proxy/worker.h"
#include "dataplane/ratelimit/redis_limiter.h"
#include "dataplane/snapshot/compiled_snapshot.h"
#include "dataplane/tls/server_config.h"
#include "dataplane/tls/ticket_keys.h"
#include "dataplane/waf/firewall.h"

namespace sluice {
namespace {

// A cache purge (dataplane/cache/purge) asked for on the admin port or by
// the controller: the objects removed, or why the request is wrong.
Result<uint64_t> PurgeCache(std::string_view form, const char* from) {
  Result<cache::PurgeRequest> request = cache::ParsePurgeRequest(form);
  if (!request.ok()) return request.status();
  const size_t purged = cache::Purge(cache::Store::ProcessWide(), *request);
  log::Info("cache purge", {{"request", cache::FormOf(*request)}, {"from", from}, {"purged", std::to_string(purged)}});
  return static_cast<uint64_t>(purged);
}

constexpr const char* kProgram = "sluice-proxy";
constexpr const char* kVersion = "0.1.0";

constexpr const char* kUsage = R"(Usage: sluice-proxy [flags]

  --controller ADDR       sluice-controller gRPC address (default 127.0.0.1:18000);
                          plaintext is refused unless it is a loopback address
                          or mutual TLS is configured:
  --controller-tls-cert FILE, --controller-tls-key FILE
                          this proxy's PEM client certificate and key (its SANs
                          must carry the controller's --grpc-client-identity)
  --controller-ca FILE    PEM CA bundle the controller's certificate must chain to
  --controller-server-name NAME  name the controller's certificate must carry
                          (default: the host of --controller)
  --controller-tls-reload SECONDS  re-read the three files this often; rotated
                          files serve the next handshake, the open stream
                          keeps going (default 10)
  --controller-insecure   allow a plaintext stream to a non-loopback controller
  --http-listen ADDR      plaintext HTTP listener (default :8080)
  --https-listen ADDR     HTTPS listener (TLS 1.2/1.3, SNI, ALPN); off unless given
  --default-certificate FILE, --default-key FILE
                          PEM certificate chain and key served to clients whose
                          SNI matches no certificate (default: the snapshot's
                          certificate without host names, else a self-signed one)
  --tls-ticket-rotation SECONDS  session ticket key rotation; the previous key
                          still decrypts for one more period (default 3600)
  --https-redirect-port N port written in HTTP->HTTPS redirects (default: the
                          --https-listen port; 443 is left out of the URL)
  --admin-listen ADDR     admin endpoints /healthz /readyz /metrics /snapshot
                          (default 127.0.0.1:9901)
  --workers N             worker threads, each with its own event loop and
                          SO_REUSEPORT listener (default: number of cores)
  --node-id ID            name reported to the controller (default: hostname-pid)
  --shutdown-grace-period SECONDS  on SIGTERM, first keep accepting this long
                          with /readyz answering 503 (load balancers and
                          kube-proxy take a while to stop sending), every
                          HTTP/1.1 response closing its connection and HTTP/2
                          connections told to go (GOAWAY notice); then the
                          drain. (default 0: drain at once)
  --drain-timeout SECONDS on SIGTERM (after the grace period), how long
                          in-flight requests may take (default 10)
  --access-log DEST       one JSON line per request: "-" for stdout (default),
                          a file path (appended), or "off"
  --client-header-timeout SECONDS   the whole request head must arrive within
                          this (slowloris defence; default 10)
  --keepalive-timeout SECONDS       idle keep-alive connections are closed
                          after this (default 60)
  --max-header-bytes N    request line + headers limit, 431 above (default 65536)
  --max-headers N         header count limit, 431 above (default 100)
  --h2-max-concurrent-streams N   HTTP/2 streams per client connection
                          (SETTINGS_MAX_CONCURRENT_STREAMS; default 100)
  --h2-stall-timeout SECONDS      an HTTP/2 response the client's flow-control
                          window keeps from moving is reset after this (default 30)
  --h2-max-resets-per-second N    client RST_STREAMs per connection per second
                          before GOAWAY ENHANCE_YOUR_CALM (rapid reset; default 200)
  --h2-max-control-frames-per-second N  PING/SETTINGS/PRIORITY/WINDOW_UPDATE/
                          empty DATA frames per connection per second (default 1000)
  Real client address and connection limits (README: "Client address and
  connection limits"):
  --trusted-proxies CIDRS X-Forwarded-For is read (from the right, through
                          these hops only) on requests from these addresses,
                          comma separated (default: none; ingress-nginx's
                          use-forwarded-headers + proxy-real-ip-cidr)
  --proxy-protocol LISTENERS  http, https or http,https: every connection on
                          those listeners starts with a PROXY protocol v1/v2
                          header, or is closed (default: none)
  --max-connections N     open client connections for the whole proxy; the
                          last 10% are kept for addresses holding fewer than
                          16 (default: half the open-files limit; 0: none)
  --max-connections-per-address N  open connections per client address (IPv6:
                          per /64) (default 1024; 0: none)
  --max-connection-rate-per-address N  new connections per second per client
                          address (default 0: none)
  --ratelimit-redis ADDR  Redis for rate limits of scope cluster (sluice.io/rate-limit-scope):
                          HOST:PORT, redis://[USER:PASSWORD@]HOST:PORT or rediss://... (TLS);
                          without it such limits hold per proxy
  --ratelimit-redis-password-file FILE  AUTH password (default: the address's,
                          else $SLUICE_RATELIMIT_REDIS_PASSWORD)
  --ratelimit-redis-ca FILE  PEM CAs verifying a rediss:// server (default: the system's)
  --waf-audit-log DEST    the application firewall's audit: one JSON line per
                          blocked (or, in detect mode, would-be-blocked) request:
                          "stderr" (default), a file path (appended), or "off"
  --waf-extra-rules FILE  ModSecurity rules added after the OWASP CRS on every
                          route with a firewall (the operator's; Ingress
                          annotations never carry rule text). Checked at start.
  --waf-crs-dir DIR       the OWASP CRS (default /usr/share/modsecurity-crs,
                          Debian's modsecurity-crs)
  --metrics-max-routes N  per-route series on /metrics (each: 42 samples);
                          routes past it share one overflow series (default 1000)
  --metrics-max-clusters N  per-cluster series, the same way (default 500);
                          both 0: no per-route or per-cluster counting at all
  --cache-memory SIZE     the response cache's memory (routes with sluice.io/cache;
                          one cache shared by every worker), bytes or with a
                          K/M/G or Ki/Mi/Gi suffix (powers of 1024); default 256M
  --cache-max-object-size SIZE  larger responses pass through uncached (default 8M)
  --cache-dir DIR         the response cache's disk tier: every object stored in
                          memory is also written to a file under DIR (by a writer
                          thread, never a worker), and entries survive a restart
                          (DIR is scanned in the background at start); memory
                          misses found there are served from the file (sendfile
                          on plain HTTP/1.1). Default: no disk tier
  --cache-disk-size SIZE  the disk tier's limit (file bytes; least recently used
                          entries are removed past it), as --cache-memory; default 1G
  --open-file-cache-entries N  per worker, the static files (directory sites)
                          kept open with their stat, nginx's open_file_cache;
                          0: off (default 1000, lowered so that all workers
                          together hold at most a quarter of the open-files limit)
  --open-file-cache-valid SECONDS  a cached file is checked with one stat at
                          most this often: a file replaced on disk is served
                          within this time; 0: a stat on every request (default 1).
                          Files not fresh in the cache are opened on 4 I/O
                          threads, not the workers' loops; with either flag 0
                          there is no pool and opens run on the loops
  --open-file-cache-inline-bytes SIZE  cached files of at most this size are
                          read once and kept whole in the cache (no read,
                          no descriptor per request; revalidated as above),
                          bytes or with a K/M suffix (powers of 1024); 0: off
                          (default 16K; at most entries x SIZE per worker)
  --help, --version       (--version: the version and the commit of a stamped build)
ADDR is HOST:PORT with an IP literal, or :PORT for all interfaces.
Per-route timeouts and the body size limit come from Ingress annotations
(see README.md).
)";

struct Flags {
  std::string controller = "127.0.0.1:18000";
  std::string http_listen = ":8080";
  std::string https_listen;
  std::string admin_listen = "127.0.0.1:9901";
  int workers = 0;
  std::string node_id;
  int drain_timeout_seconds = 10;
  int shutdown_grace_seconds = 0;
  std::string access_log = "-";
  int client_header_timeout_seconds = 10;
  int keepalive_timeout_seconds = 60;
  int max_header_bytes = 64 * 1024;
  int max_headers = 100;
  int h2_max_concurrent_streams = 100;
  int h2_stall_timeout_seconds = 30;
  int h2_max_resets_per_second = 200;
  int h2_max_control_frames_per_second = 1000;
  std::string default_certificate;
  std::string default_key;
  int tls_ticket_rotation_seconds = 3600;
  int https_redirect_port = 0;  // 0: the --https-listen port
  std::string trusted_proxies;
  bool proxy_protocol_http = false;
  bool proxy_protocol_https = false;
  int64_t max_connections = -1;  // -1: half the open-files limit
  int64_t max_connections_per_address = 1024;
  int64_t max_connection_rate_per_address = 0;
  // Mutual TLS to the controller: all three files, or none.
  std::string controller_tls_cert, controller_tls_key, controller_ca;
  std::string controller_server_name;
  int controller_tls_reload_seconds = 10;
  bool controller_insecure = false;
  // Rate limiting (cluster scope through Redis).
  std::string ratelimit_redis;
  std::string ratelimit_redis_password_file;
  std::string ratelimit_redis_ca;
  std::string waf_audit_log = "stderr";
  std::string waf_extra_rules;
  std::string waf_crs_dir = "/usr/share/modsecurity-crs";
  // Bounds of the per-route and per-cluster series (dataplane/metrics).
  int metrics_max_routes = 1000;
  int metrics_max_clusters = 500;
  // Response cache (issue 15).
  uint64_t cache_memory_bytes = 256ull << 20;
  uint64_t cache_max_object_bytes = 8ull << 20;
  std::string cache_dir;  // empty: no disk tier
  uint64_t cache_disk_bytes = 1ull << 30;
  // Open-file cache of static directory sites (per worker).
  int64_t open_file_cache_entries = 1000;
  int64_t open_file_cache_valid_seconds = 1;
  uint64_t open_file_cache_inline_bytes = pipeline::OpenFileCache::kDefaultInlineBytes;
};


[[noreturn]] void FlagError(const std::string& message) {
  std::fprintf(stderr, "sluice-proxy: %s (see --help)\n", message.c_str());
  std::exit(2);
}

// A count flag where 0 means "no limit".
int64_t ParseCount(const std::string& flag, const std::string& value) {
  char* end = nullptr;
  long long n = std::strtoll(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || n < 0 || n > 100'000'000) {
    FlagError("invalid value for " + flag + ": \"" + value + "\" (expected 0..100000000)");
  }
  return n;
}

// Bytes, or K/M/G (powers of 1024); Ki/Mi/Gi as well, as a Kubernetes
// quantity in the chart's values is written. From `min` (0 or 1) to 1T.
uint64_t ParseSize(const std::string& flag, const std::string& value, uint64_t min) {
  uint64_t multiplier = 1;
  std::string digits = value;
  if (digits.size() >= 2 && digits.back() == 'i' && std::strchr("kKmMgG", digits[digits.size() - 2]) != nullptr) {
    digits.pop_back();
  }
  if (!digits.empty() && std::strchr("kKmMgG", digits.back()) != nullptr) {
    const char unit = static_cast<char>(digits.back() | 0x20);
    multiplier = unit == 'k' ? 1ull << 10 : unit == 'm' ? 1ull << 20 : 1ull << 30;
    digits.pop_back();
  }
  char* end = nullptr;
  const unsigned long long n = std::strtoull(digits.c_str(), &end, 10);
  if (digits.empty() || *end != '\0' || n < min || n > (1ull << 40) / multiplier) {
    FlagError("invalid value for " + flag + ": \"" + value + "\" (expected a size from " + std::to_string(min) +
              " to 1T)");
  }
  return n * multiplier;
}

int ParsePositiveInt(const std::string& flag, const std::string& value, int max) {
  char* end = nullptr;
  long n = std::strtol(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || n < 1 || n > max) {
    FlagError("invalid value for " + flag + ": \"" + value + "\" (expected 1.." + std::to_string(max) + ")");
  }
  return static_cast<int>(n);
}

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_inline = false;
    if (size_t eq = arg.find('='); arg.starts_with("--") && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_inline = true;
    }
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (arg == "--version") {
      std::puts(VersionLine(kProgram, kVersion).c_str());
      std::exit(0);
    }
    if (arg == "--controller-insecure") {
      flags.controller_insecure = true;
      continue;
    }
    static const std::map<std::string, int> kWithValue = {
        {"--controller", 0}, {"--http-listen", 1}, {"--https-listen", 2}, {"--admin-listen", 3},
        {"--workers", 4},    {"--node-id", 5},     {"--drain-timeout", 6}, {"--access-log", 7},
        {"--client-header-timeout", 8}, {"--keepalive-timeout", 9}, {"--max-header-bytes", 10}, {"--max-headers", 11},
        {"--default-certificate", 12}, {"--default-key", 13}, {"--tls-ticket-rotation", 14},
        {"--https-redirect-port", 15}, {"--trusted-proxies", 16}, {"--proxy-protocol", 17},
        {"--max-connections", 18}, {"--max-connections-per-address", 19},
        {"--max-connection-rate-per-address", 20},
        {"--controller-tls-cert", 21}, {"--controller-tls-key", 22}, {"--controller-ca", 23},
        {"--controller-server-name", 24}, {"--controller-tls-reload", 25},
        {"--waf-audit-log", 26}, {"--waf-extra-rules", 27}, {"--waf-crs-dir", 28},
        {"--metrics-max-routes", 53}, {"--metrics-max-clusters", 54}, {"--cache-memory", 58},
        {"--cache-max-object-size", 59}, {"--shutdown-grace-period", 63},
        {"--open-file-cache-entries", 68}, {"--open-file-cache-valid", 69},
        {"--cache-dir", 70}, {"--cache-disk-size", 71}, {"--open-file-cache-inline-bytes", 72}};
    const std::map<std::string, int*> kHttp2Flags = {
        {"--h2-max-concurrent-streams", &flags.h2_max_concurrent_streams},
        {"--h2-stall-timeout", &flags.h2_stall_timeout_seconds},
        {"--h2-max-resets-per-second", &flags.h2_max_resets_per_second},
        {"--h2-max-control-frames-per-second", &flags.h2_max_control_frames_per_second}};
    const std::map<std::string, std::string*> kRateLimitFlags = {
        {"--ratelimit-redis", &flags.ratelimit_redis},
        {"--ratelimit-redis-password-file", &flags.ratelimit_redis_password_file},
        {"--ratelimit-redis-ca", &flags.ratelimit_redis_ca}};
    if (auto rate = kRateLimitFlags.find(arg); rate != kRateLimitFlags.end()) {
      if (!has_inline) {
        if (i + 1 >= argc) FlagError("missing value for " + arg);
        value = argv[++i];
      }
      *rate->second = value;
      continue;
    }
    if (auto h2 = kHttp2Flags.find(arg); h2 != kHttp2Flags.end()) {
      if (!has_inline) {
        if (i + 1 >= argc) FlagError("missing value for " + arg);
        value = argv[++i];
      }
      *h2->second = ParsePositiveInt(arg, value, 1 << 20);
      continue;
    }
    auto known = kWithValue.find(arg);
    if (known == kWithValue.end()) FlagError("unknown flag " + arg);
    if (!has_inline) {
      if (i + 1 >= argc) FlagError("missing value for " + arg);
      value = argv[++i];
    }
    switch (known->second) {
      case 0: flags.controller = value; break;
      case 1: flags.http_listen = value; break;
      case 2: flags.https_listen = value; break;
      case 3: flags.admin_listen = value; break;
      case 4: flags.workers = ParsePositiveInt(arg, value, 1024); break;
      case 5: flags.node_id = value; break;
      case 6: flags.drain_timeout_seconds = ParsePositiveInt(arg, value, 3600); break;
      case 7: flags.access_log = value; break;
      case 8: flags.client_header_timeout_seconds = ParsePositiveInt(arg, value, 3600); break;
      case 9: flags.keepalive_timeout_seconds = ParsePositiveInt(arg, value, 86400); break;
      case 10: flags.max_header_bytes = ParsePositiveInt(arg, value, 1 << 20); break;
      case 11: flags.max_headers = ParsePositiveInt(arg, value, 10000); break;
      case 12: flags.default_certificate = value; break;
      case 13: flags.default_key = value; break;
      case 14: flags.tls_ticket_rotation_seconds = ParsePositiveInt(arg, value, 7 * 86400); break;
      case 15: flags.https_redirect_port = ParsePositiveInt(arg, value, 65535); break;
      case 16: flags.trusted_proxies = value; break;
      case 17:
        flags.proxy_protocol_http = flags.proxy_protocol_https = false;
        for (size_t start = 0; start <= value.size();) {
          size_t comma = std::min(value.find(',', start), value.size());
          std::string item = value.substr(start, comma - start);
          if (item == "http") {
            flags.proxy_protocol_http = true;
          } else if (item == "https") {
            flags.proxy_protocol_https = true;
          } else {
            FlagError("invalid value for --proxy-protocol: \"" + value + "\" (expected http, https or http,https)");
          }
          start = comma + 1;
        }
        break;
      case 18: flags.max_connections = ParseCount(arg, value); break;
      case 19: flags.max_connections_per_address = ParseCount(arg, value); break;
      case 20: flags.max_connection_rate_per_address = ParseCount(arg, value); break;
      case 21: flags.controller_tls_cert = value; break;
      case 22: flags.controller_tls_key = value; break;
      case 23: flags.controller_ca = value; break;
      case 24: flags.controller_server_name = value; break;
      case 25: flags.controller_tls_reload_seconds = ParsePositiveInt(arg, value, 86400); break;
      case 26: flags.waf_audit_log = value; break;
      case 27: flags.waf_extra_rules = value; break;
      case 28: flags.waf_crs_dir = value; break;
      case 53:
      case 54: {
        // Each slot costs 320 bytes per worker, allocated at start.
        int64_t n = ParseCount(arg, value);
        if (n > 100'000) FlagError("invalid value for " + arg + ": \"" + value + "\" (expected 0..100000)");
        (known->second == 53 ? flags.metrics_max_routes : flags.metrics_max_clusters) = static_cast<int>(n);
        break;
      }
      case 68:
      case 69: {
        int64_t n = ParseCount(arg, value);
        if (n > (known->second == 68 ? 100'000 : 86'400)) FlagError("invalid value for " + arg + ": \"" + value + "\"");
        (known->second == 68 ? flags.open_file_cache_entries : flags.open_file_cache_valid_seconds) = n;
        break;
      }
      case 63: flags.shutdown_grace_seconds = static_cast<int>(std::min<int64_t>(ParseCount(arg, value), 3600)); break;
      case 70: flags.cache_dir = value; break;
      case 58:
      case 59:
      case 71:
        (known->second == 58   ? flags.cache_memory_bytes
         : known->second == 59 ? flags.cache_max_object_bytes
                               : flags.cache_disk_bytes) = ParseSize(arg, value, 1);
        break;
      case 72:
        // Above 1 GiB a "small file" kept whole per worker makes no sense.
        flags.open_file_cache_inline_bytes = ParseSize(arg, value, 0);
        if (flags.open_file_cache_inline_bytes > (1ull << 30)) FlagError("invalid value for " + arg + ": \"" + value + "\"");
        break;
    }
  }
  const bool controller_tls =
      !flags.controller_tls_cert.empty() || !flags.controller_tls_key.empty() || !flags.controller_ca.empty();
  if (controller_tls && (flags.controller_tls_cert.empty() || flags.controller_tls_key.empty() ||
                         flags.controller_ca.empty())) {
    FlagError("--controller-tls-cert, --controller-tls-key and --controller-ca go together");
  }
  if (controller_tls && flags.controller_insecure) {
    FlagError("--controller-insecure contradicts --controller-tls-cert; choose one");
  }
  // Snapshots carry every TLS private key: a plaintext stream may only run
  // where nobody else can listen in.
  if (!controller_tls && !flags.controller_insecure && !grpc_tls::IsLoopbackAddress(flags.controller)) {
    FlagError("--controller " + flags.controller +
              " is not a loopback address and the snapshot stream, which carries every TLS private key, would be "
              "plaintext: give --controller-tls-cert, --controller-tls-key and --controller-ca (mutual TLS), or "
              "--controller-insecure");
  }
  if (flags.default_certificate.empty() != flags.default_key.empty()) {
    FlagError("--default-certificate and --default-key go together");
  }
  if (flags.workers == 0) flags.workers = std::max(1u, std::thread::hardware_concurrency());
  if (flags.proxy_protocol_https && flags.https_listen.empty()) FlagError("--proxy-protocol https needs --https-listen");
  if (flags.max_connections < 0) {
    // Each client connection may hold an upstream one: half the
    // descriptors, so the proxy never runs out of them (accept4 EMFILE)
    // before the limit refuses connections cleanly.
    rlimit files{};
    getrlimit(RLIMIT_NOFILE, &files);
    uint64_t limit = files.rlim_cur == RLIM_INFINITY ? 1'000'000 : files.rlim_cur;
    flags.max_connections = static_cast<int64_t>(std::max<uint64_t>(limit / 2, 512));
  }
  {
    // Cached descriptors must leave room for connections: every worker's
    // cache together holds at most a quarter of the open-files limit.
    rlimit files{};
    getrlimit(RLIMIT_NOFILE, &files);
    uint64_t limit = files.rlim_cur == RLIM_INFINITY ? 1'000'000 : files.rlim_cur;
    int64_t per_worker = static_cast<int64_t>(limit / 4 / static_cast<uint64_t>(flags.workers));
    if (flags.open_file_cache_entries > per_worker) flags.open_file_cache_entries = per_worker;
  }
  if (flags.node_id.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    flags.node_id = std::string(host) + "-" + std::to_string(getpid());
  }
  return flags;
}

// What the admin endpoints report; written on the snapshot client's thread,
// read on the main thread. Never touched by workers.
struct ProxyState {
  std::mutex mu;
  // SIGTERM arrived: /readyz says 503 from then on.
  std::atomic<bool> shutting_down{false};
  std::shared_ptr<const snapshot::CompiledSnapshot> current;
  uint64_t applied = 0;
  uint64_t rejected = 0;
  std::string last_error;
  std::vector<v1::ResourceError> rejected_resources;  // of the applied version
  // Replaced snapshots, held until nobody else (worker, in-flight request)
  // does, then freed by ReleaseRetired: never by a worker in the middle of
  // its requests (a full state re-sent after a reconnect shares little
  // with the snapshot it replaces, and freeing that takes tens of ms).
  std::vector<std::shared_ptr<const snapshot::CompiledSnapshot>> retired;
  // Compile + hand-over to the workers, per applied or rejected version.
  prom::Histogram apply_seconds;
  double last_apply_unix_seconds = 0;
};

// Frees the retired snapshots only this list still holds, outside the lock.
void ReleaseRetired(ProxyState& state) {
  std::vector<std::shared_ptr<const snapshot::CompiledSnapshot>> unused;
  {
    std::lock_guard<std::mutex> lock(state.mu);
    auto still_used = std::partition(state.retired.begin(), state.retired.end(),
                                     [](const auto& snapshot) { return snapshot.use_count() > 1; });
    std::move(still_used, state.retired.end(), std::back_inserter(unused));
    state.retired.erase(still_used, state.retired.end());
  }
}

// The steady clock the workers use for health state (EndpointHealth).
int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(net::Clock::now().time_since_epoch()).count();
}

std::string MetricsText(const std::vector<std::unique_ptr<proxy::Worker>>& workers, ProxyState& state,
                        const accesslog::AccessLog* access_log, const waf::Firewall& firewall,
                        const metrics::SeriesRegistry& series) {
  uint64_t accepted = 0, active = 0, requests = 0, connects = 0, reuses = 0, failures = 0, exchanges = 0;
  uint64_t tls_by_version[proxy::WorkerStats::kTlsVersions] = {};
  uint64_t tls_by_reason[proxy::WorkerStats::kTlsFailureReasons] = {};
  std::vector<const metrics::WorkerSeries*> worker_series;
  uint64_t tls_handshakes = 0, tls_resumed = 0, tls_failures = 0;
  uint64_t retries = 0, budget_exhausted = 0, ejections = 0, proxy_protocol_failures = 0;
  uint64_t refused[5] = {};
  uint64_t passthrough[4] = {};  // connections, failures, bytes in, bytes out
  uint64_t mirror[4] = {};       // sent, completed, failed, dropped
  uint64_t file_warmups = 0;
  uint64_t by_class[6] = {0};
  using pipeline::CompressionStats;
  uint64_t compressed[CompressionStats::kCodings] = {}, compress_in[CompressionStats::kCodings] = {},
           compress_out[CompressionStats::kCodings] = {}, compress_skipped[CompressionStats::kReasons] = {};
  for (const auto& w : workers) {
    const auto& s = w->stats();
    accepted += s.connections_accepted.load(std::memory_order_relaxed);
    active += s.connections_active.load(std::memory_order_relaxed);
    exchanges += s.exchanges_active.load(std::memory_order_relaxed);
    for (size_t i = 0; i < proxy::WorkerStats::kTlsVersions; ++i) {
      tls_by_version[i] += s.tls_handshakes_by_version[i].load(std::memory_order_relaxed);
    }
    for (size_t i = 0; i < proxy::WorkerStats::kTlsFailureReasons; ++i) {
      tls_by_reason[i] += s.tls_failures_by_reason[i].load(std::memory_order_relaxed);
    }
    worker_series.push_back(w->series());
    requests += s.requests.load(std::memory_order_relaxed);
    connects += s.upstream_connects.load(std::memory_order_relaxed);
    reuses += s.upstream_reuses.load(std::memory_order_relaxed);
    failures += s.upstream_failures.load(std::memory_order_relaxed);
    retries += s.upstream_retries.load(std::memory_order_relaxed);
    budget_exhausted += s.retry_budget_exhausted.load(std::memory_order_relaxed);
    ejections += s.outlier_ejections.load(std::memory_order_relaxed);
    tls_handshakes += s.tls_handshakes.load(std::memory_order_relaxed);
    tls_resumed += s.tls_resumed.load(std::memory_order_relaxed);
    tls_failures += s.tls_handshake_failures.load(std::memory_order_relaxed);
    proxy_protocol_failures += s.proxy_protocol_failures.load(std::memory_order_relaxed);
    passthrough[0] += s.passthrough_connections.load(std::memory_order_relaxed);
    passthrough[1] += s.passthrough_failures.load(std::memory_order_relaxed);
    passthrough[2] += s.passthrough_bytes_in.load(std::memory_order_relaxed);
    passthrough[3] += s.passthrough_bytes_out.load(std::memory_order_relaxed);
    mirror[0] += s.mirror_requests.load(std::memory_order_relaxed);
    mirror[1] += s.mirror_completed.load(std::memory_order_relaxed);
    mirror[2] += s.mirror_failures.load(std::memory_order_relaxed);
    mirror[3] += s.mirror_dropped.load(std::memory_order_relaxed);
    file_warmups += s.file_warmups.load(std::memory_order_relaxed);
    for (int i = 0; i < 5; ++i) refused[i] += s.connections_refused[i].load(std::memory_order_relaxed);
    for (int i = 0; i < 6; ++i) by_class[i] += s.responses_by_class[i].load(std::memory_order_relaxed);
    for (size_t i = 0; i < CompressionStats::kCodings; ++i) {
      compressed[i] += s.compression.responses[i].load(std::memory_order_relaxed);
      compress_in[i] += s.compression.bytes_in[i].load(std::memory_order_relaxed);
      compress_out[i] += s.compression.bytes_out[i].load(std::memory_order_relaxed);
    }
    for (size_t i = 0; i < CompressionStats::kReasons; ++i) {
      compress_skipped[i] += s.compression.skipped[i].load(std::memory_order_relaxed);
    }
  }
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, uint64_t value, const char* labels = "") {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    out += std::string(name) + labels + " " + std::to_string(value) + "\n";
  };
  metric("sluice_connections_accepted_total", "counter", "Downstream connections accepted.", accepted);
  metric("sluice_connections_active", "gauge", "Downstream connections open now.", active);
  metric("sluice_requests_total", "counter", "Requests received.", requests);
  metric("sluice_streams_active", "gauge",
         "Requests in progress now (HTTP/1.1 exchanges and HTTP/2 streams, from the head until the exchange ends).",
         exchanges);
  out += "# HELP sluice_connections_refused_total Connections closed at once by the connection limits, by limit.\n";
  out += "# TYPE sluice_connections_refused_total counter\n";
  for (int i = 1; i < 5; ++i) {
    out += "sluice_connections_refused_total{limit=\"" +
           std::string(connlimit::RefusalName(static_cast<connlimit::Refusal>(i))) + "\"} " +
           std::to_string(refused[i]) + "\n";
  }
  metric("sluice_proxy_protocol_failures_total", "counter",
         "Connections closed for a missing, invalid or late PROXY protocol header.", proxy_protocol_failures);
  metric("sluice_passthrough_connections_total", "counter",
         "TLS connections passed through to a backend by SNI (ssl-passthrough), not terminated.", passthrough[0]);
  metric("sluice_passthrough_failures_total", "counter",
         "Passed-through TLS connections closed without reaching a backend (no endpoint, connect failures).",
         passthrough[1]);
  metric("sluice_passthrough_received_bytes_total", "counter",
         "Bytes passed through from clients to backends (counted when each connection ends).", passthrough[2]);
  metric("sluice_passthrough_sent_bytes_total", "counter",
         "Bytes passed through from backends to clients (counted when each connection ends).", passthrough[3]);
  metric("sluice_mirror_requests_total", "counter", "Mirrored request copies sent (mirror-target).", mirror[0]);
  metric("sluice_mirror_completed_total", "counter", "Mirrored copies whose response (ignored) came back.", mirror[1]);
  metric("sluice_mirror_failures_total", "counter",
         "Mirrored copies that failed (no cluster or endpoint, connect error, timeout).", mirror[2]);
  metric("sluice_mirror_dropped_total", "counter",
         "Mirrored copies dropped over a worker's caps (copies in flight, body bytes held).", mirror[3]);
  metric("sluice_file_reads_offloaded_total", "counter",
         "File body ranges (static files, cache objects on disk) not in the page cache, read in by an I/O thread "
         "before the event loop sent them.",
         file_warmups);
  out += "# HELP sluice_responses_total Responses sent, by status class (aborted: cut off mid-body).\n";
  out += "# TYPE sluice_responses_total counter\n";
  const char* classes[6] = {"aborted", "1xx", "2xx", "3xx", "4xx", "5xx"};
  for (int i = 0; i < 6; ++i) {
    out += std::string("sluice_responses_total{class=\"") + classes[i] + "\"} " + std::to_string(by_class[i]) + "\n";
  }
  // Compression (routes with sluice.io/compression on), per coding and per
  // reason a response went uncompressed.
  const pipeline::Coding codings[] = {pipeline::Coding::kGzip, pipeline::Coding::kBrotli, pipeline::Coding::kZstd};
  auto per_coding = [&](const char* name, const char* help, const uint64_t* values) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n";
    for (pipeline::Coding coding : codings) {
      out += std::string(name) + "{coding=\"" + std::string(pipeline::CodingName(coding)) + "\"} " +
             std::to_string(values[static_cast<size_t>(coding)]) + "\n";
    }
  };
  per_coding("sluice_compression_responses_total", "Responses compressed.", compressed);
  per_coding("sluice_compression_bytes_in_total", "Body bytes before compression.", compress_in);
  per_coding("sluice_compression_bytes_out_total", "Body bytes after compression.", compress_out);
  out += "# HELP sluice_compression_skipped_total Responses of compressing routes sent uncompressed, by reason.\n";
  out += "# TYPE sluice_compression_skipped_total counter\n";
  for (size_t i = 1; i < CompressionStats::kReasons; ++i) {
    out += "sluice_compression_skipped_total{reason=\"" +
           std::string(pipeline::SkipReasonName(static_cast<pipeline::SkipReason>(i))) + "\"} " +
           std::to_string(compress_skipped[i]) + "\n";
  }
  metric("sluice_upstream_connects_total", "counter", "New upstream connections opened.", connects);
  metric("sluice_upstream_reuses_total", "counter", "Requests sent on a pooled keep-alive upstream connection.", reuses);
  metric("sluice_upstream_failures_total", "counter", "Upstream connect, timeout, reset or protocol failures.", failures);
  metric("sluice_upstream_retries_total", "counter", "Upstream tries after the first (retries).", retries);
  metric("sluice_retry_budget_exhausted_total", "counter",
         "Retries not made because the cluster's retry budget was used up.", budget_exhausted);
  metric("sluice_outlier_ejections_total", "counter", "Endpoints ejected by passive outlier detection.", ejections);
  metric("sluice_tls_handshakes_total", "counter", "Downstream TLS handshakes completed (full and resumed).",
         tls_handshakes);
  metric("sluice_tls_resumed_handshakes_total", "counter",
         "Downstream TLS handshakes that resumed a session (ticket) instead of a full handshake.", tls_resumed);
  metric("sluice_tls_handshake_failures_total", "counter", "Downstream TLS handshakes that failed or timed out.",
         tls_failures);
  out += "# HELP sluice_tls_handshakes_by_version_total Downstream TLS handshakes completed, by protocol version.\n";
  out += "# TYPE sluice_tls_handshakes_by_version_total counter\n";
  for (size_t i = 0; i < proxy::WorkerStats::kTlsVersions; ++i) {
    out += std::string("sluice_tls_handshakes_by_version_total{version=\"") + proxy::TlsVersionName(i) + "\"} " +
           std::to_string(tls_by_version[i]) + "\n";
  }
  out += "# HELP sluice_tls_handshake_failures_by_reason_total Downstream TLS handshakes that failed, by reason.\n";
  out += "# TYPE sluice_tls_handshake_failures_by_reason_total counter\n";
  for (size_t i = 1; i < proxy::WorkerStats::kTlsFailureReasons; ++i) {  // 0: "none"
    out += std::string("sluice_tls_handshake_failures_by_reason_total{reason=\"") + proxy::TlsFailureReasonName(i) +
           "\"} " + std::to_string(tls_by_reason[i]) + "\n";
  }
  metric("sluice_tls_ticket_key_rotations_total", "counter", "Session ticket key rotations.",
         tls::TicketKeyRing::Instance().rotations());
  if (access_log != nullptr) {
    metric("sluice_access_log_dropped_total", "counter", "Access log lines dropped because the output could not keep up.",
           access_log->dropped_lines());
  }
  out += firewall.metrics().Text();
  {
    // The response cache's store, shared by every route that caches (the
    // per-route outcomes are sluice_route_cache_*).
    const cache::StoreStats cs = cache::Store::ProcessWide().stats();
    metric("sluice_cache_evictions_total", "counter", "Objects the response cache evicted to make room.", cs.evictions);
    metric("sluice_cache_memory_bytes", "gauge", "Bytes charged by the objects in the response cache's memory now.",
           cs.bytes);
    metric("sluice_cache_reserved_bytes", "gauge", "Bytes reserved by response cache fills in progress.",
           cs.reserved_bytes);
    metric("sluice_cache_objects", "gauge", "Objects in the response cache's memory now.", cs.objects);
    metric("sluice_cache_memory_limit_bytes", "gauge", "The response cache's memory budget (--cache-memory).",
           cache::Store::ProcessWide().capacity_bytes());
    if (cache::disk::DiskCache* disk = pipeline::DiskTierOf(cache::Store::ProcessWide())) {
      const cache::disk::DiskStats ds = disk->stats();
      const struct {
        const char* name;
        const char* type;
        const char* help;
        uint64_t value;
      } disk_metrics[] = {
          {"sluice_cache_disk_bytes", "gauge", "Bytes of the response cache's entry files on disk now (--cache-dir).",
           ds.bytes},
          {"sluice_cache_disk_objects", "gauge", "Entries in the response cache's disk tier now.", ds.entries},
          {"sluice_cache_disk_limit_bytes", "gauge", "The disk tier's limit (--cache-disk-size).",
           disk->options().capacity_bytes},
          {"sluice_cache_disk_hits_total", "counter", "Requests answered from the response cache's disk tier.", ds.hits},
          {"sluice_cache_disk_writes_total", "counter", "Objects written to the response cache's disk tier.", ds.writes},
          {"sluice_cache_disk_writes_dropped_total", "counter",
           "Objects not written to the disk tier because its writer's queue was full.", ds.dropped_writes},
          {"sluice_cache_disk_write_errors_total", "counter", "Disk tier writes that failed (the entry is not kept).",
           ds.write_errors},
          {"sluice_cache_disk_evictions_total", "counter", "Entries the disk tier removed to stay within its limit.",
           ds.evictions},
          {"sluice_cache_disk_corrupt_total", "counter",
           "Disk tier files found unreadable, corrupt or truncated (skipped and removed).", ds.corrupt},
          {"sluice_cache_disk_scan_done", "gauge", "1 once the start-up scan of --cache-dir has finished.",
           ds.scan_done ? 1u : 0u},
      };
      for (const auto& m : disk_metrics) metric(m.name, m.type, m.help, m.value);
    }
  }
  std::shared_ptr<const snapshot::CompiledSnapshot> current;
  {
    std::lock_guard<std::mutex> lock(state.mu);
    current = state.current;
  }
  // Per route and per cluster: the current snapshot's series.
  out += metrics::SeriesText(series, worker_series, current.get());
  uint64_t workers_behind = 0;
  for (const auto& w : workers) {
    if (current == nullptr || w->applied_version() != current->version()) ++workers_behind;
  }
  metric("sluice_config_workers_behind", "gauge",
         "Workers not yet serving the version the proxy last applied (non-zero only for a moment).", workers_behind);
  std::lock_guard<std::mutex> lock(state.mu);
  out += "# HELP sluice_config_info The configuration version this proxy serves (label version; the controller's "
         "sluice_controller_config_info has the version it publishes).\n# TYPE sluice_config_info gauge\n";
  if (state.current) out += "sluice_config_info{version=\"" + prom::Escape(state.current->version()) + "\"} 1\n";
  state.apply_seconds.Append(out, "sluice_config_apply_duration_seconds",
                             "Time to validate, compile and hand a configuration version to the workers (applied "
                             "and rejected ones).");
  out += "# HELP sluice_config_last_apply_timestamp_seconds When the last version was applied (Unix time).\n"
         "# TYPE sluice_config_last_apply_timestamp_seconds gauge\n"
         "sluice_config_last_apply_timestamp_seconds " + prom::Number(state.last_apply_unix_seconds) + "\n";
  metric("sluice_snapshot_applied_total", "counter", "Snapshots validated and applied (ACKed).", state.applied);
  metric("sluice_snapshot_rejected_total", "counter", "Snapshots rejected (NACKed).", state.rejected);
  metric("sluice_certificates_rejected", "gauge",
         "Certificates of the applied snapshot left out (bad PEM, key mismatch, expired, not yet valid).",
         state.rejected_resources.size());
  metric("sluice_ready", "gauge", "1 once a first snapshot is applied.", state.current ? 1 : 0);
  if (state.current) out += health::HealthMetricsText(*state.current, SteadyNowNs());
  return out;
}

int Run(const Flags& flags) {
  // Signals are taken by a signalfd on the main loop; block them before any
  // thread starts so that every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto http_address = net::ParseListenAddress(flags.http_listen);
  if (!http_address.ok()) FlagError("--http-listen: " + http_address.status().message());
  auto admin_address = net::ParseListenAddress(flags.admin_listen);
  if (!admin_address.ok()) FlagError("--admin-listen: " + admin_address.status().message());
  std::optional<net::Address> https_address;
  if (!flags.https_listen.empty()) {
    auto parsed = net::ParseListenAddress(flags.https_listen);
    if (!parsed.ok()) FlagError("--https-listen: " + parsed.status().message());
    https_address = *parsed;
  }
  // Certificates that do not come from the controller: --default-certificate,
  // else a self-signed one made now (used only when the snapshot has no
  // certificate without host names either).
  snapshot::CompileOptions compile_options;
  if (https_address) {
    if (!flags.default_certificate.empty()) {
      auto chain = tls::ReadPemFile(flags.default_certificate);
      auto key = tls::ReadPemFile(flags.default_key);
      if (!chain.ok() || !key.ok()) FlagError(!chain.ok() ? chain.status().message() : key.status().message());
      auto context = tls::NewServerContext(*chain, *key);
      if (!context.ok()) FlagError("--default-certificate: " + context.status().message());
      compile_options.explicit_default_certificate = *context;
    } else {
      tls::PemPair generated = tls::GenerateSelfSigned("sluice default certificate");
      auto context = tls::NewServerContext(generated.chain, generated.key);
      if (!context.ok()) {
        log::Error("cannot generate the self-signed default certificate", {{"error", context.status().message()}});
        return 1;
      }
      compile_options.generated_default_certificate = *context;
      log::Info("generated a self-signed default certificate (ECDSA P-256) for clients whose SNI matches no "
                "certificate; set --default-certificate/--default-key to choose one");
    }
  }

  connlimit::ConnectionLimits connection_limits(connlimit::Options{
      .max_connections = static_cast<uint32_t>(flags.max_connections),
      .max_connections_per_address = static_cast<uint32_t>(flags.max_connections_per_address),
      .max_rate_per_address = static_cast<uint32_t>(flags.max_connection_rate_per_address)});
  if (!flags.trusted_proxies.empty()) {
    std::string bad;
    std::optional<std::vector<IpPrefix>> trusted = ParsePrefixList(flags.trusted_proxies, &bad);
    if (!trusted) FlagError("--trusted-proxies: \"" + bad + "\" is not a CIDR");
    compile_options.chain.trusted_proxies = std::make_shared<const PrefixSet>(*trusted);
  }
  proxy::ProxyConfig config;
  config.connection_limits = &connection_limits;
  config.client_header_timeout = std::chrono::seconds(flags.client_header_timeout_seconds);
  config.keepalive_timeout = std::chrono::seconds(flags.keepalive_timeout_seconds);
  config.head_limits.max_head_bytes = static_cast<size_t>(flags.max_header_bytes);
  config.head_limits.max_header_count = static_cast<size_t>(flags.max_headers);
  config.h2_max_concurrent_streams = static_cast<uint32_t>(flags.h2_max_concurrent_streams);
  config.h2_stall_timeout = std::chrono::seconds(flags.h2_stall_timeout_seconds);
  config.h2_max_resets_per_second = static_cast<uint32_t>(flags.h2_max_resets_per_second);
  config.h2_max_control_frames_per_second = static_cast<uint32_t>(flags.h2_max_control_frames_per_second);
  if (flags.https_redirect_port != 0) {
    compile_options.chain.https_redirect_port = flags.https_redirect_port;
  } else if (https_address) {
    compile_options.chain.https_redirect_port = https_address->port();
  }
  // Declared before the workers, so it outlives them.
  std::unique_ptr<ratelimit::RedisLimiter> redis_limiter;
  if (!flags.ratelimit_redis.empty()) {
    auto redis = ratelimit::RedisOptions::Parse(flags.ratelimit_redis);
    if (!redis.ok()) FlagError("--ratelimit-redis: " + redis.status().message());
    if (!flags.ratelimit_redis_password_file.empty()) {
      std::ifstream file(flags.ratelimit_redis_password_file);
      if (!file) FlagError("--ratelimit-redis-password-file: cannot read " + flags.ratelimit_redis_password_file);
      std::getline(file, redis->password);  // the first line, without its newline
    } else if (const char* env = std::getenv("SLUICE_RATELIMIT_REDIS_PASSWORD"); env != nullptr && redis->password.empty()) {
      redis->password = env;
    }
    redis->ca_file = flags.ratelimit_redis_ca;
    redis_limiter = std::make_unique<ratelimit::RedisLimiter>(std::move(*redis), &ratelimit::BucketTable::ProcessWide());
    compile_options.chain.cluster_rate_limiter = redis_limiter.get();
  }
  std::unique_ptr<accesslog::AccessLog> access_log;
  if (flags.access_log == "-") {
    access_log = std::make_unique<accesslog::AccessLog>(accesslog::AccessLog::Options{});
  } else if (flags.access_log != "off") {
    auto opened = accesslog::AccessLog::OpenFile(flags.access_log, accesslog::AccessLog::Options{});
    if (!opened.ok()) {
      log::Error("cannot open the access log", {{"path", flags.access_log}, {"error", opened.status().message()}});
      return 1;
    }
    access_log = std::move(opened.value());
  }
  // The application firewall (routes with sluice.io/waf): its rules are
  // compiled with the snapshots, on the thread that applies them.
  std::unique_ptr<waf::AuditLog> waf_audit;
  if (flags.waf_audit_log != "off") {
    auto opened = waf::AuditLog::Open(flags.waf_audit_log);
    if (!opened.ok()) FlagError("--waf-audit-log: " + opened.status().message());
    waf_audit = std::move(opened.value());
  }
  waf::Firewall firewall(waf::RulesEnvironment{.crs_dir = flags.waf_crs_dir, .extra_rules_file = flags.waf_extra_rules},
                         std::move(waf_audit));
  if (!flags.waf_extra_rules.empty()) {
    Status checked = firewall.Check();
    if (!checked.ok()) FlagError("--waf-extra-rules: " + checked.message());
  }
  compile_options.chain.waf = &firewall;
  // Each worker thread makes its open-file cache on its first static file.
  pipeline::OpenFileCache::Configure(static_cast<size_t>(flags.open_file_cache_entries),
                                     flags.open_file_cache_valid_seconds * 1'000'000'000,
                                     static_cast<size_t>(flags.open_file_cache_inline_bytes));
  // Static files the cache does not hold fresh are opened on these threads
  // (as nginx's thread pools), never on a worker's loop; without the cache
  // (or with interval 0) the opens stay on the loop and no pool starts.
  if (flags.open_file_cache_entries > 0 && flags.open_file_cache_valid_seconds > 0) {
    pipeline::IoPool::StartProcessPool(/*threads=*/4, /*max_queued=*/4096);
  }
  // The response cache's disk tier: its hits are opened on the same pool.
  // Never destroyed, as the store it is below (workers and the admin
  // thread may still reach it while the process exits).
  cache::disk::DiskCache* cache_disk = nullptr;
  if (!flags.cache_dir.empty()) {
    cache::disk::DiskOptions disk_options;
    disk_options.dir = flags.cache_dir;
    disk_options.capacity_bytes = flags.cache_disk_bytes;
    Result<std::unique_ptr<cache::disk::DiskCache>> opened = cache::disk::DiskCache::Open(disk_options);
    if (!opened.ok()) FlagError("--cache-dir: " + opened.status().message());
    cache_disk = std::move(opened).value().release();
    cache::Store::ProcessWide().set_lower_tier(cache_disk);
    pipeline::IoPool::StartProcessPool(/*threads=*/4, /*max_queued=*/4096);
  }
  // Per-route and per-cluster series: slots given at compile time, counters
  // in each worker (dataplane/metrics).
  metrics::SeriesRegistry series_registry(static_cast<size_t>(flags.metrics_max_routes),
                                          static_cast<size_t>(flags.metrics_max_clusters));
  if (flags.metrics_max_routes != 0 || flags.metrics_max_clusters != 0) {
    compile_options.chain.series = &series_registry;
    config.metrics_max_routes = series_registry.max_routes();
    config.metrics_max_clusters = series_registry.max_clusters();
  }
  std::vector<std::unique_ptr<proxy::Worker>> workers;
  for (int i = 0; i < flags.workers; ++i) {
    workers.push_back(std::make_unique<proxy::Worker>(i, &config, access_log.get()));
    Status listening = workers.back()->Listen(*http_address, flags.proxy_protocol_http);
    if (listening.ok() && https_address) {
      std::shared_ptr<const tls::ServerConfig> initial =
          tls::ServerConfig::Build({}, compile_options.explicit_default_certificate,
                                   compile_options.generated_default_certificate, nullptr);
      listening = workers.back()->ListenTls(*https_address, std::move(initial), flags.proxy_protocol_https);
    }
    if (!listening.ok()) {
      log::Error("cannot start", {{"error", listening.message()}});
      return 1;
    }
  }

  net::EventLoop main_loop;
  ProxyState state;
  admin::AdminServer admin_server(&main_loop);
  Status admin_listening = admin_server.Listen(*admin_address);
  if (!admin_listening.ok()) {
    log::Error("cannot start admin listener", {{"error", admin_listening.message()}});
    return 1;
  }
  admin_server.Route("/healthz", [](const http::RequestHead&) { return admin::AdminResponse{200, "text/plain", "ok\n"}; });
  admin_server.Route("/readyz", [&](const http::RequestHead&) {
    if (state.shutting_down.load()) return admin::AdminResponse{503, "text/plain", "shutting down\n"};
    {
      std::lock_guard<std::mutex> lock(state.mu);
      if (!state.current) return admin::AdminResponse{503, "text/plain", "waiting for the first snapshot\n"};
    }
    // Ready once every worker has a configuration: before, a connection
    // accepted by a worker still applying it would get 503 "no
    // configuration yet" from a proxy that said it was ready.
    for (const auto& worker : workers) {
      if (worker->applied_version().empty()) {
        return admin::AdminResponse{503, "text/plain", "workers still applying the first snapshot\n"};
      }
    }
    return admin::AdminResponse{200, "text/plain", "ready\n"};
  });
  admin_server.Route("/metrics", [&](const http::RequestHead&) {
    return admin::AdminResponse{200, "text/plain; version=0.0.4",
                                MetricsText(workers, state, access_log.get(), firewall, series_registry)};
  });
  // POST /cache/purge?url=... | ?host=...&prefix=... | ?tag=... (or the
  // same as a form body); loopback peers only (AdminServer::RoutePost).
  admin_server.RoutePost("/cache/purge", [](const http::RequestHead& head, std::string_view body) {
    std::string_view query = head.path;
    query = query.find('?') == std::string_view::npos ? std::string_view() : query.substr(query.find('?') + 1);
    Result<uint64_t> purged = PurgeCache(query.empty() ? body : query, "admin");
    if (!purged.ok()) {
      return admin::AdminResponse{400, "application/json",
                                  "{\"error\":" + log::Quote(purged.status().message()) + "}\n"};
    }
    return admin::AdminResponse{200, "application/json", "{\"purged\":" + std::to_string(*purged) + "}\n"};
  });
  admin_server.Route("/snapshot", [&](const http::RequestHead&) {
    std::shared_ptr<const snapshot::CompiledSnapshot> current;
    std::string last_error;
    std::string rejected = "[";
    {
      std::lock_guard<std::mutex> lock(state.mu);
      current = state.current;
      last_error = state.last_error;
      for (const v1::ResourceError& error : state.rejected_resources) {
        rejected += (rejected.size() > 1 ? "," : "");
        rejected += "{\"name\":" + log::Quote(error.resource().name()) + ",\"error\":" + log::Quote(error.error()) + "}";
      }
    }
    rejected += "]";
    std::string json = "{\"version\":" + log::Quote(current ? current->version() : "") +
                       ",\"last_rejection\":" + log::Quote(last_error) + ",\"rejected_resources\":" + rejected +
                       ",\"workers\":[";
    for (size_t i = 0; i < workers.size(); ++i) {
      json += (i ? "," : "") + log::Quote(workers[i]->applied_version());
    }
    // Per endpoint: available, active check state, ejection.
    json += "],\"endpoint_health\":";
    json += current ? health::HealthJson(*current, SteadyNowNs()) : std::string("null");
    json += ",\"snapshot\":";
    std::string snapshot_json = "null";
    if (current) {
      snapshot_json.clear();
      v1::Snapshot redacted = current->SourceSnapshot();
      for (auto& cert : *redacted.mutable_certificates()) cert.set_private_key_pem("(redacted)");
      (void)google::protobuf::util::MessageToJsonString(redacted, &snapshot_json);
    }
    json += snapshot_json + "}\n";
    return admin::AdminResponse{200, "application/json", json};
  });

  // Health state by endpoint, kept across snapshots, and the one thread
  // that runs active checks for every cluster that asks for them.
  health::HealthRegistry health_registry;
  health::HealthChecker health_checker;
  discovery::ClientOptions client_options;
  client_options.controller_address = flags.controller;
  client_options.node_id = flags.node_id;
  client_options.purge = [](const std::string& request) { return PurgeCache(request, "controller"); };
  if (!flags.controller_tls_cert.empty()) {
    const grpc_tls::TlsFiles files{flags.controller_tls_cert, flags.controller_tls_key, flags.controller_ca};
    if (Status usable = grpc_tls::CheckFiles(files); !usable.ok()) {
      log::Error("cannot start: controller stream TLS", {{"error", usable.message()}});
      return 2;
    }
    client_options.credentials = grpc_tls::MutualTlsChannelCredentials(
        files, std::chrono::seconds(flags.controller_tls_reload_seconds));
    client_options.server_name = flags.controller_server_name;
    log::Info("controller stream uses mutual TLS",
              {{"cert", flags.controller_tls_cert},
               {"ca", flags.controller_ca},
               {"server_name", flags.controller_server_name.empty() ? "(the --controller host)"
                                                                     : flags.controller_server_name}});
  } else if (flags.controller_insecure) {
    log::Warn("controller stream is PLAINTEXT to a non-loopback address (--controller-insecure): snapshots, "
              "private keys included, cross the network unencrypted",
              {{"controller", flags.controller}});
  } else {
    log::Warn("controller stream is plaintext, to loopback only; in a cluster use --controller-tls-cert, "
              "--controller-tls-key and --controller-ca",
              {{"controller", flags.controller}});
  }
  // A certificate that does not load is left out and named in the ACK
  // (partial ACK, StreamRequest.rejected_resources); anything else wrong
  // rejects the whole version (NACK).
  discovery::SnapshotClient client(client_options, [&](const discovery::ResourceState& desired,
                                                        const std::string& version) -> discovery::ApplyResult {
    // Incremental: `desired` shares its unchanged resources (and map nodes)
    // with the current snapshot's sources, so Compile looks only at what
    // changed and shares the rest: a one-resource delta costs well under a
    // millisecond at 10,000 hosts.
    const auto apply_start = std::chrono::steady_clock::now();
    auto apply_seconds = [&] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - apply_start).count();
    };
    std::shared_ptr<const snapshot::CompiledSnapshot> previous;
    {
      std::lock_guard<std::mutex> lock(state.mu);
      previous = state.current;
    }
    auto compiled = snapshot::Compile(desired.sources(), version, &health_registry, compile_options, previous.get());
    if (!compiled.ok()) {
      state.apply_seconds.Observe(apply_seconds());
      std::lock_guard<std::mutex> lock(state.mu);
      ++state.rejected;
      state.last_error = "version " + version + ": " + compiled.status().message();
      return {compiled.status(), {}};
    }
    std::vector<v1::ResourceError> rejected;
    for (const tls::CertificateProblem& problem : (*compiled)->certificate_problems()) {
      v1::ResourceError error;
      error.mutable_resource()->set_type(v1::CERTIFICATE);
      error.mutable_resource()->set_name(problem.name);
      error.set_error("certificate " + problem.name + ": " + problem.message);
      rejected.push_back(std::move(error));
    }
    // A REGEX route whose expression does not compile is left out of its
    // host (the rest serves): named like a refused firewall route.
    for (const snapshot::RouteProblem& problem : (*compiled)->route_problems()) {
      v1::ResourceError error;
      error.mutable_resource()->set_type(v1::INGRESS_ROUTES);
      error.mutable_resource()->set_name(problem.origin);
      error.set_error(problem.error);
      rejected.push_back(std::move(error));
    }
    for (const waf::Firewall::RejectedRoute& route : firewall.RejectedRoutes()) {
      v1::ResourceError error;
      error.mutable_resource()->set_type(v1::INGRESS_ROUTES);
      error.mutable_resource()->set_name(route.route);
      error.set_error("application firewall of " + route.route + " (answering 503): " + route.error);
      rejected.push_back(std::move(error));
    }
    {
      std::lock_guard<std::mutex> lock(state.mu);  // before the workers: /snapshot never lags the traffic
      ++state.applied;
      state.current = *compiled;
      state.rejected_resources = rejected;
      if (previous != nullptr) state.retired.push_back(std::move(previous));
    }
    for (auto& worker : workers) worker->SetSnapshot(*compiled);
    state.apply_seconds.Observe(apply_seconds());
    health_checker.Update(health::CheckTargets(**compiled));
    ReleaseRetired(state);  // those the workers let go of since the last apply
    // Series slots of routes and clusters that no snapshot still in use has
    // go back to the registry, but only once some went to the overflow.
    {
      std::vector<std::shared_ptr<const snapshot::CompiledSnapshot>> live;
      {
        std::lock_guard<std::mutex> lock(state.mu);
        state.last_apply_unix_seconds =
            std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
        live = state.retired;
        live.push_back(state.current);
      }
      if (series_registry.overflowed()) {
        std::vector<const metrics::WorkerSeries*> worker_series;
        for (const auto& worker : workers) worker_series.push_back(worker->series());
        std::vector<const snapshot::CompiledSnapshot*> live_pointers;
        for (const auto& snapshot : live) live_pointers.push_back(snapshot.get());
        metrics::ReclaimUnused(series_registry, worker_series, live_pointers);
      }
    }
    return {Status::Ok(), std::move(rejected)};
  });

  for (auto& worker : workers) worker->Start();
  health_checker.Start();
  client.Start();
  // Session ticket keys: one ring for every worker, rotated here.
  const auto ticket_rotation = std::chrono::seconds(flags.tls_ticket_rotation_seconds);
  std::function<void()> rotate_ticket_keys = [&] {
    tls::TicketKeyRing::Instance().Rotate();
    main_loop.AddTimer(ticket_rotation, rotate_ticket_keys);
  };
  if (https_address) main_loop.AddTimer(ticket_rotation, rotate_ticket_keys);
  std::function<void()> release_retired = [&] {
    ReleaseRetired(state);
    main_loop.AddTimer(std::chrono::seconds(1), release_retired);
  };
  main_loop.AddTimer(std::chrono::seconds(1), release_retired);
  log::Info("sluice-proxy started", {{"version", VersionLine(kProgram, kVersion)},
                                     {"http_listen", http_address->ToString()},
                                     {"https_listen", https_address ? https_address->ToString() : "off"},
                                     {"admin_listen", admin_address->ToString()},
                                     {"controller", flags.controller},
                                     {"workers", std::to_string(flags.workers)},
                                     {"node_id", flags.node_id}});

  int signal_fd = signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
  class SignalHandler : public net::IoHandler {
   public:
    SignalHandler(int fd, std::function<void()> on_signal) : fd_(fd), on_signal_(std::move(on_signal)) {}
    void OnIoEvents(uint32_t) override {
      signalfd_siginfo info;
      bool got = false;
      while (read(fd_, &info, sizeof info) == sizeof info) got = true;
      if (got) on_signal_();
    }

   private:
    int fd_;
    std::function<void()> on_signal_;
  };
  bool draining = false;
  auto drain_deadline = net::Clock::now();
  std::function<void()> check_drained = [&] {
    uint64_t active = 0;
    for (auto& worker : workers) active += worker->active_connections();
    if (active == 0) return main_loop.Stop();
    if (net::Clock::now() >= drain_deadline) {
      log::Warn("drain deadline reached", {{"connections", std::to_string(active)}});
      // WebSockets (which never end by themselves) are told 1001 "going
      // away" rather than cut; a moment for those frames to leave.
      for (auto& worker : workers) worker->SayGoingAway();
      main_loop.AddTimer(std::chrono::milliseconds(250), [&] { main_loop.Stop(); });
      return;
    }
    main_loop.AddTimer(std::chrono::milliseconds(50), check_drained);
  };
  SignalHandler signal_handler(signal_fd, [&] {
    if (draining) {  // a second signal: stop now
      main_loop.Stop();
      return;
    }
    draining = true;
    // Readiness drops first; the listeners stay open through the grace
    // period, then the drain closes them.
    state.shutting_down = true;
    auto drain = [&] {
      log::Info("draining", {{"timeout_seconds", std::to_string(flags.drain_timeout_seconds)}});
      drain_deadline = net::Clock::now() + std::chrono::seconds(flags.drain_timeout_seconds);
      for (auto& worker : workers) worker->Drain();
      check_drained();
    };
    if (flags.shutdown_grace_seconds == 0) return drain();
    // (Only with a grace period: without one the final GOAWAY follows at
    // once and the notice would say nothing more.)
    for (auto& worker : workers) worker->NoticeShutdown();
    log::Info("shutting down: still accepting, not ready",
              {{"grace_period_seconds", std::to_string(flags.shutdown_grace_seconds)}});
    main_loop.AddTimer(std::chrono::seconds(flags.shutdown_grace_seconds), drain);
  });
  main_loop.Register(signal_fd, &signal_handler, EPOLLIN | EPOLLET);
  main_loop.Run();

  client.Stop();
  health_checker.Stop();
  for (auto& worker : workers) worker->Stop();
  workers.clear();     // flushes and destroys the access log writers
  access_log.reset();  // then writes out what they handed over
  close(signal_fd);
  // What the workers stored last reaches the disk tier before the exit.
  if (cache_disk != nullptr) cache_disk->Flush();
  log::Info("sluice-proxy stopped");
  return 0;
}

}  // namespace
}  // namespace sluice

int main(int argc, char** argv) {
  sluice::Flags flags = sluice::ParseFlags(argc, argv);
  // Before any snapshot is compiled: the cache stages take the store then.
  sluice::cache::StoreOptions cache;
  cache.capacity_bytes = flags.cache_memory_bytes;
  cache.max_object_bytes = flags.cache_max_object_bytes;
  sluice::cache::Store::ConfigureProcessWide(cache);
  return sluice::Run(flags);
}
