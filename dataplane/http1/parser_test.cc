#include "dataplane/http1/parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice::http1 {
namespace {

HeadParse ParseRequest(std::string_view data, http::RequestHead* head, const Limits& limits = Limits()) {
  return ParseRequestHead(data, limits, head);
}

// Parses `data` and expects a request error with `status`.
void ExpectRequestError(std::string_view data, int status) {
  http::RequestHead head;
  HeadParse r = ParseRequest(data, &head);
  EXPECT_EQ(r.state, ParseState::kError) << "input: " << testing::PrintToString(std::string(data));
  EXPECT_EQ(r.error_status, status) << "input: " << testing::PrintToString(std::string(data)) << " error: " << r.error;
  // The stateful parser must agree.
  RequestHeadParser parser;
  http::RequestHead head2;
  HeadParse r2 = parser.Parse(data, &head2);
  EXPECT_EQ(r2.state, ParseState::kError);
  EXPECT_EQ(r2.error_status, status);
}

std::string Req(std::string_view request_line, std::string_view fields = "Host: example.com\r\n") {
  return std::string(request_line) + "\r\n" + std::string(fields) + "\r\n";
}

TEST(ParseRequestHead, SimpleGet) {
  const std::string data = "GET /a/b?c=d HTTP/1.1\r\nHost: Example.com\r\nUser-Agent:  curl/8 \r\nX-Empty:\r\n\r\n";
  http::RequestHead head;
  head.scheme = "https";
  HeadParse r = ParseRequest(data, &head);
  ASSERT_EQ(r.state, ParseState::kDone) << r.error;
  EXPECT_EQ(r.consumed, data.size());
  EXPECT_EQ(head.method, "GET");
  EXPECT_EQ(head.target, "/a/b?c=d");
  EXPECT_EQ(head.path, "/a/b?c=d");
  EXPECT_EQ(head.authority, "Example.com");
  EXPECT_EQ(head.scheme, "https");  // untouched
  EXPECT_EQ(head.version_major, 1);
  EXPECT_EQ(head.version_minor, 1);
  ASSERT_EQ(head.headers.size(), 3u);
  EXPECT_EQ(head.headers.entries()[0].name, "host");
  EXPECT_EQ(head.headers.entries()[1].name, "user-agent");
  EXPECT_EQ(*head.headers.Get("user-agent"), "curl/8");
  EXPECT_EQ(*head.headers.Get("x-empty"), "");
}

TEST(ParseRequestHead, ValueKeepsInnerWhitespaceAndObsText) {
  http::RequestHead head;
  ASSERT_EQ(ParseRequest(Req("GET / HTTP/1.1", "Host: a\r\nX: a \t b\xC3\xA9\t\r\n"), &head).state, ParseState::kDone);
  EXPECT_EQ(*head.headers.Get("x"), "a \t b\xC3\xA9");
}

TEST(ParseRequestHead, Http10) {
  http::RequestHead head;
  HeadParse r = ParseRequest("GET / HTTP/1.0\r\n\r\n", &head);
  ASSERT_EQ(r.state, ParseState::kDone);
  EXPECT_EQ(head.version_minor, 0);
  EXPECT_TRUE(head.headers.empty());
  EXPECT_EQ(head.authority, "");
}

TEST(ParseRequestHead, AbsoluteForm) {
  http::RequestHead head;
  ASSERT_EQ(ParseRequest(Req("GET http://h.example:8080/p?q HTTP/1.1"), &head).state, ParseState::kDone);
  EXPECT_EQ(head.path, "/p?q");
  EXPECT_EQ(head.authority, "h.example:8080");
  EXPECT_EQ(head.target, "http://h.example:8080/p?q");

  ASSERT_EQ(ParseRequest(Req("GET HTTPS://h.example HTTP/1.1"), &head).state, ParseState::kDone);
  EXPECT_EQ(head.path, "/");
  EXPECT_EQ(head.authority, "h.example");

  ASSERT_EQ(ParseRequest(Req("GET http://h.example?x=1 HTTP/1.1"), &head).state, ParseState::kDone);
  EXPECT_EQ(head.path, "/?x=1");
}

TEST(ParseRequestHead, AbsoluteFormRejects) {
  ExpectRequestError(Req("GET ftp://h/p HTTP/1.1"), 400);
  ExpectRequestError(Req("GET http://user@h/p HTTP/1.1"), 400);
  ExpectRequestError(Req("GET http:///p HTTP/1.1"), 400);
  ExpectRequestError(Req("GET http://h:99999/ HTTP/1.1"), 400);
  ExpectRequestError(Req("GET h.example/p HTTP/1.1"), 400);
}

TEST(ParseRequestHead, ConnectAuthorityForm) {
  http::RequestHead head;
  ASSERT_EQ(ParseRequest(Req("CONNECT h.example:443 HTTP/1.1", "Host: h.example:443\r\n"), &head).state,
            ParseState::kDone);
  EXPECT_EQ(head.authority, "h.example:443");
  EXPECT_EQ(head.path, "");
  ExpectRequestError(Req("CONNECT h.example HTTP/1.1"), 400);  // port required
  ExpectRequestError(Req("CONNECT / HTTP/1.1"), 400);
  ExpectRequestError(Req("GET h.example:443 HTTP/1.1"), 400);  // authority-form only for CONNECT
}

TEST(ParseRequestHead, AsteriskOnlyForOptions) {
  http::RequestHead head;
  ASSERT_EQ(ParseRequest(Req("OPTIONS * HTTP/1.1"), &head).state, ParseState::kDone);
  EXPECT_EQ(head.path, "*");
  ExpectRequestError(Req("GET * HTTP/1.1"), 400);
}

TEST(ParseRequestHead, BadTargets) {
  ExpectRequestError(Req("GET /a b HTTP/1.1"), 400);
  ExpectRequestError(Req("GET /a\tb HTTP/1.1"), 400);
  ExpectRequestError(Req("GET /a\x01 HTTP/1.1"), 400);
  ExpectRequestError(Req("GET /a\x7f HTTP/1.1"), 400);
  ExpectRequestError(Req("GET /a\xff HTTP/1.1"), 400);
  ExpectRequestError(Req("GET /a#frag HTTP/1.1"), 400);
  ExpectRequestError(Req("GET a/b HTTP/1.1"), 400);
  ExpectRequestError(Req("GET  / HTTP/1.1"), 400);   // empty target
  ExpectRequestError(Req("GET /  HTTP/1.1"), 400);   // double space
  ExpectRequestError(Req("GET / HTTP/1.1 "), 400);   // trailing space
}

TEST(ParseRequestHead, BadMethods) {
  ExpectRequestError(Req("G(T / HTTP/1.1"), 400);
  ExpectRequestError(Req("GE\x01T / HTTP/1.1"), 400);
  ExpectRequestError(Req(" GET / HTTP/1.1"), 400);
  ExpectRequestError(Req("GET\t/ HTTP/1.1"), 400);
  ExpectRequestError(Req("GET"), 400);
  ExpectRequestError(Req("GET /"), 400);  // HTTP/0.9 style
}

TEST(ParseRequestHead, MethodIsCaseSensitiveTokenAndKept) {
  http::RequestHead head;
  ASSERT_EQ(ParseRequest(Req("get / HTTP/1.1"), &head).state, ParseState::kDone);
  EXPECT_EQ(head.method, "get");
}

TEST(ParseRequestHead, Versions) {
  ExpectRequestError(Req("GET / HTTP/2.0"), 505);
  ExpectRequestError(Req("GET / HTTP/1.2"), 505);
  ExpectRequestError(Req("GET / HTTP/0.9"), 505);
  ExpectRequestError(Req("GET / HTTP/3.0"), 505);
  ExpectRequestError(Req("GET / http/1.1"), 400);
  ExpectRequestError(Req("GET / HTTP/1.10"), 400);
  ExpectRequestError(Req("GET / HTTP/1"), 400);
  ExpectRequestError(Req("GET / HTTP/x.1"), 400);
  ExpectRequestError(Req("GET / FOO"), 400);
}

TEST(ParseRequestHead, GarbageVersionRejectedBeforeTheHeadEnds) {
  http::RequestHead head;
  HeadParse r = ParseRequest("GET / HTTX", &head);
  EXPECT_EQ(r.state, ParseState::kError);
  EXPECT_EQ(r.error_status, 400);
}

TEST(ParseRequestHead, BareLineEndings) {
  ExpectRequestError("GET / HTTP/1.1\nHost: a\r\n\r\n", 400);
  ExpectRequestError("GET / HTTP/1.1\r\nHost: a\n\r\n", 400);
  ExpectRequestError("GET / HTTP/1.1\r\nHost: a\r\n\n", 400);
  ExpectRequestError("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400);
  ExpectRequestError("GET / HTTP/1.1\rHost: a\r\n\r\n", 400);
  ExpectRequestError("GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400);
  ExpectRequestError("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", 400);
  ExpectRequestError("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

TEST(ParseRequestHead, BareLfDetectedWhileIncomplete) {
  http::RequestHead head;
  EXPECT_EQ(ParseRequest("GET / HTTP/1.1\nHost: a", &head).state, ParseState::kError);
  EXPECT_EQ(ParseRequest("GET / HTTP/1.1\r\nX: a\rb", &head).state, ParseState::kError);
}

TEST(ParseRequestHead, ObsFold) {
  ExpectRequestError(Req("GET / HTTP/1.1", "Host: a\r\nX: b\r\n c\r\n"), 400);
  ExpectRequestError(Req("GET / HTTP/1.1", "Host: a\r\nX: b\r\n\tc\r\n"), 400);
  ExpectRequestError(Req("GET / HTTP/1.1", " Host: a\r\n"), 400);
}

TEST(ParseRequestHead, FieldNameRules) {
  ExpectRequestError(Req("GET / HTTP/1.1", "Host : a\r\n"), 400);
  ExpectRequestError(Req("GET / HTTP/1.1", "Host\t: a\r\n"), 400);
  ExpectRequestError(Req("GET / HTTP/1.1", "Host: a\r\n: b\r\n"), 400);
  ExpectRequestError(Req("GET / HTTP/1.1", "Host: a\r\nX(y): b\r\n"), 400);
  ExpectRequestError(Req("GET / HTTP/1.1", "Host: a\r\nX@y: b\r\n"), 400);
  ExpectRequestError(Req("GET / HTTP/1.1", "Host: a\r\nX\x01: b\r\n"), 400);
  ExpectRequestError(Req("GET / HTTP/1.1", std::string("Host: a\r\nX\0y: b\r\n", 17)), 400);
  ExpectRequestError(Req("GET / HTTP/1.1", "Host: a\r\nNoColon\r\n"), 400);
  ExpectRequestError(Req("GET / HTTP/1.1", "Host: a\r\nX\xc3\xa9: b\r\n"), 400);
}

TEST(ParseRequestHead, ControlCharactersInValues) {
  for (int c = 0; c < 0x20; ++c) {
    if (c == '\t') continue;
    std::string fields = "Host: a\r\nX: a";
    fields.push_back(static_cast<char>(c));
    fields += "b\r\n";
    ExpectRequestError(Req("GET / HTTP/1.1", fields), 400);
  }
  ExpectRequestError(Req("GET / HTTP/1.1", "Host: a\r\nX: a\x7f\r\n"), 400);
}

// Values are checked in blocks of bytes: a bad byte must be found at every
// offset of values of every length around the block sizes, and the bytes a
// value may hold (HTAB, SP, VCHAR, obs-text) must pass at every offset.
TEST(ParseRequestHead, ValueBytesCheckedAtEveryOffsetAndLength) {
  for (size_t length = 1; length <= 40; ++length) {
    for (size_t at = 0; at < length; ++at) {
      for (char bad : {'\0', '\x01', '\x1f', '\x7f', '\r', '\n'}) {
        std::string value(length, 'v');
        value[at] = bad;
        ExpectRequestError(Req("GET / HTTP/1.1", "Host: a\r\nX-Long: " + value + "\r\n"), 400);
      }
      for (char fine : {'\t', ' ', '!', '~', '\x80', '\xff'}) {
        std::string value(length, 'v');
        value[at] = fine;
        http::RequestHead head;
        const std::string data = Req("GET / HTTP/1.1", "Host: a\r\nX-Long: " + value + "\r\n");
        ASSERT_EQ(ParseRequest(data, &head).state, ParseState::kDone) << testing::PrintToString(data);
        // Surrounding whitespace is not part of the value.
        const size_t first = value.find_first_not_of(" \t");
        const size_t last = value.find_last_not_of(" \t");
        EXPECT_EQ(*head.headers.Get("x-long"),
                  first == std::string::npos ? std::string() : value.substr(first, last - first + 1));
      }
    }
  }
}

TEST(ParseRequestHead, FieldNamesLowerCasedAndCheckedAtEveryOffset) {
  const std::string name = "X-Some-Rather-Long-Header-Name";
  for (size_t at = 0; at < name.size(); ++at) {
    for (char bad : {' ', '\t', '"', '(', '@', '\x80', '\x01'}) {
      std::string broken = name;
      broken[at] = bad;
      ExpectRequestError(Req("GET / HTTP/1.1", "Host: a\r\n" + broken + ": v\r\n"), 400);
    }
  }
  http::RequestHead head;
  ASSERT_EQ(ParseRequest(Req("GET / HTTP/1.1", "Host: a\r\n" + name + ": v\r\n"), &head).state, ParseState::kDone);
  ASSERT_EQ(head.headers.size(), 2u);
  EXPECT_EQ(head.headers.entries()[1].name, "x-some-rather-long-header-name");
}

// Names are checked 16 bytes at a time when they are short: every byte
// value at every offset of names of every length around that block, with
// short and long values, must get the verdict of the tchar rule and the
// lower-cased name.
TEST(ParseRequestHead, EveryNameByteJudgedByTheTokenRule) {
  const std::string_view tchar_symbols = "!#$%&'*+-.^_`|~";
  auto is_tchar = [&](unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           tchar_symbols.find(static_cast<char>(c)) != std::string_view::npos;
  };
  for (size_t length : {1u, 2u, 7u, 13u, 14u, 15u, 16u, 17u}) {
    for (const std::string value : {"v", "a-value-longer-than-sixteen"}) {
      for (size_t at = 0; at < length; ++at) {
        for (int byte = 0; byte < 256; ++byte) {
          if (byte == '\r' || byte == '\n' || byte == ':') continue;  // they end the line or the name
          std::string name(length, 'N');
          name[at] = static_cast<char>(byte);
          const std::string data = Req("GET / HTTP/1.1", "Host: a\r\n" + name + ": " + value + "\r\n");
          http::RequestHead head;
          HeadParse r = ParseRequest(data, &head);
          if (!is_tchar(static_cast<unsigned char>(byte))) {
            ASSERT_EQ(r.state, ParseState::kError) << testing::PrintToString(data);
            ASSERT_EQ(r.error_status, 400);
            continue;
          }
          ASSERT_EQ(r.state, ParseState::kDone) << testing::PrintToString(data);
          std::string lowered = name;
          for (char& c : lowered) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
          ASSERT_EQ(head.headers.entries()[1].name, lowered);
          ASSERT_EQ(head.headers.entries()[1].value, value);
        }
      }
    }
  }
}

TEST(ParseRequestHead, FieldLineErrorsNameTheFirstProblem) {
  struct Case {
    const char* line;
    const char* reason;
  };
  for (const Case& c : {Case{" X: a", "obsolete line folding"}, Case{"X : a", "whitespace before colon in field line"},
                        Case{"X@: a", "invalid character in field name"}, Case{": a", "empty field name"},
                        Case{"NoColon", "field line without colon"}, Case{"X: a\x01", "invalid character in field value"},
                        Case{"X@: a\x01", "invalid character in field name"}}) {
    http::RequestHead head;
    HeadParse r = ParseRequest(Req("GET / HTTP/1.1", std::string("Host: a\r\n") + c.line + "\r\n"), &head);
    EXPECT_EQ(r.state, ParseState::kError) << c.line;
    EXPECT_EQ(r.error, c.reason) << c.line;
  }
}

TEST(ParseRequestHead, HeadTooLarge) {
  Limits limits;
  limits.max_head_bytes = 100;
  http::RequestHead head;
  // Exactly at the limit is fine.
  std::string fits = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
  fits += std::string(100 - fits.size() - 4, 'v') + "\r\n\r\n";
  ASSERT_EQ(fits.size(), 100u);
  EXPECT_EQ(ParseRequest(fits + "GET", &head, limits).state, ParseState::kDone);
  // One more byte is not, complete or not.
  std::string over = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
  over += std::string(100 - over.size() - 3, 'v') + "\r\n\r\n";
  HeadParse r = ParseRequest(over, &head, limits);
  EXPECT_EQ(r.state, ParseState::kError);
  EXPECT_EQ(r.error_status, 431);
  r = ParseRequest(std::string("GET /") + std::string(200, 'a'), &head, limits);
  EXPECT_EQ(r.state, ParseState::kError);
  EXPECT_EQ(r.error_status, 431);
  // Below the limit and incomplete: wait.
  EXPECT_EQ(ParseRequest(std::string("GET /") + std::string(50, 'a'), &head, limits).state, ParseState::kIncomplete);
}

TEST(ParseRequestHead, TooManyHeaders) {
  Limits limits;
  limits.max_header_count = 3;
  http::RequestHead head;
  EXPECT_EQ(ParseRequest(Req("GET / HTTP/1.1", "Host: a\r\nA: 1\r\nB: 2\r\n"), &head, limits).state, ParseState::kDone);
  HeadParse r = ParseRequest(Req("GET / HTTP/1.1", "Host: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n"), &head, limits);
  EXPECT_EQ(r.state, ParseState::kError);
  EXPECT_EQ(r.error_status, 431);
}

TEST(ParseRequestHead, TooManyHeadersWinsOverTheExcessLinesSyntaxAtAnySplit) {
  // Found by the fuzzer: the verdict must not depend on where bytes split.
  Limits limits;
  limits.max_header_count = 1;
  const std::string data = "GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\n\r\n";
  RequestHeadParser parser(limits);
  http::RequestHead head;
  HeadParse r;
  for (size_t n = 1; n <= data.size(); ++n) {
    r = parser.Parse(std::string_view(data.data(), n), &head);
    if (r.state != ParseState::kIncomplete) break;
  }
  EXPECT_EQ(r.state, ParseState::kError);
  EXPECT_EQ(r.error_status, 431);
  r = ParseRequest(data, &head, limits);
  EXPECT_EQ(r.state, ParseState::kError);
  EXPECT_EQ(r.error_status, 431);
}

TEST(ParseRequestHead, UnknownTransferCodingIs501) {
  ExpectRequestError(Req("POST / HTTP/1.1", "Host: a\r\nTransfer-Encoding: gzip\r\n"), 400);  // not final chunked
  ExpectRequestError(Req("POST / HTTP/1.1", "Host: a\r\nTransfer-Encoding: chunked, gzip\r\n"), 400);
  ExpectRequestError(Req("POST / HTTP/1.1", "Host: a\r\nTransfer-Encoding: gzip, chunked\r\n"), 501);
  ExpectRequestError(Req("POST / HTTP/1.1", "Host: a\r\nTransfer-Encoding: chunked;x=1\r\n"), 400);
  http::RequestHead head;
  EXPECT_EQ(ParseRequest(Req("POST / HTTP/1.1", "Host: a\r\nTransfer-Encoding: Chunked\r\n"), &head).state,
            ParseState::kDone);
}

TEST(ParseRequestHead, LeadingEmptyLinesAreSkipped) {
  const std::string data = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
  http::RequestHead head;
  HeadParse r = ParseRequest(data, &head);
  ASSERT_EQ(r.state, ParseState::kDone) << r.error;
  EXPECT_EQ(r.consumed, data.size());
  EXPECT_EQ(head.method, "GET");
}

TEST(ParseRequestHead, PipelinedRequests) {
  const std::string first = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n";
  const std::string second = "POST /two HTTP/1.1\r\nHost: b\r\nContent-Length: 0\r\n\r\n";
  const std::string third = "GET /three HTTP/1.1\r\nHost: c\r\n\r\n";
  std::string buffer = first + second + third;
  std::string_view rest = buffer;
  std::vector<std::string> paths;
  while (!rest.empty()) {
    http::RequestHead head;
    HeadParse r = ParseRequest(rest, &head);
    ASSERT_EQ(r.state, ParseState::kDone) << r.error;
    paths.push_back(head.path);
    rest.remove_prefix(r.consumed);
  }
  EXPECT_EQ(paths, (std::vector<std::string>{"/one", "/two", "/three"}));
}

// Feeds every prefix of `data`: all must be kIncomplete until the full head,
// which must parse exactly like the whole buffer does, with both the free
// function and the stateful parser.
void ExpectSplitInvariant(const std::string& data) {
  http::RequestHead whole;
  HeadParse full = ParseRequest(data, &whole);
  ASSERT_EQ(full.state, ParseState::kDone) << full.error;
  RequestHeadParser parser;
  for (size_t n = 0; n <= data.size(); ++n) {
    const std::string_view prefix(data.data(), n);
    http::RequestHead a;
    http::RequestHead b;
    HeadParse ra = ParseRequest(prefix, &a);
    HeadParse rb = parser.Parse(prefix, &b);
    if (n < full.consumed) {
      ASSERT_EQ(ra.state, ParseState::kIncomplete) << "prefix " << n;
      ASSERT_EQ(rb.state, ParseState::kIncomplete) << "prefix " << n;
      continue;
    }
    ASSERT_EQ(ra.state, ParseState::kDone) << "prefix " << n;
    ASSERT_EQ(rb.state, ParseState::kDone) << "prefix " << n;
    EXPECT_EQ(ra.consumed, full.consumed);
    EXPECT_EQ(rb.consumed, full.consumed);
    for (const http::RequestHead* h : {&a, &b}) {
      EXPECT_EQ(h->method, whole.method);
      EXPECT_EQ(h->path, whole.path);
      EXPECT_EQ(h->authority, whole.authority);
      ASSERT_EQ(h->headers.size(), whole.headers.size());
      for (size_t i = 0; i < h->headers.size(); ++i) {
        EXPECT_EQ(h->headers.entries()[i].name, whole.headers.entries()[i].name);
        EXPECT_EQ(h->headers.entries()[i].value, whole.headers.entries()[i].value);
      }
    }
    break;  // the stateful parser reset itself after kDone
  }
}

TEST(ParseRequestHead, SplitAtEveryByte) {
  ExpectSplitInvariant("GET /x?y=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nX-A:  b  \r\n\r\n");
  ExpectSplitInvariant("\r\nPOST http://h:81/p HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc");
}

TEST(RequestHeadParser, HandlesPipelinedHeadsOneAfterAnother) {
  RequestHeadParser parser;
  std::string buffer = "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHo";
  http::RequestHead head;
  head.scheme = "http";
  HeadParse r = parser.Parse(buffer, &head);
  ASSERT_EQ(r.state, ParseState::kDone);
  EXPECT_EQ(head.path, "/a");
  EXPECT_EQ(head.scheme, "http");
  buffer.erase(0, r.consumed);
  EXPECT_EQ(parser.Parse(buffer, &head).state, ParseState::kIncomplete);
  buffer += "st: b\r\n\r\n";
  r = parser.Parse(buffer, &head);
  ASSERT_EQ(r.state, ParseState::kDone);
  EXPECT_EQ(head.path, "/b");
  EXPECT_EQ(*head.headers.Get("host"), "b");
  EXPECT_EQ(head.headers.size(), 1u);
}

TEST(ParseRequestHead, IncompleteStaysQuietWhileValid) {
  http::RequestHead head;
  EXPECT_EQ(ParseRequest(std::string_view(), &head).state, ParseState::kIncomplete);
  for (std::string_view s : {"", "G", "GET", "GET ", "GET /", "GET / HTTP/1.", "GET / HTTP/1.1\r",
                             "GET / HTTP/1.1\r\nHost", "GET / HTTP/1.1\r\nHost: a\r\n\r"}) {
    EXPECT_EQ(ParseRequest(s, &head).state, ParseState::kIncomplete) << s;
  }
}

TEST(ParseRequestHead, ErrorsDetectedEarly) {
  http::RequestHead head;
  for (std::string_view s : {"G{", "GET /a\x01", "\x16\x03\x01", "GET / HTTP/1.1\r\nHost : ", "GET / HTTP/1.1\r\n x",
                             "GET / HTTP/1.1\r\nX: \x01"}) {
    EXPECT_EQ(ParseRequest(s, &head).state, ParseState::kError) << testing::PrintToString(std::string(s));
  }
}

// ---- responses ----

TEST(ParseResponseHead, Simple) {
  const std::string data = "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nServer: x\r\n\r\nabc";
  http::ResponseHead head;
  HeadParse r = ParseResponseHead(data, Limits(), &head);
  ASSERT_EQ(r.state, ParseState::kDone) << r.error;
  EXPECT_EQ(r.consumed, data.size() - 3);
  EXPECT_EQ(head.status, 404);
  EXPECT_EQ(head.reason, "Not Found");
  EXPECT_EQ(*head.headers.Get("content-length"), "3");
}

TEST(ParseResponseHead, ReasonOptional) {
  http::ResponseHead head;
  ASSERT_EQ(ParseResponseHead("HTTP/1.1 204\r\n\r\n", Limits(), &head).state, ParseState::kDone);
  EXPECT_EQ(head.status, 204);
  EXPECT_EQ(head.reason, "");
  ASSERT_EQ(ParseResponseHead("HTTP/1.0 200 \r\n\r\n", Limits(), &head).state, ParseState::kDone);
  EXPECT_EQ(head.version_minor, 0);
}

TEST(ParseResponseHead, InformationalReturnedLikeAnyOther) {
  http::ResponseHead head;
  const std::string data = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n";
  HeadParse r = ParseResponseHead(data, Limits(), &head);
  ASSERT_EQ(r.state, ParseState::kDone);
  EXPECT_EQ(head.status, 100);
  EXPECT_EQ(r.consumed, 25u);
}

TEST(ParseResponseHead, RejectsWith502) {
  for (std::string_view s : {"HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1 099 X\r\n\r\n",
                             "HTTP/1.1 600 X\r\n\r\n", "HTTP/2.0 200 OK\r\n\r\n", "HTTP/1.1  200 OK\r\n\r\n",
                             "http/1.1 200 OK\r\n\r\n", "HTTP/1.1 200 O\x01K\r\n\r\n", "HTTP/1.1 200 OK\n\r\n",
                             "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", "HTTP/1.1 200 OK\r\nX : a\r\n\r\n",
                             "\r\nHTTP/1.1 200 OK\r\n\r\n", "ICY 200 OK\r\n\r\n"}) {
    http::ResponseHead head;
    HeadParse r = ParseResponseHead(s, Limits(), &head);
    EXPECT_EQ(r.state, ParseState::kError) << testing::PrintToString(std::string(s));
    EXPECT_EQ(r.error_status, 502) << testing::PrintToString(std::string(s));
  }
}

TEST(ResponseHeadParser, SplitAtEveryByte) {
  const std::string data = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n";
  ResponseHeadParser parser;
  for (size_t n = 0; n < data.size(); ++n) {
    http::ResponseHead head;
    ASSERT_EQ(parser.Parse(std::string_view(data.data(), n), &head).state, ParseState::kIncomplete) << n;
    ASSERT_EQ(ParseResponseHead(std::string_view(data.data(), n), Limits(), &head).state, ParseState::kIncomplete) << n;
  }
  http::ResponseHead head;
  HeadParse r = parser.Parse(data, &head);
  ASSERT_EQ(r.state, ParseState::kDone);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(*head.headers.Get("transfer-encoding"), "chunked");
}

TEST(ResponseHeadParser, SkipsServerFieldsOnlyWhenAskedAndStillChecksThem) {
  const std::string data =
      "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: today\r\nX-Powered-By: PHP\r\nSERVER-timing: db\r\n"
      "x-powered-BY: again\r\nServers: 2\r\nContent-Length: 0\r\n\r\n";
  auto names = [](const http::ResponseHead& head) {
    std::string joined;
    for (const http::Header& h : head.headers.entries()) joined += h.name + ",";
    return joined;
  };
  ResponseHeadParser keeping;
  http::ResponseHead kept;
  ASSERT_EQ(keeping.Parse(data, &kept).state, ParseState::kDone);
  EXPECT_EQ(names(kept), "server,date,x-powered-by,server-timing,x-powered-by,servers,content-length,");

  ResponseHeadParser skipping;
  skipping.set_skip_server_fields(true);
  http::ResponseHead skipped;
  ASSERT_EQ(skipping.Parse(data, &skipped).state, ParseState::kDone);
  EXPECT_EQ(names(skipped), "date,server-timing,servers,content-length,");

  // A skipped field is still a field line: its errors still fail the head.
  http::ResponseHead bad;
  HeadParse r = skipping.Parse("HTTP/1.1 200 OK\r\nServer: a\x01b\r\n\r\n", &bad);
  EXPECT_EQ(r.state, ParseState::kError);
  EXPECT_EQ(r.error_status, 502);
}

// The word compares behind the skip: every length around the 8-byte words,
// any case, and near misses (a byte off, ':' vs another byte).
TEST(ResponseHeadParser, SkipsServerFieldsByNameInAnyCaseAndNothingElse) {
  auto kept = [](std::string_view line) {
    ResponseHeadParser parser;
    parser.set_skip_server_fields(true);
    http::ResponseHead head;
    const std::string data = "HTTP/1.1 200 OK\r\n" + std::string(line) + "\r\n\r\n";
    HeadParse r = parser.Parse(data, &head);
    EXPECT_EQ(r.state, ParseState::kDone) << line;
    return head.headers.size();
  };
  for (std::string_view line : {"Server:", "server:a", "SERVER: nginx/1.22.1", "sErVeR:x", "X-Powered-By:",
                                "x-powered-by:1", "X-POWERED-BY: PHP", "x-Powered-by:  Express 4.18.2"}) {
    EXPECT_EQ(kept(line), 0u) << line;
  }
  for (std::string_view line : {"Serve: a", "Servers: a", "Server-Timing: a", "Sxrver: a", "Rerver: a", "Server_: a",
                                "X-Powered-Bx: a", "X-Powered_By: a", "X-Powered-By-Us: a", "X-Powered: a",
                                "Y-Powered-By: a", "Date: Sun, 06 Dec 2026 03:10:07 GMT"}) {
    EXPECT_EQ(kept(line), 1u) << line;
  }
}

TEST(ResponseHeadParser, SkipsAnHttp11KeepAliveLineOnlyWhenAsked) {
  auto names = [](const http::ResponseHead& head) {
    std::string joined;
    for (const http::Header& h : head.headers.entries()) joined += h.name + ": " + h.value + ",";
    return joined;
  };
  auto parse = [&](bool skip, std::string_view data) {
    ResponseHeadParser parser;
    parser.set_skip_keep_alive(skip);
    http::ResponseHead head;
    HeadParse r = parser.Parse(data, &head);
    EXPECT_EQ(r.state, ParseState::kDone) << data;
    return names(head);
  };
  const std::string http11 = "HTTP/1.1 200 OK\r\nDate: today\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";
  EXPECT_EQ(parse(false, http11), "date: today,connection: keep-alive,content-length: 0,");
  EXPECT_EQ(parse(true, http11), "date: today,content-length: 0,");
  EXPECT_EQ(parse(true, "HTTP/1.1 200 OK\r\nCONNECTION: Keep-Alive\r\n\r\n"), "");
  // Anything else is kept: HTTP/1.0 (where keep-alive keeps the connection
  // open), another token, a field named in Connection, other spacing.
  EXPECT_EQ(parse(true, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n"), "connection: keep-alive,");
  EXPECT_EQ(parse(true, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"), "connection: close,");
  EXPECT_EQ(parse(true, "HTTP/1.1 200 OK\r\nConnection: keep-alive, x-a\r\nx-a: 1\r\n\r\n"),
            "connection: keep-alive, x-a,x-a: 1,");
  EXPECT_EQ(parse(true, "HTTP/1.1 200 OK\r\nConnection:keep-alive\r\n\r\n"), "connection: keep-alive,");
}

}  // namespace
}  // namespace sluice::http1
