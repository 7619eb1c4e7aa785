#include "dataplane/net/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace sluice::net {

std::string Address::IpString() const {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, buf, sizeof buf);
  } else if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

IpAddress Address::Ip() const {
  if (family() == AF_INET) return IpAddress::FromV4(ntohl(reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr.s_addr));
  if (family() == AF_INET6) {
    return IpAddress::FromV6Bytes(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr.s6_addr);
  }
  return IpAddress{};
}

int Address::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  return 0;
}

std::string Address::ToString() const {
  if (family() == AF_INET6) return "[" + IpString() + "]:" + std::to_string(port());
  return IpString() + ":" + std::to_string(port());
}

Result<Address> MakeAddress(std::string_view ip, int port) {
  if (port < 0 || port > 65535) return Status::Error("port out of range: " + std::to_string(port));
  Address out;
  std::string host(ip);
  if (!host.empty() && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    out.length = sizeof(sockaddr_in);
    return out;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    out.length = sizeof(sockaddr_in6);
    return out;
  }
  return Status::Error("not an IP address: \"" + std::string(ip) + "\"");
}

Result<Address> ParseListenAddress(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return Status::Error("expected HOST:PORT, got \"" + std::string(text) + "\"");
  std::string_view host = text.substr(0, colon);
  std::string_view port_text = text.substr(colon + 1);
  int port = -1;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 0 || port > 65535) {
    return Status::Error("invalid port in \"" + std::string(text) + "\"");
  }
  if (host.empty()) host = "0.0.0.0";
  auto address = MakeAddress(host, port);
  if (!address.ok()) return Status::Error("invalid address \"" + std::string(text) + "\": " + address.status().message());
  return address;
}

Result<int> Bind(const Address& address, bool reuse_port) {
  int fd = socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Error(std::string("socket: ") + strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuse_port) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (bind(fd, address.sa(), address.length) != 0) {
    int err = errno;
    close(fd);
    return Status::Error("cannot listen on " + address.ToString() + ": " + strerror(err));
  }
  return fd;
}

Status StartListening(int fd, const Address& address, int backlog) {
  if (listen(fd, backlog) != 0) {
    return Status::Error("cannot listen on " + address.ToString() + ": " + strerror(errno));
  }
  return Status::Ok();
}

Result<int> Listen(const Address& address, bool reuse_port, int backlog) {
  auto fd = Bind(address, reuse_port);
  if (!fd.ok()) return fd;
  Status listening = StartListening(*fd, address, backlog);
  if (!listening.ok()) {
    close(*fd);
    return listening;
  }
  return fd;
}

Result<int> ConnectNonBlocking(const Address& address) {
  int fd = socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Error(std::string("socket: ") + strerror(errno));
  SetTcpNoDelay(fd);
  if (connect(fd, address.sa(), address.length) != 0 && errno != EINPROGRESS) {
    int err = errno;
    close(fd);
    return Status::Error(std::string("connect: ") + strerror(err));
  }
  return fd;
}

int PendingSocketError(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

void SetTcpNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace sluice::net
