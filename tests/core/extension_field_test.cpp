#include "core/extension_field.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>
#include <vector>

#include "core/ntp_packet.h"

namespace ntsd::core {
namespace {

Bytes header_only() { return Bytes(kNtpHeaderLength, 0); }

void put_field(Bytes& out, std::uint16_t type, std::uint16_t length, std::uint8_t fill) {
  out.push_back(static_cast<std::uint8_t>(type >> 8));
  out.push_back(static_cast<std::uint8_t>(type));
  out.push_back(static_cast<std::uint8_t>(length >> 8));
  out.push_back(static_cast<std::uint8_t>(length));
  for (std::size_t i = 4; i < length; ++i) out.push_back(fill);
}

TEST(ExtensionFields, NoFieldsAfterTheHeader) {
  Bytes packet = header_only();
  auto list = parse_extension_fields(packet, kNtpHeaderLength);
  EXPECT_TRUE(list.ok());
  EXPECT_EQ(list.count, 0U);
  EXPECT_EQ(list.parsed_end, kNtpHeaderLength);
  EXPECT_EQ(list.begin(), list.end());
}

TEST(ExtensionFields, ParsesTypeBodyOffsetAndLength) {
  Bytes packet = header_only();
  put_field(packet, 0x0104, 36, 0xAB);
  put_field(packet, 0x7777, 16, 0xCD);
  put_field(packet, 0x0404, 40, 0xEF);
  auto list = parse_extension_fields(packet, kNtpHeaderLength);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list.count, 3U);
  EXPECT_EQ(list.fields[0].type, 0x0104);
  EXPECT_EQ(list.fields[0].offset, 48U);
  EXPECT_EQ(list.fields[0].length, 36U);
  EXPECT_EQ(list.fields[0].body.size(), 32U);
  EXPECT_EQ(list.fields[0].body.data(), packet.data() + 52);
  EXPECT_EQ(list.fields[1].type, 0x7777);
  EXPECT_EQ(list.fields[1].offset, 84U);
  EXPECT_EQ(list.fields[1].body.size(), 12U);
  EXPECT_EQ(list.fields[1].body[0], 0xCD);
  EXPECT_EQ(list.fields[2].type, 0x0404);
  EXPECT_EQ(list.fields[2].offset, 100U);
  EXPECT_EQ(list.fields[2].length, 40U);
  EXPECT_EQ(list.parsed_end, packet.size());
  std::size_t n = 0;
  for (const auto& f : list) {
    EXPECT_EQ(&f, &list.fields[n]);
    ++n;
  }
  EXPECT_EQ(n, 3U);
}

TEST(ExtensionFields, StartOtherThanTheHeader) {
  Bytes plaintext;
  put_field(plaintext, 0x0304, 20, 0);
  auto list = parse_extension_fields(plaintext, 0);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list.count, 1U);
  EXPECT_EQ(list.fields[0].offset, 0U);
}

TEST(ExtensionFields, StartPastTheEndIsTruncated) {
  Bytes packet(10, 0);
  auto list = parse_extension_fields(packet, kNtpHeaderLength);
  EXPECT_EQ(list.error, ExtensionFieldError::Truncated);
  EXPECT_FALSE(list.ok());
}

TEST(ExtensionFields, FewerThanFourBytesLeftIsTruncated) {
  for (std::size_t extra = 1; extra < 4; ++extra) {
    Bytes packet = header_only();
    put_field(packet, 0x0104, 36, 1);
    packet.resize(packet.size() + extra, 0);
    auto list = parse_extension_fields(packet, kNtpHeaderLength);
    EXPECT_EQ(list.error, ExtensionFieldError::Truncated) << extra;
    EXPECT_EQ(list.count, 1U);
    EXPECT_EQ(list.parsed_end, kNtpHeaderLength + 36);
  }
}

TEST(ExtensionFields, LengthPastTheEndIsTruncated) {
  Bytes packet = header_only();
  put_field(packet, 0x0104, 36, 1);
  packet.erase(packet.end() - 4, packet.end());
  auto list = parse_extension_fields(packet, kNtpHeaderLength);
  EXPECT_EQ(list.error, ExtensionFieldError::Truncated);
  EXPECT_EQ(list.count, 0U);
  EXPECT_EQ(list.parsed_end, kNtpHeaderLength);
}

TEST(ExtensionFields, ShorterThan16IsBadLength) {
  for (int length : {0, 4, 8, 12}) {
    Bytes packet = header_only();
    put_field(packet, 0x0104, static_cast<std::uint16_t>(length), 1);
    packet.resize(kNtpHeaderLength + 16, 0);  // room enough: the length itself is wrong
    auto list = parse_extension_fields(packet, kNtpHeaderLength);
    EXPECT_EQ(list.error, ExtensionFieldError::BadLength) << length;
  }
}

