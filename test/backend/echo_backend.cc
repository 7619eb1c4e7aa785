// sluice-echo-backend: a small HTTP/1.1 origin for the demo and the tests.
// Thread per connection with blocking sockets: it is a test peer, not the
// product. It answers every request with what it saw, so tests and demo
// users can check routing, forwarded headers and bodies:
//   GET  /anything          -> 200 JSON {"backend","method","path","headers",...}
//   ANY  /echo              -> 200, the request body echoed back (chunked when the request was)
//   GET  /bytes/N           -> 200, N bytes of 'x' with Content-Length
//   GET  /chunked/N         -> 200, N bytes in chunks of 1000, chunked encoding
//   GET  /status/NNN        -> that status
//   GET  /slow/MS           -> 200 after MS milliseconds
//   GET  /close             -> 200 with Connection: close, then closes
//   GET  /control/fail/NNN  -> from now on every other request gets status NNN
//                              (0: back to normal); for health and retry tests
//   GET  /control/count?path=/p -> how many requests for path /p arrived (all
//                              but /control ones are counted, failing or not)
// Usage: sluice-echo-backend --listen 127.0.0.1:9001 --name app
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "dataplane/http1/parser.h"
#include "dataplane/common/log.h"
#include "dataplane/net/socket.h"

namespace {

std::string g_name = "backend";
std::atomic<uint64_t> g_requests{0};
std::atomic<int> g_fail_status{0};
std::mutex g_counts_mu;
std::map<std::string, uint64_t> g_counts_by_path;

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string JsonQuote(std::string_view s) { return sluice::log::Quote(s); }

void Respond(int fd, int status, const std::string& content_type, const std::string& body, bool close_after,
             const std::string& extra_headers = "") {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " +
                    std::string(sluice::http1::StandardReason(status)) + "\r\n";
  out += "content-type: " + content_type + "\r\n";
  out += "content-length: " + std::to_string(body.size()) + "\r\n";
  out += "x-backend: " + g_name + "\r\n";
  out += "server: echo-backend/1.0\r\n";
  out += extra_headers;
  if (close_after) out += "connection: close\r\n";
  out += "\r\n";
  out += body;
  SendAll(fd, out);
}

void Serve(int fd) {
  std::string in;
  char buf[65536];
  while (true) {
    sluice::http::RequestHead head;
    sluice::http1::HeadParse parsed;
    while (true) {
      parsed = sluice::http1::ParseRequestHead(in, sluice::http1::Limits(), &head);
      if (parsed.state != sluice::http1::ParseState::kIncomplete) break;
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      in.append(buf, static_cast<size_t>(n));
    }
    if (parsed.state == sluice::http1::ParseState::kError) {
      Respond(fd, 400, "text/plain", "bad request\n", true);
      return;
    }
    in.erase(0, parsed.consumed);
    sluice::http1::BodyFraming framing;
    if (!sluice::http1::RequestBodyFraming(head, &framing).ok()) {
      Respond(fd, 400, "text/plain", "bad framing\n", true);
      return;
    }
    std::string body;
    if (framing.kind != sluice::http1::BodyFraming::kNone) {
      sluice::http1::BodyDecoder decoder(framing);
      while (!decoder.done()) {
        auto step = decoder.Next(in);
        if (step.kind == sluice::http1::BodyDecoder::Step::kData) body.append(step.data);  // before erase: a view
        in.erase(0, step.consumed);
        if (step.kind == sluice::http1::BodyDecoder::Step::kData) {
        } else if (step.kind == sluice::http1::BodyDecoder::Step::kError) {
          Respond(fd, 400, "text/plain", "bad body\n", true);
          return;
        } else if (step.kind == sluice::http1::BodyDecoder::Step::kNeedMore && step.consumed == 0) {
          ssize_t n = recv(fd, buf, sizeof buf, 0);
          if (n <= 0) return;
          in.append(buf, static_cast<size_t>(n));
        }
      }
    }
    ++g_requests;
    const std::string* conn = head.headers.Get("connection");
    bool close_after = conn != nullptr && sluice::http::EqualsIgnoreCase(*conn, "close");
    std::string path(sluice::http::PathWithoutQuery(head.path));
    if (!path.starts_with("/control/")) {
      std::lock_guard<std::mutex> lock(g_counts_mu);
      ++g_counts_by_path[path];
    }
    if (path.starts_with("/control/fail/")) {
      g_fail_status = std::atoi(path.c_str() + 14);
      Respond(fd, 200, "text/plain", "ok\n", close_after);
    } else if (path == "/control/count") {
      size_t at = head.path.find("path=");
      std::string counted = at == std::string::npos ? "" : head.path.substr(at + 5);
      uint64_t n = 0;
      {
        std::lock_guard<std::mutex> lock(g_counts_mu);
        if (auto it = g_counts_by_path.find(counted); it != g_counts_by_path.end()) n = it->second;
      }
      Respond(fd, 200, "text/plain", std::to_string(n) + "\n", close_after);
    } else if (int failing = g_fail_status.load(); failing != 0) {
      Respond(fd, failing, "text/plain", "failing on purpose\n", close_after);
    } else if (path == "/echo") {
      Respond(fd, 200, "application/octet-stream", body, close_after);
    } else if (path.starts_with("/bytes/")) {
      size_t n = std::stoul(path.substr(7));
      Respond(fd, 200, "application/octet-stream", std::string(n, 'x'), close_after);
    } else if (path.starts_with("/chunked/")) {
      size_t n = std::stoul(path.substr(9));
      std::string out = "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\nx-backend: " +
                        g_name + "\r\n\r\n";
      while (n > 0) {
        size_t piece = n < 1000 ? n : 1000;
        char size_line[32];
        std::snprintf(size_line, sizeof size_line, "%zx\r\n", piece);
        out += size_line;
        out += std::string(piece, 'y');
        out += "\r\n";
        n -= piece;
      }
      out += "0\r\n\r\n";
      if (!SendAll(fd, out)) return;
    } else if (path.starts_with("/status/")) {
      Respond(fd, std::stoi(path.substr(8)), "text/plain", "status\n", close_after);
    } else if (path.starts_with("/slow/")) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::stoi(path.substr(6))));
      Respond(fd, 200, "text/plain", "slow\n", close_after);
    } else if (path == "/close") {
      Respond(fd, 200, "text/plain", "bye\n", true);
      return;
    } else {
      std::string json = "{\"backend\":" + JsonQuote(g_name) + ",\"method\":" + JsonQuote(head.method) +
                         ",\"path\":" + JsonQuote(head.path) + ",\"body_bytes\":" + std::to_string(body.size()) +
                         ",\"headers\":{";
      bool first = true;
      for (const auto& h : head.headers.entries()) {
        if (!first) json += ",";
        first = false;
        json += JsonQuote(h.name) + ":" + JsonQuote(h.value);
      }
      json += "}}\n";
      Respond(fd, 200, "application/json", json, close_after);
    }
    if (close_after) return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:9001";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if ((arg == "--listen" || arg == "--name") && i + 1 < argc) {
      (arg == "--listen" ? listen : g_name) = argv[++i];
    } else {
      std::fprintf(stderr, "usage: sluice-echo-backend --listen HOST:PORT --name NAME\n");
      return 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  auto address = sluice::net::ParseListenAddress(listen);
  if (!address.ok()) {
    std::fprintf(stderr, "sluice-echo-backend: %s\n", address.status().message().c_str());
    return 2;
  }
  auto fd = sluice::net::Listen(*address, false);
  if (!fd.ok()) {
    std::fprintf(stderr, "sluice-echo-backend: %s\n", fd.status().message().c_str());
    return 1;
  }
  // Blocking accept for simplicity.
  int lfd = *fd;
  int flags = 0;
  (void)flags;
  fcntl(lfd, F_SETFL, 0);
  std::fprintf(stderr, "sluice-echo-backend %s listening on %s\n", g_name.c_str(), listen.c_str());
  while (true) {
    int c = accept(lfd, nullptr, nullptr);
    if (c < 0) continue;
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::thread([c] {
      Serve(c);
      close(c);
    }).detach();
  }
}
