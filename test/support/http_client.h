#pragma once
// Test-only blocking HTTP/1.1 client over a real loopback socket: send raw
// bytes, read whole responses (parsed with the product's parser, which has
// its own tests), with a receive timeout so no test can hang.
#include <string>
#include <string_view>

#include "dataplane/http/message.h"

namespace sluice::testing {

struct Response {
  int status = 0;  // 0: connection closed or timed out before a full response
  http::HeaderMap headers;
  std::string body;
  std::string Header(std::string_view name) const {
    const std::string* v = headers.Get(name);
    return v ? *v : "";
  }
};

class HttpConnection {
 public:
  // `source`: the local address to connect from (any 127.x address, to be
  // another client); empty: the kernel's choice.
  explicit HttpConnection(int port, std::string host = "127.0.0.1", int timeout_ms = 5000, std::string source = "");
  ~HttpConnection();
  bool connected() const { return fd_ >= 0; }
  bool SendRaw(std::string_view bytes);
  // Reads one response; `head_request` for responses without a body.
  Response ReadResponse(bool head_request = false);
  // Convenience: GET `path` with Host `host`.
  Response Get(std::string_view host, std::string_view path, std::string_view extra_headers = "");
  // True when the server closed the connection (reads EOF within the timeout).
  bool PeerClosed();

 private:
  int fd_ = -1;
  std::string buffered_;
};

// One request on a fresh connection.
Response Fetch(int port, std::string_view host, std::string_view path, std::string_view extra_headers = "");

}  // namespace sluice::testing
