#pragma once
// One access-log line as JSON. Pure formatting, no I/O: the writer machinery
// lives in access_log.h.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::accesslog {

// Filled by the proxy at the end of each request. The views only need to
// live until Log()/AppendJsonLine() returns: the line is formatted at once.
struct Entry {
  std::chrono::system_clock::time_point start;  // when the request head was complete
  std::string_view client_address;              // ip: the real client (PROXY protocol, trusted X-Forwarded-For)
  std::string_view peer_address;                // the TCP peer when it is not the client; else empty
  std::string_view method, host, path;          // path incl. query, as received (untrusted)
  int status = 0;                               // 0 if aborted before a response
  uint64_t bytes_in = 0;                        // request body bytes read
  uint64_t bytes_out = 0;                       // response bytes sent (head + body)
  std::string_view upstream_address;            // "ip:port" or empty
  double upstream_seconds = -1;                 // upstream request sent -> response complete; < 0 if none
  // Upstream tries (retries included); "attempts" is only written when > 1,
  // and then "upstream" lists every endpoint tried: "a, b".
  int upstream_attempts = 0;
  double total_seconds = 0;
  std::string_view snapshot_version;
  std::string_view route_origin;  // "namespace/ingress" or empty
  std::string_view error;         // short reason when the proxy answered the error itself
  // The response cache's outcome on a caching route: HIT, COALESCED (waited
  // for another request's fill, answered from it), STALE (a stale object:
  // stale-if-error, stale-while-revalidate, or the request's max-stale), MISS, PASS (uncacheable or hit-for-pass,
  // too many waiters), BYPASS (not looked up); empty elsewhere.
  std::string_view cache;
};

// Appends one line terminated by '\n':
// {"time":"2026-11-26T13:55:25.835Z","client":"127.0.0.1","method":"GET","host":"demo.local",
//  "path":"/app?x=1","status":200,"bytes_in":0,"bytes_out":295,"upstream":"127.0.0.1:9001",
//  "upstream_time":0.001,"total_time":0.002,"version":"16d1...","route":"demo/demo"}
// "time" is `start` in UTC with milliseconds; times are seconds with millisecond
// resolution. "peer" (after "client", the balancer or proxy the client came
// through), "upstream", "upstream_time", "version", "route", "error" and
// "cache" (last: the response cache's outcome, e.g. "cache":"HIT") are
// left out when empty / negative, every other field is always present.
// Every string is escaped (see AppendJsonString), so a client cannot end the
// line early or add fields.
void AppendJsonLine(const Entry& entry, std::string& out);

// Appends `text` as a quoted JSON string. Quotes, backslashes, control
// characters (including DEL), U+2028/U+2029 are escaped; valid UTF-8 is kept
// as is; each byte that is not part of a valid UTF-8 sequence becomes \u00XX
// (so the result is always valid UTF-8 and valid JSON, and the original byte
// stays visible).
void AppendJsonString(std::string_view text, std::string& out);

}  // namespace sluice::accesslog
