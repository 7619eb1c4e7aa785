#pragma once
// Addresses and non-blocking sockets.
#include <netinet/in.h>
#include <sys/socket.h>

#include <string>
#include <string_view>

#include "base/ip_prefix.h"
#include "base/status.h"

namespace sluice::net {

struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;

  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&storage); }
  int family() const { return storage.ss_family; }
  // "127.0.0.1:8080" or "[::1]:8080".
  std::string ToString() const;
  // "127.0.0.1" or "::1", no port.
  std::string IpString() const;
  // The address alone, for matching and counting (IPv4 as IPv4-mapped).
  IpAddress Ip() const;
  int port() const;
};

// Parses "HOST:PORT", ":PORT" (all interfaces), "[V6]:PORT". HOST must be an
// IP literal: the data plane never blocks on DNS.
Result<Address> ParseListenAddress(std::string_view text);
// An IP literal and a port, as carried by the snapshot.
Result<Address> MakeAddress(std::string_view ip, int port);

// A non-blocking listening socket with SO_REUSEADDR and, when `reuse_port`,
// SO_REUSEPORT so that every worker can own its own accept queue.
Result<int> Listen(const Address& address, bool reuse_port, int backlog = 4096);
// The two halves of Listen: a socket bound to `address` (the port is
// checked now) that accepts nothing until StartListening. With SO_REUSEPORT
// a socket joins the port's listen group only at listen(): the kernel
// sends it no connection before.
Result<int> Bind(const Address& address, bool reuse_port);
Status StartListening(int fd, const Address& address, int backlog = 4096);
// Starts a non-blocking connect. The socket is writable when it completes;
// check SO_ERROR then.
Result<int> ConnectNonBlocking(const Address& address);
// The error of a finished non-blocking connect (0 on success).
int PendingSocketError(int fd);
void SetTcpNoDelay(int fd);

}  // namespace sluice::net
