#include "controlplane/main/admin_http.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace sluice::controller {
namespace {

// Sends `request` raw and returns everything the server answers.
std::string Exchange(int port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return "";
  }
  send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response;
  char buffer[4096];
  for (int i = 0; i < 1000; ++i) {
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    response.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return response;
}

AdminResponse Route(const std::string& path) {
  if (path == "/healthz") return {200, "text/plain; charset=utf-8", "ok\n"};
  if (path == "/readyz") return {503, "text/plain; charset=utf-8", "no snapshot yet\n"};
  return {404, "text/plain; charset=utf-8", "not found\n"};
}

TEST(AdminHttpTest, AnswersGetWithTheHandlersResponse) {
  AdminHttpServer server(Route);
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  ASSERT_GT(server.port(), 0);

  const std::string ok = Exchange(server.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(ok.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << ok;
  EXPECT_NE(ok.find("Content-Length: 3\r\n"), std::string::npos);
  EXPECT_EQ(ok.substr(ok.size() - 3), "ok\n");

  const std::string not_ready = Exchange(server.port(), "GET /readyz?verbose=1 HTTP/1.0\r\n\r\n");
  EXPECT_EQ(not_ready.rfind("HTTP/1.0 503 Service Unavailable\r\n", 0), 0u) << not_ready;

  const std::string missing = Exchange(server.port(), "GET /nope HTTP/1.0\r\n\r\n");
  EXPECT_EQ(missing.rfind("HTTP/1.0 404", 0), 0u);
}

TEST(AdminHttpTest, HeadHasNoBodyAndOtherMethodsAreRefused) {
  AdminHttpServer server(Route);
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  const std::string head = Exchange(server.port(), "HEAD /healthz HTTP/1.0\r\n\r\n");
  EXPECT_EQ(head.rfind("HTTP/1.0 200", 0), 0u);
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n");
  const std::string post = Exchange(server.port(), "POST /healthz HTTP/1.0\r\n\r\n");
  EXPECT_EQ(post.rfind("HTTP/1.0 405", 0), 0u);
}

TEST(AdminHttpTest, BadOrBusyAddressesAreReportedWithTheAddress) {
  AdminHttpServer first(Route);
  ASSERT_TRUE(first.Start("127.0.0.1:0").ok());
  const std::string busy = "127.0.0.1:" + std::to_string(first.port());
  AdminHttpServer second(Route);
  const sluice::Status taken = second.Start(busy);
  ASSERT_FALSE(taken.ok());
  EXPECT_NE(taken.message().find(busy), std::string::npos);

  AdminHttpServer third(Route);
  EXPECT_FALSE(third.Start("localhost").ok());
}

TEST(AdminHttpTest, StopIsPromptAndReleasesThePort) {
  AdminHttpServer server(Route);
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  const int port = server.port();
  server.Stop();
  EXPECT_EQ(Exchange(port, "GET /healthz HTTP/1.0\r\n\r\n"), "");
}

}  // namespace
}  // namespace sluice::controller
