#pragma once
// A connected byte stream, plain or TLS: the seam between the codecs (HTTP/1,
// HTTP/2) and the socket, so a codec never knows whether it is encrypted.
// Semantics follow recv(2)/send(2) on a non-blocking socket, so an
// edge-triggered caller keeps its read-until-EAGAIN loop unchanged:
//   Read:  > 0 bytes read; 0 the peer closed (clean EOF); -1 with errno set
//          (EAGAIN: nothing more until the next event; anything else: error).
//   Write: >= 0 bytes accepted; -1 with errno set (EAGAIN: full).
// A TLS transport may need to write to make a read progress (or the reverse),
// which is why connections stay registered for both EPOLLIN and EPOLLOUT and
// a codec retries both directions on any event.
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <string_view>

namespace sluice::net {

class Transport {
 public:
  virtual ~Transport() = default;
  virtual ssize_t Read(void* buffer, size_t length) = 0;
  virtual ssize_t Write(const void* data, size_t length) = 0;
  // No more bytes from us (TLS: close_notify first). Best effort.
  virtual void ShutdownWrite() = 0;
  virtual int fd() const = 0;
  // Negotiated ALPN protocol ("h2", "http/1.1"); empty without TLS or ALPN.
  virtual std::string_view alpn() const { return {}; }
  virtual bool secure() const { return false; }
  // After a Read shorter than asked: true when that means "nothing more
  // until the next event" (recv() semantics, which edge-triggered callers
  // use to skip the read that would say EAGAIN). A TLS transport that met
  // the end of stream (or an error) right behind data hands over the data
  // first and says false, so the caller reads once more and sees the 0.
  virtual bool drained_after_short_read() const { return true; }
};

// The plain TCP case. Does not own the fd (the codec closes it).
class PlainTransport final : public Transport {
 public:
  explicit PlainTransport(int fd) : fd_(fd) {}
  ssize_t Read(void* buffer, size_t length) override { return ::recv(fd_, buffer, length, 0); }
  ssize_t Write(const void* data, size_t length) override { return ::send(fd_, data, length, MSG_NOSIGNAL); }
  void ShutdownWrite() override { ::shutdown(fd_, SHUT_WR); }
  int fd() const override { return fd_; }

 private:
  int fd_;
};

}  // namespace sluice::net
