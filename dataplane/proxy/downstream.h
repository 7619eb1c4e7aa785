#pragma once
// The seam between a downstream codec (HTTP/1.1 now, HTTP/2 next) and the
// protocol-neutral Exchange that proxies one request. The codec turns bytes
// into RequestHead/body events for the Exchange and implements this
// interface to turn the Exchange's response back into bytes.
#include <string>
#include <string_view>

#include "dataplane/http/client_info.h"
#include "dataplane/http/message.h"

namespace sluice::proxy {

using http::ClientInfo;

class DownstreamStream {
 public:
  virtual ~DownstreamStream() = default;
  // `head` carries content-length when the body length is known; without it
  // and with a body to come, the codec frames the body itself (chunked).
  virtual void SendResponseHead(http::ResponseHead&& head, bool end_stream) = 0;
  virtual void SendResponseBody(std::string_view data) = 0;
  // Up to `max` body bytes straight from the file `fd` at `offset`, after
  // what is buffered (sendfile(2) on a plain HTTP/1.1 connection). Returns
  // the bytes sent; 0: not now (the socket is full: OnDownstreamWritable
  // follows); kCannotSendFile: this connection cannot (TLS, HTTP/2,
  // chunked framing), read the file instead; kClientGone: the connection
  // closed (the exchange was told).
  static constexpr int64_t kCannotSendFile = -1;
  static constexpr int64_t kClientGone = -2;
  virtual int64_t SendFileBody(int fd, uint64_t offset, size_t max) { return kCannotSendFile; }
  virtual void SendResponseEnd(const http::HeaderMap* trailers) = 0;
  // The response cannot be completed (upstream died mid-body): the client
  // must see a truncated response, never a complete-looking one.
  virtual void AbortResponse() = 0;
  // Writes what is buffered. Exchanges call it once per batch of work.
  virtual void Flush() = 0;
  // Too much buffered towards the client: stop producing until
  // Exchange::OnDownstreamWritable().
  virtual bool OutputFull() const = 0;
  // The upstream drained the request body buffer: read more from the client.
  virtual void ResumeRequestBody() = 0;
  // The exchange is over (response complete, or error answered/aborted).
  virtual void OnExchangeDone() = 0;
  // After a 101 response: from now on the connection is a raw byte tunnel
  // (WebSocket and other Upgrades). Client bytes go to
  // Exchange::OnTunnelData; SendResponseBody carries upstream bytes as is.
  virtual void StartTunnel() = 0;
  virtual const ClientInfo& client() const = 0;
  // Response bytes (head and body, as framed on the wire) queued for the
  // client since the current request started, for the access log.
  virtual uint64_t response_bytes() const = 0;
};

}  // namespace sluice::proxy
