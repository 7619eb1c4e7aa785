#include "controlplane/main/admin_http.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "base/ip_prefix.h"

namespace sluice::controller {
namespace {

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

void SendAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // peer went away; nothing useful to do
    sent += static_cast<size_t>(n);
  }
}

// Splits "host:port", "[v6]:port" and ":port".
bool SplitHostPort(const std::string& address, std::string& host, std::string& port) {
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':') return false;
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos) return false;
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  return !port.empty() && port.find_first_not_of("0123456789") == std::string::npos;
}

// The body after the head in `request` (read on to Content-Length, at most
// 8 KiB): a form-encoded POST.
std::string ReadBody(int fd, const std::string& request) {
  size_t head_end = request.find("\r\n\r\n");
  size_t separator = 4;
  if (head_end == std::string::npos) {
    head_end = request.find("\n\n");
    separator = 2;
  }
  if (head_end == std::string::npos) return "";
  size_t length = 0;
  for (size_t at = 0; at < head_end;) {
    size_t end = request.find('\n', at);
    if (end == std::string::npos || end > head_end) end = head_end;
    std::string line = request.substr(at, end - at);
    for (char& c : line) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (line.rfind("content-length:", 0) == 0) length = std::strtoul(line.c_str() + 15, nullptr, 10);
    at = end + 1;
  }
  length = std::min<size_t>(length, 8192);
  std::string body = request.substr(head_end + separator);
  char buffer[2048];
  while (body.size() < length) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    body.append(buffer, static_cast<size_t>(n));
  }
  return body.substr(0, length);
}

}  // namespace

AdminHttpServer::AdminHttpServer(AdminHandler handler, AdminPostHandler post)
    : handler_(std::move(handler)), post_(std::move(post)) {}

AdminHttpServer::~AdminHttpServer() { Stop(); }

sluice::Status AdminHttpServer::Start(const std::string& listen_address) {
  std::string host, port;
  if (!SplitHostPort(listen_address, host, port)) {
    return sluice::Status::Error("admin listen address \"" + listen_address + "\" is not host:port");
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* addresses = nullptr;
  const int resolved = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &addresses);
  if (resolved != 0) {
    return sluice::Status::Error("cannot listen on " + listen_address + ": " + gai_strerror(resolved));
  }
  std::string last_error = "no usable address";
  for (addrinfo* candidate = addresses; candidate != nullptr; candidate = candidate->ai_next) {
    const int fd = ::socket(candidate->ai_family, candidate->ai_socktype | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, candidate->ai_addr, candidate->ai_addrlen) == 0 && ::listen(fd, 16) == 0) {
      listen_fd_ = fd;
      break;
    }
    last_error = std::strerror(errno);
    ::close(fd);
  }
  freeaddrinfo(addresses);
  if (listen_fd_ < 0) return sluice::Status::Error("cannot listen on " + listen_address + ": " + last_error);

  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &length);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  if (::pipe2(wake_pipe_, O_CLOEXEC) != 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
    return sluice::Status::Error(std::string("admin listener: pipe: ") + std::strerror(errno));
  }
  thread_ = std::thread([this] { Serve(); });
  return sluice::Status::Ok();
}

void AdminHttpServer::Stop() {
  if (thread_.joinable()) {
    const char byte = 0;
    (void)!::write(wake_pipe_[1], &byte, 1);
    thread_.join();
  }
  for (int* fd : {&listen_fd_, &wake_pipe_[0], &wake_pipe_[1]}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

void AdminHttpServer::Serve() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    sockaddr_storage peer{};
    socklen_t peer_length = sizeof peer;
    const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &peer_length, SOCK_CLOEXEC);
    if (fd < 0) continue;
    IpAddress address;
    if (peer.ss_family == AF_INET) {
      address = IpAddress::FromV4(ntohl(reinterpret_cast<sockaddr_in*>(&peer)->sin_addr.s_addr));
    } else if (peer.ss_family == AF_INET6) {
      address = IpAddress::FromV6Bytes(reinterpret_cast<sockaddr_in6*>(&peer)->sin6_addr.s6_addr);
    }
    const bool loopback = address.is_loopback();
    HandleConnection(fd, loopback);
    ::close(fd);
  }
}

void AdminHttpServer::HandleConnection(int fd, bool loopback_peer) {
  // One connection at a time: a client that stalls may hold the listener
  // for at most this long.
  timeval timeout{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);

  std::string request;
  char buffer[2048];
  while (request.find("\r\n\r\n") == std::string::npos && request.find("\n\n") == std::string::npos &&
         request.size() < 16384) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    request.append(buffer, static_cast<size_t>(n));
  }

  AdminResponse response;
  bool head = false;
  const size_t line_end = request.find_first_of("\r\n");
  const std::string line = request.substr(0, line_end);
  const size_t first_space = line.find(' ');
  const size_t second_space = line.find(' ', first_space + 1);
  if (first_space == std::string::npos) {
    response = {400, "text/plain; charset=utf-8", "bad request\n"};
  } else {
    const std::string method = line.substr(0, first_space);
    std::string target = line.substr(first_space + 1, second_space == std::string::npos
                                                          ? std::string::npos
                                                          : second_space - first_space - 1);
    const size_t question = target.find('?');
    std::string query = question == std::string::npos ? "" : target.substr(question + 1);
    target = target.substr(0, question);
    head = method == "HEAD";
    if (method == "POST" && post_ != nullptr) {
      if (!loopback_peer) {
        response = {403, "text/plain; charset=utf-8", "POST is answered on loopback only (kubectl port-forward or exec)\n"};
      } else {
        if (query.empty()) query = ReadBody(fd, request);
        try {
          response = post_(target, query);
        } catch (const std::exception& error) {
          response = {500, "text/plain; charset=utf-8", std::string(error.what()) + "\n"};
        }
      }
    } else if (method != "GET" && !head) {
      response = {405, "text/plain; charset=utf-8", "only GET and HEAD\n"};
    } else {
      try {
        response = handler_(target);
      } catch (const std::exception& error) {
        response = {500, "text/plain; charset=utf-8", std::string(error.what()) + "\n"};
      }
    }
  }

  std::string out = "HTTP/1.0 " + std::to_string(response.status) + " " + Reason(response.status) + "\r\n";
  out += "Content-Type: " + response.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
  out += "Cache-Control: no-store\r\nConnection: close\r\n\r\n";
  if (!head) out += response.body;
  SendAll(fd, out);
}

}  // namespace sluice::controller
