// JSON strings (src/common/json_string.h): escapes, UTF-8 passed through, and
// bytes that are not UTF-8 replaced, so that network text never breaks a record.
#include "common/json_string.h"

#include <gtest/gtest.h>

#include <string>

namespace ntsd::common {
namespace {

TEST(JsonString, PlainTextIsQuoted) {
  EXPECT_EQ(json_string(""), R"("")");
  EXPECT_EQ(json_string("ntske/1"), R"("ntske/1")");
}

TEST(JsonString, QuotesBackslashesAndControlsAreEscaped) {
  EXPECT_EQ(json_string("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(json_string("\n\r\t\b\f"), R"("\n\r\t\b\f")");
  EXPECT_EQ(json_string(std::string("\x00\x01\x1f\x7f", 4)), R"("\u0000\u0001\u001f\u007f")");
}

TEST(JsonString, ValidUtf8PassesThrough) {
  const std::string text = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x95\x92";  // é, €, 🕒
  EXPECT_EQ(json_string(text), '"' + text + '"');
}

TEST(JsonString, BytesThatAreNotUtf8BecomeReplacementCharacters) {
  // A lone continuation byte, a lone 0xff, a truncated sequence at the end.
  EXPECT_EQ(json_string("a\x80z"), R"("a\ufffdz")");
  EXPECT_EQ(json_string("\xff"), R"("\ufffd")");
  EXPECT_EQ(json_string("\xe2\x82"), R"("\ufffd\ufffd")");
  // Overlong '/', a UTF-16 surrogate, a code point past U+10FFFF.
  EXPECT_EQ(json_string("\xc0\xaf"), R"("\ufffd\ufffd")");
  EXPECT_EQ(json_string("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");
  EXPECT_EQ(json_string("\xf4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");
}

TEST(JsonString, AppendKeepsWhatWasThere) {
  std::string out = "{\"k\":";
  append_json_string(out, "v");
  EXPECT_EQ(out, R"({"k":"v")");
}

}  // namespace
}  // namespace ntsd::common
