#include "dataplane/websocket/frames.h"

#include <string>

#include "gtest/gtest.h"

namespace sluice::websocket {
namespace {

std::string Frame(uint8_t opcode, size_t length, bool masked) {
  std::string out;
  out += static_cast<char>(0x80 | opcode);
  const uint8_t mask_bit = masked ? 0x80 : 0;
  if (length < 126) {
    out += static_cast<char>(mask_bit | length);
  } else if (length <= 0xffff) {
    out += static_cast<char>(mask_bit | 126);
    out += static_cast<char>(length >> 8);
    out += static_cast<char>(length & 0xff);
  } else {
    out += static_cast<char>(mask_bit | 127);
    for (int i = 7; i >= 0; --i) out += static_cast<char>((uint64_t{length} >> (8 * i)) & 0xff);
  }
  if (masked) out += std::string("\x01\x02\x03\x04", 4);
  out += std::string(length, 'p');
  return out;
}

TEST(FrameBoundary, FollowsFramesOfEveryLengthForm) {
  for (bool masked : {false, true}) {
    for (size_t length : {size_t{0}, size_t{5}, size_t{125}, size_t{126}, size_t{65535}, size_t{65536}, size_t{70000}}) {
      SCOPED_TRACE(std::to_string(length) + (masked ? " masked" : ""));
      FrameBoundary boundary;
      EXPECT_TRUE(boundary.at_boundary());
      const std::string frame = Frame(0x2, length, masked);
      boundary.Feed(std::string_view(frame).substr(0, frame.size() - 1));
      EXPECT_EQ(boundary.at_boundary(), false);
      boundary.Feed(std::string_view(frame).substr(frame.size() - 1));
      EXPECT_TRUE(boundary.at_boundary());
    }
  }
}

TEST(FrameBoundary, SeesBoundariesWhateverTheByteSplit) {
  const std::string stream = Frame(0x1, 3, false) + Frame(0x2, 300, true) + Frame(0x9, 0, false) + Frame(0x2, 70000, false);
  const size_t ends[] = {Frame(0x1, 3, false).size(), Frame(0x1, 3, false).size() + Frame(0x2, 300, true).size()};
  // One byte at a time: at a boundary exactly after each frame's last byte.
  FrameBoundary boundary;
  for (size_t i = 0; i < stream.size(); ++i) {
    boundary.Feed(stream.substr(i, 1));
    const bool expected = i + 1 == ends[0] || i + 1 == ends[1] || i + 1 == ends[1] + 2 || i + 1 == stream.size();
    ASSERT_EQ(boundary.at_boundary(), expected) << i;
  }
  // In one piece and in uneven pieces: the same end state.
  for (size_t piece : {size_t{7}, size_t{1000}, stream.size()}) {
    FrameBoundary pieces;
    for (size_t at = 0; at < stream.size(); at += piece) pieces.Feed(stream.substr(at, piece));
    EXPECT_TRUE(pieces.at_boundary()) << piece;
  }
}

TEST(FrameBoundary, AForbiddenLengthLosesTheStreamForGood) {
  FrameBoundary boundary;
  std::string bad = "\x82\x7f";
  bad += std::string("\x80\0\0\0\0\0\0\0", 8);
  boundary.Feed(bad);
  EXPECT_TRUE(boundary.lost());
  EXPECT_FALSE(boundary.at_boundary());
  boundary.Feed(Frame(0x1, 1, false));
  EXPECT_FALSE(boundary.at_boundary());
}

TEST(CloseFrame, UnmaskedFromTheServerAndMaskedFromTheClient) {
  EXPECT_EQ(CloseFrame(kGoingAway, "bye", nullptr), std::string("\x88\x05\x03\xe9" "bye", 7));
  const uint8_t key[4] = {0x11, 0x22, 0x33, 0x44};
  const std::string masked = CloseFrame(kGoingAway, "", key);
  ASSERT_EQ(masked.size(), 2u + 4u + 2u);
  EXPECT_EQ(static_cast<uint8_t>(masked[1]), 0x82);
  EXPECT_EQ(static_cast<uint8_t>(masked[6]), 0x03 ^ 0x11);
  EXPECT_EQ(static_cast<uint8_t>(masked[7]), 0xe9 ^ 0x22);
  // A frame the tracker reads as one whole frame.
  FrameBoundary boundary;
  boundary.Feed(masked.substr(0, 3));
  EXPECT_FALSE(boundary.at_boundary());
  boundary.Feed(masked.substr(3));
  EXPECT_TRUE(boundary.at_boundary());
  // The reason is cut to fit a control frame.
  EXPECT_EQ(CloseFrame(kGoingAway, std::string(200, 'r'), nullptr).size(), 2u + 125u);
}

}  // namespace
}  // namespace sluice::websocket
