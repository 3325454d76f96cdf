// NTS-KE record framing: encoding, stream parsing, reassembly and bounds.
#include "core/ke_record.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <stdexcept>
#include <vector>

namespace ntsd::core {
namespace {

Bytes bytes(std::initializer_list<int> values) {
  Bytes out;
  for (int v : values) out.push_back(static_cast<std::uint8_t>(v));
  return out;
}

Bytes end_of_message() { return bytes({0x80, 0x00, 0x00, 0x00}); }

KeRecordType unknown_type(std::uint16_t type) { return static_cast<KeRecordType>(type); }

// A realistic response: every record type, critical and not, bodies of several sizes.
Bytes sample_message() {
  Bytes m;
  append_ke_record_u16s(m, true, KeRecordType::NextProtocol, {0});
  append_ke_record_u16s(m, true, KeRecordType::AeadAlgorithm, {15});
  append_ke_record_u16s(m, false, KeRecordType::Warning, {7});
  const std::string server = "ntp.example.net";
  append_ke_record(m, true, KeRecordType::NtpServer,
                   ByteView(reinterpret_cast<const std::uint8_t*>(server.data()), server.size()));
  append_ke_record_u16s(m, true, KeRecordType::NtpPort, {123});
  append_ke_record(m, false, unknown_type(0x1234), {});
  for (int i = 0; i < 3; ++i) {
    Bytes cookie(100 + static_cast<std::size_t>(i), static_cast<std::uint8_t>(i));
    append_ke_record(m, false, KeRecordType::NewCookie, cookie);
  }
  append_ke_record(m, true, KeRecordType::EndOfMessage, {});
  return m;
}

constexpr std::size_t kSampleRecords = 9;  // sample_message() without End of Message

TEST(KeRecord, KnownTypes) {
  for (std::uint16_t t = 0; t <= 7; ++t) EXPECT_TRUE(is_known_ke_record_type(t)) << t;
  EXPECT_FALSE(is_known_ke_record_type(8));
  EXPECT_FALSE(is_known_ke_record_type(0x4000));
  EXPECT_FALSE(is_known_ke_record_type(0x7fff));
}

TEST(KeRecord, AppendEncodesHeaderAndBody) {
  Bytes out;
  append_ke_record(out, true, KeRecordType::NewCookie, bytes({0xaa, 0xbb, 0xcc}));
  EXPECT_EQ(out, bytes({0x80, 0x05, 0x00, 0x03, 0xaa, 0xbb, 0xcc}));
  append_ke_record(out, false, KeRecordType::NewCookie, {});
  EXPECT_EQ(out, bytes({0x80, 0x05, 0x00, 0x03, 0xaa, 0xbb, 0xcc, 0x00, 0x05, 0x00, 0x00}));
}

TEST(KeRecord, AppendU16sIsBigEndian) {
  Bytes out;
  append_ke_record_u16s(out, true, KeRecordType::AeadAlgorithm, {15, 0x1234, 17});
  EXPECT_EQ(out, bytes({0x80, 0x04, 0x00, 0x06, 0x00, 0x0f, 0x12, 0x34, 0x00, 0x11}));
  Bytes empty;
  append_ke_record_u16s(empty, false, KeRecordType::NextProtocol, {});
  EXPECT_EQ(empty, bytes({0x00, 0x01, 0x00, 0x00}));
}

TEST(KeRecord, AppendRejectsOversizeBodyAndType) {
  Bytes out;
  EXPECT_THROW(append_ke_record(out, false, KeRecordType::NewCookie, Bytes(65536, 0)),
               std::length_error);
  EXPECT_THROW(append_ke_record(out, false, unknown_type(0x8000), {}), std::length_error);
  EXPECT_THROW(append_ke_record_u16s(out, false, KeRecordType::AeadAlgorithm,
                                     std::vector<std::uint16_t>(32768, 15)),
               std::length_error);
  EXPECT_TRUE(out.empty());
  append_ke_record(out, false, KeRecordType::NewCookie, Bytes(65535, 1));
  EXPECT_EQ(out.size(), 4u + 65535u);
}

// Every record type, both critical bit values and several body sizes survive a
// write and a parse.
TEST(KeRecord, RoundTripEveryType) {
  const std::vector<std::uint16_t> types = {1, 2, 3, 4, 5, 6, 7, 8, 0x1234, 0x4000, 0x7fff};
  const std::vector<std::size_t> sizes = {0, 1, 2, 3, 255, 256, 65535};
  for (std::uint16_t type : types) {
    for (bool critical : {false, true}) {
      for (std::size_t size : sizes) {
        Bytes body(size);
        for (std::size_t i = 0; i < size; ++i) body[i] = static_cast<std::uint8_t>(i * 7 + type);
        Bytes m;
        append_ke_record(m, critical, unknown_type(type), body);
        append_ke_record(m, true, KeRecordType::EndOfMessage, {});
        const KeMessage parsed = parse_ke_message(m);
        ASSERT_EQ(parsed.status, KeMessageStatus::Complete) << type << " " << size;
        ASSERT_EQ(parsed.records.size(), 1u);
        EXPECT_EQ(parsed.records[0].type, type);
        EXPECT_EQ(parsed.records[0].critical, critical);
        EXPECT_EQ(Bytes(parsed.records[0].body.begin(), parsed.records[0].body.end()), body);
        EXPECT_EQ(parsed.length, m.size());
        EXPECT_FALSE(parsed.trailing_data(m.size()));
      }
    }
  }
}

TEST(KeRecord, RecordsPointIntoTheBuffer) {
  const Bytes m = sample_message();
  const KeMessage parsed = parse_ke_message(m);
  ASSERT_EQ(parsed.status, KeMessageStatus::Complete);
  ASSERT_EQ(parsed.records.size(), kSampleRecords);
  for (const KeRecord& r : parsed.records) {
    if (r.body.empty()) continue;
    EXPECT_GE(r.body.data(), m.data());
    EXPECT_LE(r.body.data() + r.body.size(), m.data() + m.size());
  }
  EXPECT_EQ(parsed.records[0].type, 1);
  EXPECT_TRUE(parsed.records[0].critical);
  EXPECT_EQ(parsed.records[2].type, 3);
  EXPECT_FALSE(parsed.records[2].critical);
  EXPECT_EQ(parsed.records[5].type, 0x1234);  // unknown types are kept
  EXPECT_FALSE(parsed.records[5].critical);
  EXPECT_EQ(parsed.records[8].body.size(), 102u);
}

TEST(KeRecord, EmptyBufferIsIncomplete) {
  const KeMessage parsed = parse_ke_message({});
  EXPECT_EQ(parsed.status, KeMessageStatus::Incomplete);
  EXPECT_EQ(parsed.length, 0u);
  EXPECT_TRUE(parsed.records.empty());
}

TEST(KeRecord, BareEndOfMessageIsComplete) {
  const Bytes m = end_of_message();
  const KeMessage parsed = parse_ke_message(m);
  EXPECT_EQ(parsed.status, KeMessageStatus::Complete);
  EXPECT_EQ(parsed.length, 4u);
  EXPECT_TRUE(parsed.records.empty());
}

// The type decides; a missing critical bit on End of Message is tolerated.
TEST(KeRecord, NonCriticalEndOfMessageIsAccepted) {
  Bytes m;
  append_ke_record_u16s(m, true, KeRecordType::NextProtocol, {0});
  const Bytes eom = bytes({0x00, 0x00, 0x00, 0x00});
  m.insert(m.end(), eom.begin(), eom.end());
  const KeMessage parsed = parse_ke_message(m);
  EXPECT_EQ(parsed.status, KeMessageStatus::Complete);
  EXPECT_EQ(parsed.records.size(), 1u);
}

TEST(KeRecord, EndOfMessageWithBodyIsMalformed) {
  Bytes m;
  append_ke_record_u16s(m, true, KeRecordType::NextProtocol, {0});
  append_ke_record(m, true, KeRecordType::EndOfMessage, bytes({0x00}));
  const KeMessage parsed = parse_ke_message(m);
  EXPECT_EQ(parsed.status, KeMessageStatus::Malformed);
  EXPECT_TRUE(parsed.records.empty());
  EXPECT_EQ(parsed.length, 10u);  // through the offending header
}

// Detected from the header alone: no need to wait for a body that may never come.
TEST(KeRecord, EndOfMessageWithBodyIsMalformedBeforeTheBodyArrives) {
  const Bytes m = bytes({0x80, 0x00, 0xff, 0xff});
  EXPECT_EQ(parse_ke_message(m).status, KeMessageStatus::Malformed);
  const Bytes non_critical = bytes({0x00, 0x00, 0x00, 0x01});
  EXPECT_EQ(parse_ke_message(non_critical).status, KeMessageStatus::Malformed);
}

// Cut the message at every byte offset: every proper prefix is Incomplete and
// yields nothing, the whole message is Complete.
TEST(KeRecord, EveryPrefixIsIncomplete) {
  const Bytes m = sample_message();
  for (std::size_t cut = 0; cut < m.size(); ++cut) {
    const KeMessage parsed = parse_ke_message(ByteView(m).first(cut));
    ASSERT_EQ(parsed.status, KeMessageStatus::Incomplete) << "cut at " << cut;
    EXPECT_EQ(parsed.length, 0u);
    EXPECT_TRUE(parsed.records.empty());
  }
  const KeMessage parsed = parse_ke_message(m);
  EXPECT_EQ(parsed.status, KeMessageStatus::Complete);
  EXPECT_EQ(parsed.length, m.size());
  EXPECT_EQ(parsed.records.size(), kSampleRecords);
}

// Split into two reads at every offset, reassembled the way the server does it:
// append, re-parse from the start.
TEST(KeRecord, ReassemblyAtEverySplit) {
  const Bytes m = sample_message();
  const KeMessage whole = parse_ke_message(m);
  for (std::size_t split = 1; split < m.size(); ++split) {
    Bytes buffer(m.begin(), m.begin() + static_cast<std::ptrdiff_t>(split));
    ASSERT_EQ(parse_ke_message(buffer).status, KeMessageStatus::Incomplete) << split;
    buffer.insert(buffer.end(), m.begin() + static_cast<std::ptrdiff_t>(split), m.end());
    const KeMessage parsed = parse_ke_message(buffer);
    ASSERT_EQ(parsed.status, KeMessageStatus::Complete) << split;
    ASSERT_EQ(parsed.records.size(), whole.records.size());
    for (std::size_t i = 0; i < parsed.records.size(); ++i) {
      EXPECT_EQ(parsed.records[i].type, whole.records[i].type);
      EXPECT_EQ(parsed.records[i].critical, whole.records[i].critical);
      EXPECT_TRUE(std::equal(parsed.records[i].body.begin(), parsed.records[i].body.end(),
                             whole.records[i].body.begin(), whole.records[i].body.end()));
    }
  }
}

// Many small reads of random sizes, as TLS records and TCP segments may deliver.
TEST(KeRecord, ReassemblyInRandomChunks) {
  const Bytes m = sample_message();
  std::mt19937 rng(8915);
  for (int round = 0; round < 200; ++round) {
    Bytes buffer;
    std::size_t offset = 0;
    while (offset < m.size()) {
      const std::size_t chunk = std::min<std::size_t>(1 + rng() % 17, m.size() - offset);
      buffer.insert(buffer.end(), m.begin() + static_cast<std::ptrdiff_t>(offset),
                    m.begin() + static_cast<std::ptrdiff_t>(offset + chunk));
      offset += chunk;
      const KeMessage parsed = parse_ke_message(buffer);
      if (offset < m.size()) {
        ASSERT_EQ(parsed.status, KeMessageStatus::Incomplete);
      } else {
        ASSERT_EQ(parsed.status, KeMessageStatus::Complete);
        EXPECT_EQ(parsed.records.size(), kSampleRecords);
      }
    }
  }
}

TEST(KeRecord, TrailingDataIsReportedNotParsed) {
  Bytes m = sample_message();
  const std::size_t message_size = m.size();
  const Bytes extra = bytes({0x80, 0x01, 0x00, 0x02, 0x00});  // a partial record after EOM
  m.insert(m.end(), extra.begin(), extra.end());
  const KeMessage parsed = parse_ke_message(m);
  EXPECT_EQ(parsed.status, KeMessageStatus::Complete);
  EXPECT_EQ(parsed.length, message_size);
  EXPECT_TRUE(parsed.trailing_data(m.size()));
  EXPECT_FALSE(parsed.trailing_data(message_size));
  EXPECT_EQ(parsed.records.size(), kSampleRecords);

  // Even a second, well-formed message after the first is trailing data.
  Bytes twice = sample_message();
  const Bytes again = sample_message();
  twice.insert(twice.end(), again.begin(), again.end());
  const KeMessage first = parse_ke_message(twice);
  EXPECT_EQ(first.length, again.size());
  EXPECT_TRUE(first.trailing_data(twice.size()));
}

TEST(KeRecord, MaxRecordsBoundary) {
  for (std::size_t max : {std::size_t{0}, std::size_t{1}, std::size_t{5}}) {
    Bytes exact;
    for (std::size_t i = 0; i < max; ++i) {
      append_ke_record(exact, false, KeRecordType::NewCookie, bytes({1, 2}));
    }
    Bytes over = exact;
    append_ke_record(over, false, KeRecordType::NewCookie, bytes({1, 2}));
    const Bytes eom = end_of_message();
    exact.insert(exact.end(), eom.begin(), eom.end());
    over.insert(over.end(), eom.begin(), eom.end());

    const KeMessage ok = parse_ke_message(exact, max);
    EXPECT_EQ(ok.status, KeMessageStatus::Complete) << max;
    EXPECT_EQ(ok.records.size(), max);
    const KeMessage bad = parse_ke_message(over, max);
    EXPECT_EQ(bad.status, KeMessageStatus::Malformed) << max;
    EXPECT_TRUE(bad.records.empty());
  }
}

// A peer that streams records without End of Message is cut off as soon as the
// record beyond the limit announces itself, not when the buffer fills.
TEST(KeRecord, MaxRecordsStopsAnEndlessStream) {
  Bytes m;
  for (int i = 0; i < 10; ++i) append_ke_record(m, false, unknown_type(0x1000), {});
  EXPECT_EQ(parse_ke_message(m, 10).status, KeMessageStatus::Incomplete);
  append_ke_record(m, false, unknown_type(0x1000), Bytes(500, 0));
  // Only the header of the 11th record is needed.
  EXPECT_EQ(parse_ke_message(ByteView(m).first(10 * 4 + 4), 10).status, KeMessageStatus::Malformed);
  EXPECT_EQ(parse_ke_message(ByteView(m).first(10 * 4 + 3), 10).status,
            KeMessageStatus::Incomplete);
}

TEST(KeRecord, DefaultMaxRecordsIs1024) {
  Bytes m;
  for (int i = 0; i < 1024; ++i) append_ke_record(m, false, unknown_type(0x1000), {});
  Bytes complete = m;
  const Bytes eom = end_of_message();
  complete.insert(complete.end(), eom.begin(), eom.end());
  EXPECT_EQ(parse_ke_message(complete).status, KeMessageStatus::Complete);
  append_ke_record(m, false, unknown_type(0x1000), {});
  EXPECT_EQ(parse_ke_message(m).status, KeMessageStatus::Malformed);
}

TEST(KeRecord, LongBodyWaitsForAllOfIt) {
  Bytes m;
  append_ke_record(m, false, KeRecordType::NewCookie, Bytes(65535, 0x5a));
  const Bytes eom = end_of_message();
  m.insert(m.end(), eom.begin(), eom.end());
  EXPECT_EQ(parse_ke_message(ByteView(m).first(4 + 65534)).status, KeMessageStatus::Incomplete);
  EXPECT_EQ(parse_ke_message(ByteView(m).first(4 + 65535)).status, KeMessageStatus::Incomplete);
  const KeMessage parsed = parse_ke_message(m);
  EXPECT_EQ(parsed.status, KeMessageStatus::Complete);
  ASSERT_EQ(parsed.records.size(), 1u);
  EXPECT_EQ(parsed.records[0].body.size(), 65535u);
}

// Whatever the bytes, the parser stays inside the buffer and reports a
// consistent result (run under the sanitizer build for full effect).
TEST(KeRecord, RandomInputIsHandled) {
  std::mt19937 rng(4460);
  for (int round = 0; round < 20000; ++round) {
    Bytes m(rng() % 64);
    for (auto& b : m) b = static_cast<std::uint8_t>(rng() % 4 == 0 ? 0 : rng());
    const KeMessage parsed = parse_ke_message(m, 8);
    switch (parsed.status) {
      case KeMessageStatus::Complete: {
        ASSERT_LE(parsed.length, m.size());
        ASSERT_LE(parsed.records.size(), 8u);
        std::size_t total = 4;  // End of Message
        for (const KeRecord& r : parsed.records) total += 4 + r.body.size();
        ASSERT_EQ(total, parsed.length);
        break;
      }
      case KeMessageStatus::Incomplete:
        ASSERT_EQ(parsed.length, 0u);
        ASSERT_TRUE(parsed.records.empty());
        break;
      case KeMessageStatus::Malformed:
        ASSERT_LE(parsed.length, m.size());
        ASSERT_TRUE(parsed.records.empty());
        break;
    }
  }
}

}  // namespace
}  // namespace ntsd::core
