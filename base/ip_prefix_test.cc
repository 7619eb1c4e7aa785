#include "base/ip_prefix.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

IpAddress Ip(std::string_view text) {
  std::optional<IpAddress> ip = IpAddress::Parse(text);
  EXPECT_TRUE(ip.has_value()) << text;
  return ip.value_or(IpAddress{});
}

TEST(IpAddressTest, ParsesAndPrintsBothFamilies) {
  struct Case {
    const char* text;
    const char* printed;  // nullptr: invalid
  } cases[] = {
      {"10.1.2.3", "10.1.2.3"},
      {"0.0.0.0", "0.0.0.0"},
      {"255.255.255.255", "255.255.255.255"},
      {"::1", "::1"},
      {"2001:db8::1", "2001:db8::1"},
      {"::ffff:10.1.2.3", "10.1.2.3"},  // mapped: the same address as 10.1.2.3
      {"256.1.1.1", nullptr},
      {"1.2.3", nullptr},
      {"1.2.3.4.5", nullptr},
      {"01.2.3.4", nullptr},  // leading zero: octal to inet_aton
      {"1.2.3.4 ", nullptr},
      {"", nullptr},
      {"fe80::1%eth0", nullptr},
      {"1.2.3.4:80", nullptr},
      {"2001:db8:::1", nullptr},
      {"abc", nullptr},
  };
  for (const Case& c : cases) {
    std::optional<IpAddress> ip = IpAddress::Parse(c.text);
    if (c.printed == nullptr) {
      EXPECT_FALSE(ip.has_value()) << c.text;
    } else {
      ASSERT_TRUE(ip.has_value()) << c.text;
      EXPECT_EQ(ip->ToString(), c.printed);
    }
  }
  EXPECT_EQ(Ip("10.1.2.3"), Ip("::ffff:10.1.2.3"));
  EXPECT_TRUE(Ip("10.1.2.3").is_v4());
  EXPECT_FALSE(Ip("::1").is_v4());
}

TEST(IpPrefixTest, ParsesCidrsAndHosts) {
  struct Case {
    const char* text;
    const char* printed;  // nullptr: invalid
  } cases[] = {
      {"10.0.0.0/8", "10.0.0.0/8"},
      {"10.1.2.3/8", "10.0.0.0/8"},  // host bits cleared, as nginx does
      {"10.1.2.3", "10.1.2.3/32"},
      {"0.0.0.0/0", "0.0.0.0/0"},
      {"2001:db8::/32", "2001:db8::/32"},
      {"::/0", "::/0"},
      {"::1", "::1/128"},
      {"10.0.0.0/33", nullptr},
      {"10.0.0.0/", nullptr},
      {"10.0.0.0/08", nullptr},
      {"10.0.0.0/-1", nullptr},
      {"::/129", nullptr},
      {"/8", nullptr},
      {"10.0.0.0/8/8", nullptr},
  };
  for (const Case& c : cases) {
    std::optional<IpPrefix> prefix = IpPrefix::Parse(c.text);
    if (c.printed == nullptr) {
      EXPECT_FALSE(prefix.has_value()) << c.text;
    } else {
      ASSERT_TRUE(prefix.has_value()) << c.text;
      EXPECT_EQ(prefix->ToString(), c.printed) << c.text;
    }
  }
}

TEST(IpPrefixTest, ContainsKeepsFamiliesApart) {
  IpPrefix v4 = *IpPrefix::Parse("10.0.0.0/8");
  EXPECT_TRUE(v4.Contains(Ip("10.255.0.1")));
  EXPECT_TRUE(v4.Contains(Ip("::ffff:10.0.0.1")));
  EXPECT_FALSE(v4.Contains(Ip("11.0.0.1")));
  EXPECT_FALSE(v4.Contains(Ip("::a00:1")));  // IPv4-compatible, not mapped: another address
  IpPrefix all_v4 = *IpPrefix::Parse("0.0.0.0/0");
  EXPECT_TRUE(all_v4.Contains(Ip("1.2.3.4")));
  EXPECT_FALSE(all_v4.Contains(Ip("2001:db8::1")));
  IpPrefix all = *IpPrefix::Parse("::/0");
  EXPECT_TRUE(all.Contains(Ip("1.2.3.4")));
  EXPECT_TRUE(all.Contains(Ip("2001:db8::1")));
}

TEST(PrefixSetTest, MatchesLikeALinearScan) {
  const char* cidrs[] = {"10.0.0.0/8",     "10.1.0.0/16",  "192.168.1.0/24", "192.168.2.0/24", "192.168.3.7",
                         "2001:db8::/32", "2001:db8:1::/48", "::1",          "172.16.0.0/12",  "255.255.255.255"};
  std::vector<IpPrefix> prefixes;
  for (const char* c : cidrs) prefixes.push_back(*IpPrefix::Parse(c));
  PrefixSet set(prefixes);
  // 10.1/16 nested in 10/8; 192.168.1/24 and .2/24 adjacent.
  EXPECT_LT(set.range_count(), prefixes.size());
  const char* probes[] = {"10.0.0.0",     "9.255.255.255", "11.0.0.0",       "10.1.2.3",     "192.168.0.255",
                          "192.168.1.0",  "192.168.2.255", "192.168.3.0",    "192.168.3.7",  "192.168.3.8",
                          "2001:db8::1",  "2001:db9::",    "2001:db7:ffff::", "::1",         "::2",
                          "::",           "172.31.255.255", "172.32.0.0",    "255.255.255.255", "255.255.255.254",
                          "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"};
  for (const char* probe : probes) {
    IpAddress ip = Ip(probe);
    bool linear = false;
    for (const IpPrefix& prefix : prefixes) linear = linear || prefix.Contains(ip);
    EXPECT_EQ(set.Contains(ip), linear) << probe;
  }
  EXPECT_FALSE(PrefixSet().Contains(Ip("1.2.3.4")));
  PrefixSet everything({*IpPrefix::Parse("::/0")});
  EXPECT_TRUE(everything.Contains(Ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_TRUE(everything.Contains(Ip("0.0.0.0")));
}

TEST(PrefixListTest, SplitsOnCommasAndSpacesAndNamesTheBadItem) {
  auto list = ParsePrefixList(" 10.0.0.0/8, 192.168.0.0/16 2001:db8::/32,,");
  ASSERT_TRUE(list.has_value());
  EXPECT_EQ(list->size(), 3u);
  std::string bad;
  EXPECT_FALSE(ParsePrefixList("10.0.0.0/8, 300.0.0.0/8", &bad).has_value());
  EXPECT_EQ(bad, "300.0.0.0/8");
  EXPECT_TRUE(ParsePrefixList("")->empty());
}

TEST(IpAddressTest, Loopback) {
  for (const char* yes : {"127.0.0.1", "127.255.0.9", "::ffff:127.0.0.2", "::1"}) {
    EXPECT_TRUE(IpAddress::Parse(yes)->is_loopback()) << yes;
  }
  for (const char* no : {"10.0.0.1", "128.0.0.1", "::2", "::ffff:10.0.0.1", "fe80::1", "0.0.0.0", "::"}) {
    EXPECT_FALSE(IpAddress::Parse(no)->is_loopback()) << no;
  }
}

}  // namespace
}  // namespace sluice
