#include "server/interleaved.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

namespace ntsd::timesource {
namespace {

ClientKey v4(const char* ip) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, ip, &a.sin_addr);
  a.sin_port = htons(12345);
  return client_key(reinterpret_cast<const sockaddr*>(&a));
}

ClientKey v6(const char* ip) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  inet_pton(AF_INET6, ip, &a.sin6_addr);
  return client_key(reinterpret_cast<const sockaddr*>(&a));
}

constexpr core::NtpTimestamp kRx1{0xE98CA71100000000ULL};
constexpr core::NtpTimestamp kTx1{0xE98CA71100010000ULL};
constexpr core::NtpTimestamp kTx1Kernel{0xE98CA71100011000ULL};
constexpr core::NtpTimestamp kRx2{0xE98CA71200000000ULL};

TEST(Interleaved, PortIsNotPartOfTheKey) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(1);
  auto k1 = client_key(reinterpret_cast<const sockaddr*>(&a));
  a.sin_port = htons(2);
  EXPECT_EQ(k1, client_key(reinterpret_cast<const sockaddr*>(&a)));
}

TEST(Interleaved, LookupByClientAndReceiveTimestamp) {
  InterleavedTable table(64);
  auto client = v4("192.0.2.1");
  auto handle = table.save(client, kRx1, kTx1);
  EXPECT_EQ(table.lookup(client, kRx1), std::optional<core::NtpTimestamp>(kTx1));
  // The kernel's transmit timestamp replaces the written one.
  EXPECT_TRUE(table.update_transmit(handle, kTx1Kernel));
  EXPECT_EQ(table.lookup(client, kRx1), std::optional<core::NtpTimestamp>(kTx1Kernel));
  EXPECT_FALSE(table.lookup(client, kRx2));
}

TEST(Interleaved, SpoofedOriginFallsBackToBasic) {
  InterleavedTable table(64);
  table.save(v4("192.0.2.1"), kRx1, kTx1);
  // Another address naming the first client's exchange gets nothing.
  EXPECT_FALSE(table.lookup(v4("192.0.2.2"), kRx1));
  EXPECT_FALSE(table.lookup(v6("2001:db8::1"), kRx1));
  // An origin one tick off names no exchange.
  EXPECT_FALSE(table.lookup(v4("192.0.2.1"), core::NtpTimestamp{kRx1.raw + 1}));
}

TEST(Interleaved, ReceiveTimestampsAreMadeUnique) {
  InterleavedTable table(64);
  auto client = v4("192.0.2.1");
  EXPECT_EQ(table.unique_receive(client, kRx1), kRx1);
  table.save(client, kRx1, kTx1);
  auto second = table.unique_receive(client, kRx1);
  EXPECT_EQ(second.raw, kRx1.raw + 1);
  table.save(client, second, kTx1Kernel);
  EXPECT_EQ(table.unique_receive(client, kRx1).raw, kRx1.raw + 2);
  // Another client may share the value.
  EXPECT_EQ(table.unique_receive(v4("192.0.2.9"), kRx1), kRx1);
}

TEST(Interleaved, OnlyReceiveTimestampsNotLaterThanTheNewestSavedAreStepped) {
  InterleavedTable table(64);
  auto client = v4("192.0.2.1");
  table.save(client, kRx1, kTx1);
  table.save(client, kRx2, kTx1);
  // An older saved one is still found behind the newest.
  EXPECT_EQ(table.unique_receive(client, kRx1).raw, kRx1.raw + 1);
  EXPECT_EQ(table.unique_receive(client, kRx2).raw, kRx2.raw + 1);
  EXPECT_EQ(table.unique_receive(client, core::NtpTimestamp{kRx2.raw + 5}).raw, kRx2.raw + 5);
}

TEST(Interleaved, ReceiveTimestampsStayUniqueAcrossTheEraBoundary) {
  InterleavedTable table(64);
  auto client = v4("192.0.2.1");
  const core::NtpTimestamp end_of_era{0xFFFFFFFFFFFFFFF0ULL};
  table.save(client, end_of_era, kTx1);
  // The first timestamp of the next era is later than the end of this one.
  EXPECT_EQ(table.unique_receive(client, core::NtpTimestamp{0x10}).raw, 0x10U);
  table.save(client, core::NtpTimestamp{0x10}, kTx1);
  EXPECT_EQ(table.unique_receive(client, end_of_era).raw, end_of_era.raw + 1);
  EXPECT_EQ(table.unique_receive(client, core::NtpTimestamp{0x10}).raw, 0x11U);
}

TEST(Interleaved, EvictsTheOldestAndStaysBounded) {
  InterleavedTable table(InterleavedTable::kWays);  // one bucket
  ASSERT_EQ(table.capacity(), InterleavedTable::kWays);
  auto client = v4("192.0.2.1");
  std::vector<InterleavedTable::Handle> handles;
  for (std::uint64_t i = 0; i < InterleavedTable::kWays + 1; ++i) {
    handles.push_back(
        table.save(client, core::NtpTimestamp{kRx1.raw + i}, core::NtpTimestamp{kTx1.raw + i}));
  }
  EXPECT_FALSE(table.lookup(client, kRx1)) << "the oldest entry must be gone";
  for (std::uint64_t i = 1; i < InterleavedTable::kWays + 1; ++i) {
    EXPECT_TRUE(table.lookup(client, core::NtpTimestamp{kRx1.raw + i})) << i;
  }
  EXPECT_EQ(table.evictions(), 1u);
  // A late kernel timestamp for the evicted exchange must not land on its successor.
  EXPECT_FALSE(table.update_transmit(handles[0], kTx1Kernel));
  for (std::uint64_t i = 1; i < InterleavedTable::kWays + 1; ++i) {
    EXPECT_EQ(table.lookup(client, core::NtpTimestamp{kRx1.raw + i})->raw, kTx1.raw + i);
  }
}

TEST(Interleaved, ManyClientsNeverExceedCapacity) {
  InterleavedTable table(1000);
  const std::size_t capacity = table.capacity();
  EXPECT_GE(capacity, 1000u);
  EXPECT_LT(capacity, 2000u + InterleavedTable::kWays);
  for (std::uint32_t i = 0; i < 100000; ++i) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(0x0A000000 + i);
    table.save(client_key(reinterpret_cast<const sockaddr*>(&a)), core::NtpTimestamp{kRx1.raw + i},
               kTx1);
  }
  EXPECT_EQ(table.capacity(), capacity);
  EXPECT_GE(table.evictions(), 100000u - capacity);
}

}  // namespace
}  // namespace ntsd::timesource