TEST(ExtensionFields, NotAMultipleOfFourIsBadLength) {
  for (int length : {17, 18, 19, 33}) {
    Bytes packet = header_only();
    put_field(packet, 0x0104, static_cast<std::uint16_t>(length), 1);
    packet.resize(kNtpHeaderLength + 40, 0);
    auto list = parse_extension_fields(packet, kNtpHeaderLength);
    EXPECT_EQ(list.error, ExtensionFieldError::BadLength) << length;
  }
}

TEST(ExtensionFields, AtMostTheBoundManyFields) {
  Bytes packet = header_only();
  for (std::size_t i = 0; i < kMaxExtensionFields; ++i) put_field(packet, 0x1000, 16, 0);
  auto list = parse_extension_fields(packet, kNtpHeaderLength);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list.count, kMaxExtensionFields);
  put_field(packet, 0x1000, 16, 0);
  list = parse_extension_fields(packet, kNtpHeaderLength);
  EXPECT_EQ(list.error, ExtensionFieldError::TooManyFields);
  EXPECT_EQ(list.count, kMaxExtensionFields);
}

TEST(ExtensionFields, FieldLengthIsPaddedToFourAndSixteen) {
  EXPECT_EQ(extension_field_length(0), 16U);
  EXPECT_EQ(extension_field_length(1), 16U);
  EXPECT_EQ(extension_field_length(12), 16U);
  EXPECT_EQ(extension_field_length(13), 20U);
  EXPECT_EQ(extension_field_length(16), 20U);
  EXPECT_EQ(extension_field_length(32), 36U);
  EXPECT_EQ(extension_field_length(102), 108U);
  EXPECT_EQ(extension_field_length(166), 172U);
}

TEST(ExtensionFields, AppendPadsWithZerosAndRoundTrips) {
  for (std::size_t body_length : {0U, 1U, 3U, 12U, 13U, 32U, 102U, 134U, 166U}) {
    Bytes packet = header_only();
    Bytes body(body_length);
    for (std::size_t i = 0; i < body_length; ++i) body[i] = static_cast<std::uint8_t>(i + 1);
    append_extension_field(packet, ExtensionFieldType::NtsCookie, body);
    const std::size_t length = extension_field_length(body_length);
    ASSERT_EQ(packet.size(), kNtpHeaderLength + length) << body_length;
    EXPECT_EQ(length % 4, 0U);
    auto list = parse_extension_fields(packet, kNtpHeaderLength);
    ASSERT_TRUE(list.ok());
    ASSERT_EQ(list.count, 1U);
    EXPECT_EQ(list.fields[0].type, 0x0204);
    EXPECT_EQ(list.fields[0].length, length);
    ASSERT_EQ(list.fields[0].body.size(), length - 4);
    for (std::size_t i = 0; i < body_length; ++i) EXPECT_EQ(list.fields[0].body[i], body[i]);
    for (std::size_t i = body_length; i < length - 4; ++i) EXPECT_EQ(list.fields[0].body[i], 0);
  }
}

TEST(ExtensionFields, AppendKeepsWhatWasThere) {
  Bytes packet = {1, 2, 3};
  append_extension_field(packet, ExtensionFieldType::UniqueIdentifier, Bytes(32, 9));
  Bytes expected = {1, 2, 3, 0x01, 0x04, 0x00, 36};  // then the UID body
  expected.insert(expected.end(), 32, 9);
  EXPECT_EQ(packet, expected);
}

TEST(ExtensionFields, AppendRefusesAFieldLongerThanItsLengthCanSay) {
  Bytes packet;
  EXPECT_THROW(append_extension_field(packet, ExtensionFieldType::NtsCookie, Bytes(0xFFF9, 0)),
               std::length_error);
  EXPECT_TRUE(packet.empty());
  append_extension_field(packet, ExtensionFieldType::NtsCookie, Bytes(0xFFF8, 0));
  EXPECT_EQ(packet.size(), 0xFFFCU);
}

TEST(ExtensionFields, WriteIntoCallerMemory) {
  std::vector<std::uint8_t> out(20, 0xEE);
  const Bytes body = {7, 7, 7, 7, 7};
  EXPECT_EQ(write_extension_field(out, 0x0304, body), 16U);
  Bytes expected = {0x03, 0x04, 0x00, 16, 7, 7, 7, 7, 7};  // type, length 16, body
  expected.resize(16, 0);                                  // padded with zeros
  expected.resize(20, 0xEE);                               // nothing after it touched
  EXPECT_EQ(out, expected);
}

TEST(ExtensionFields, WriteRefusesWhatDoesNotFit) {
  std::vector<std::uint8_t> out(15, 0xEE);
  EXPECT_EQ(write_extension_field(out, 0x0304, Bytes(1, 1)), 0U);
  EXPECT_EQ(out[0], 0xEE);
  std::vector<std::uint8_t> big(0x10000, 0);
  EXPECT_EQ(write_extension_field(big, 0x0304, Bytes(0xFFF9, 1)), 0U);
}

}  // namespace
}  // namespace ntsd::core
