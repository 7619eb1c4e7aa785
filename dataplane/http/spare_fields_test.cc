#include "dataplane/http/spare_fields.h"

#include <gtest/gtest.h>

namespace sluice::http {
namespace {

// A head built in a recycled list holds only its own fields.
TEST(SpareFieldLists, ARecycledListStartsEmpty) {
  HeaderMap first;
  SpareFieldLists::Take(first, 8);
  first.AppendField("date", "Sun, 06 Dec 2026 03:10:07 GMT");
  first.AppendField("etag", "\"6b14d20a-400\"");
  const Header* block = first.entries().data();
  SpareFieldLists::Give(first);
  EXPECT_TRUE(first.empty());
  EXPECT_EQ(first.mutable_entries().capacity(), 0u);  // the block went to the spares

  HeaderMap second;
  SpareFieldLists::Take(second, 8);
  EXPECT_TRUE(second.empty());
  EXPECT_EQ(second.entries().data(), block);  // the same block, no new allocation
  second.AppendField("content-length", "1024");
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second.entries()[0].name, "content-length");
  EXPECT_EQ(second.Get("date"), nullptr);
  SpareFieldLists::Give(second);
}

// A list with fields already is never swapped away, and one with too little
// room for the caller is not handed out.
TEST(SpareFieldLists, TakeKeepsFieldsAndRoom) {
  HeaderMap held;
  held.AppendField("a", "1");
  SpareFieldLists::Take(held, 16);
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held.entries()[0].value, "1");
  EXPECT_GE(held.mutable_entries().capacity(), 16u);

  HeaderMap small;
  small.mutable_entries().reserve(2);
  SpareFieldLists::Give(small);
  HeaderMap wide;
  SpareFieldLists::Take(wide, 12);
  EXPECT_GE(wide.mutable_entries().capacity(), 12u);
}

// A value too long for the inline buffer is built in a spare string: the
// block of one given back serves the next such value, of any length up to
// the spare capacity; longer values and short ones are plain strings.
TEST(SpareFieldLists, LongValuesReuseSpareStrings) {
  const std::string date = "Sun, 06 Dec 2026 03:10:07 GMT";
  HeaderMap first;
  SpareFieldLists::AppendField(first, "date", date);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first.entries()[0].name, "date");
  EXPECT_EQ(first.entries()[0].value, date);
  EXPECT_EQ(first.entries()[0].value.capacity(), SpareFieldLists::kSpareStringCapacity);
  const char* block = first.entries()[0].value.data();
  SpareFieldLists::Give(first);

  HeaderMap second;
  const std::string type = "application/octet-stream";
  SpareFieldLists::AppendField(second, "content-type", type);
  SpareFieldLists::AppendField(second, "x-short", "1024");
  const std::string longer(SpareFieldLists::kSpareStringCapacity + 1, 'v');
  SpareFieldLists::AppendField(second, "x-long", longer);
  ASSERT_EQ(second.size(), 3u);
  EXPECT_EQ(second.entries()[0].value, type);
  EXPECT_EQ(second.entries()[0].value.data(), block);  // the same block, no malloc
  EXPECT_EQ(second.entries()[1].value, "1024");
  EXPECT_EQ(second.entries()[2].value, longer);
  EXPECT_EQ(second.Get("content-type"), &second.entries()[0].value);
  SpareFieldLists::Give(second);
}

// A spare string that a stage grew past the spare capacity is freed, not
// kept: every spare string must fit any value up to that capacity.
TEST(SpareFieldLists, GrownValuesAreNotKept) {
  HeaderMap fields;
  SpareFieldLists::AppendField(fields, "cookie", "a=0123456789abcdef");
  fields.mutable_entries()[0].value.append(100, 'x');
  SpareFieldLists::Give(fields);
  HeaderMap next;
  for (int i = 0; i < 4; ++i) SpareFieldLists::AppendField(next, "x", "0123456789abcdef0123");
  for (const Header& h : next.entries()) {
    EXPECT_EQ(h.value, "0123456789abcdef0123");
    EXPECT_EQ(h.value.capacity(), SpareFieldLists::kSpareStringCapacity);
  }
  SpareFieldLists::Give(next);
}

}  // namespace
}  // namespace sluice::http
