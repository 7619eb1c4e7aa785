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

}  // namespace
}  // namespace sluice::http
