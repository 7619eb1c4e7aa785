#pragma once
// Test-only: PROXY protocol headers as a load balancer sends them, for the
// parser's unit tests, its fuzz seeds and the end-to-end tests.
#include <arpa/inet.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::testing {

// "PROXY TCP4 SRC DST SPORT DPORT\r\n" (TCP6 when SRC has a colon).
inline std::string ProxyV1(std::string_view source, int source_port, std::string_view destination,
                           int destination_port) {
  std::string protocol = source.find(':') == std::string_view::npos ? "TCP4" : "TCP6";
  return "PROXY " + protocol + " " + std::string(source) + " " + std::string(destination) + " " +
         std::to_string(source_port) + " " + std::to_string(destination_port) + "\r\n";
}

constexpr std::string_view kProxyV2Signature("\r\n\r\n\0\r\nQUIT\n", 12);

// A v2 header: PROXY (or LOCAL) over TCP, IPv4 or IPv6 by the source's
// text, then `tlvs` as given (raw type-length-value bytes).
inline std::string ProxyV2(std::string_view source, int source_port, std::string_view destination,
                           int destination_port, std::string_view tlvs = {}, bool local = false) {
  bool v6 = source.find(':') != std::string_view::npos;
  std::string addresses;
  auto append_ip = [&](std::string_view text) {
    unsigned char bytes[16];
    std::string copy(text);
    inet_pton(v6 ? AF_INET6 : AF_INET, copy.c_str(), bytes);
    addresses.append(reinterpret_cast<const char*>(bytes), v6 ? 16 : 4);
  };
  auto append_port = [&](int port) {
    addresses.push_back(static_cast<char>(port >> 8));
    addresses.push_back(static_cast<char>(port & 0xff));
  };
  append_ip(source);
  append_ip(destination);
  append_port(source_port);
  append_port(destination_port);
  addresses += tlvs;
  std::string out(kProxyV2Signature);
  out.push_back(static_cast<char>(local ? 0x20 : 0x21));
  out.push_back(static_cast<char>(v6 ? 0x21 : 0x11));  // INET6 or INET, STREAM
  out.push_back(static_cast<char>(addresses.size() >> 8));
  out.push_back(static_cast<char>(addresses.size() & 0xff));
  return out + addresses;
}

}  // namespace sluice::testing
