#include "dataplane/ratelimit/request_key.h"

#include <gtest/gtest.h>

namespace sluice::ratelimit {
namespace {

http::HeaderMap Headers(std::initializer_list<std::pair<const char*, const char*>> fields) {
  http::HeaderMap headers;
  for (const auto& [name, value] : fields) headers.Add(name, value);
  return headers;
}

TEST(RequestKey, ClientAddressByDefault) {
  KeySpec spec;
  http::HeaderMap none;
  EXPECT_EQ(RequestKey(1, spec, none, "127.0.0.1"), RequestKey(1, spec, none, "127.0.0.1"));
  EXPECT_NE(RequestKey(1, spec, none, "127.0.0.1"), RequestKey(1, spec, none, "127.0.0.2"));
  EXPECT_NE(RequestKey(1, spec, none, "127.0.0.1"), RequestKey(2, spec, none, "127.0.0.1"));  // another limit
}

TEST(RequestKey, HeaderValueFromAnyAddressAndAddressWithoutIt) {
  KeySpec spec{KeyKind::kHeader, "x-api-key"};
  auto alice = Headers({{"x-api-key", "alice"}});
  auto bob = Headers({{"x-api-key", "bob"}});
  http::HeaderMap none;
  EXPECT_EQ(RequestKey(1, spec, alice, "10.0.0.1"), RequestKey(1, spec, alice, "10.0.0.2"));
  EXPECT_NE(RequestKey(1, spec, alice, "10.0.0.1"), RequestKey(1, spec, bob, "10.0.0.1"));
  // Without the header: the address, as the default key has it.
  EXPECT_EQ(RequestKey(1, spec, none, "10.0.0.1"), RequestKey(1, KeySpec{}, none, "10.0.0.1"));
  // A header whose value is an address is not that address's bucket.
  auto spoof = Headers({{"x-api-key", "10.0.0.1"}});
  EXPECT_NE(RequestKey(1, spec, spoof, "10.0.0.9"), RequestKey(1, KeySpec{}, none, "10.0.0.1"));
}

TEST(RequestKey, Cookie) {
  KeySpec spec{KeyKind::kCookie, "session"};
  auto a = Headers({{"cookie", "theme=dark; session=abc"}});
  auto b = Headers({{"cookie", "session=abc"}});
  auto c = Headers({{"cookie", "session=xyz"}});
  EXPECT_EQ(RequestKey(1, spec, a, "10.0.0.1"), RequestKey(1, spec, b, "10.0.0.2"));
  EXPECT_NE(RequestKey(1, spec, a, "10.0.0.1"), RequestKey(1, spec, c, "10.0.0.1"));
}

TEST(AddressSet, Ipv4Ipv6AndSingleAddresses) {
  AddressSet set;
  EXPECT_TRUE(set.Add("10.1.0.0/16"));
  EXPECT_TRUE(set.Add("192.168.1.7"));
  EXPECT_TRUE(set.Add("2001:db8::/32"));
  EXPECT_TRUE(set.Add("172.16.0.0/12"));
  EXPECT_TRUE(set.Contains("10.1.200.3"));
  EXPECT_FALSE(set.Contains("10.2.0.1"));
  EXPECT_TRUE(set.Contains("192.168.1.7"));
  EXPECT_FALSE(set.Contains("192.168.1.8"));
  EXPECT_TRUE(set.Contains("2001:db8:1::5"));
  EXPECT_FALSE(set.Contains("2001:db9::1"));
  EXPECT_TRUE(set.Contains("172.31.255.255"));
  EXPECT_FALSE(set.Contains("172.32.0.0"));
  EXPECT_TRUE(set.Contains("::ffff:10.1.2.3"));  // IPv4-mapped client
  EXPECT_FALSE(set.Contains("not an address"));
}

TEST(AddressSet, RejectsInvalidEntries) {
  for (const char* bad : {"", "10.0.0.0/33", "::/129", "10.0.0/8", "10.0.0.0/", "10.0.0.0/a", "host"}) {
    EXPECT_FALSE(AddressSet::IsValid(bad)) << bad;
  }
  EXPECT_TRUE(AddressSet::IsValid("0.0.0.0/0"));
  EXPECT_TRUE(AddressSet::IsValid("::1"));
}

}  // namespace
}  // namespace sluice::ratelimit
