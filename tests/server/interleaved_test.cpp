#include "server/interleaved.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>
#include <vector>

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
  InterleavedTable table(4);
  ASSERT_EQ(table.capacity(), 4u);
  auto client = v4("192.0.2.1");
  std::vector<InterleavedTable::Handle> handles;
  for (std::uint64_t i = 0; i < 5; ++i) {
    handles.push_back(
        table.save(client, core::NtpTimestamp{kRx1.raw + i}, core::NtpTimestamp{kTx1.raw + i}));
  }
  EXPECT_FALSE(table.lookup(client, kRx1)) << "the oldest entry must be gone";
  for (std::uint64_t i = 1; i < 5; ++i) {
    EXPECT_TRUE(table.lookup(client, core::NtpTimestamp{kRx1.raw + i})) << i;
  }
  EXPECT_EQ(table.evictions(), 1u);
  // A late kernel timestamp for the evicted exchange must not land on its successor.
  EXPECT_FALSE(table.update_transmit(handles[0], kTx1Kernel));
  for (std::uint64_t i = 1; i < 5; ++i) {
    EXPECT_EQ(table.lookup(client, core::NtpTimestamp{kRx1.raw + i})->raw, kTx1.raw + i);
  }
}

TEST(Interleaved, CapacityIsRoundedUpToAPowerOfTwo) {
  EXPECT_EQ(InterleavedTable(1000).capacity(), 1024u);
  EXPECT_EQ(InterleavedTable(1024).capacity(), 1024u);
  EXPECT_EQ(InterleavedTable(0).capacity(), 1u);
}

TEST(Interleaved, ManyClientsNeverExceedCapacity) {
  InterleavedTable table(1000);
  const std::size_t capacity = table.capacity();
  std::vector<ClientKey> clients;
  for (std::uint32_t i = 0; i < 100000; ++i) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(0x0A000000 + i);
    clients.push_back(client_key(reinterpret_cast<const sockaddr*>(&a)));
    table.save(clients.back(), core::NtpTimestamp{kRx1.raw + 16 * std::uint64_t{i}},
               core::NtpTimestamp{kTx1.raw + i});
  }
  EXPECT_EQ(table.capacity(), capacity);
  EXPECT_EQ(table.evictions(), 100000u - capacity);
  // Exactly the newest `capacity` exchanges are found, each for its own client only.
  for (std::uint32_t i = 0; i < 100000; ++i) {
    const core::NtpTimestamp rx{kRx1.raw + 16 * std::uint64_t{i}};
    const auto found = table.lookup(clients[i], rx);
    if (i < 100000 - capacity) {
      EXPECT_FALSE(found) << i;
    } else {
      ASSERT_TRUE(found) << i;
      EXPECT_EQ(found->raw, kTx1.raw + i);
      EXPECT_FALSE(table.lookup(clients[i - 1], rx)) << i;
      EXPECT_FALSE(table.lookup(clients[i], core::NtpTimestamp{rx.raw + 1})) << i;
    }
  }
}

// A socket's packets may be stamped on several CPUs and arrive slightly out of
// order: those exchanges are found as well, up to kReorderReach entries away
// from their place in time order.
TEST(Interleaved, ReorderedExchangesAreFound) {
  InterleavedTable table(256);
  auto client = v4("192.0.2.1");
  auto rx = [](std::uint64_t i) { return core::NtpTimestamp{kRx1.raw + 1000 * i}; };
  // Saved in time order but for pairs swapped, and one exchange kReorderReach late.
  std::vector<std::uint64_t> order;
  for (std::uint64_t i = 0; i < 200; i += 2) {
    order.push_back(i + 1);
    order.push_back(i);
  }
  const std::uint64_t late = 100;
  order.erase(std::find(order.begin(), order.end(), late));
  order.insert(std::find(order.begin(), order.end(), late + 1) + InterleavedTable::kReorderReach,
               late);
  for (std::uint64_t i : order) table.save(client, rx(i), core::NtpTimestamp{kTx1.raw + i});
  for (std::uint64_t i = 0; i < 200; ++i) {
    const auto found = table.lookup(client, rx(i));
    ASSERT_TRUE(found) << i;
    EXPECT_EQ(found->raw, kTx1.raw + i);
  }
}

TEST(Interleaved, AClockSteppedBackForgetsTheExchangesBefore) {
  InterleavedTable table(64);
  auto client = v4("192.0.2.1");
  const auto before = table.save(client, kRx2, kTx1);
  // Half a second back is a reordering, not a step: both are kept.
  const core::NtpTimestamp half_back{kRx2.raw - (std::uint64_t{1} << 31)};
  table.save(client, half_back, kTx1);
  EXPECT_TRUE(table.lookup(client, kRx2));
  EXPECT_TRUE(table.lookup(client, half_back));
  // A second and more: the clock was stepped back.
  const core::NtpTimestamp stepped{kRx2.raw - (std::uint64_t{3} << 32)};
  const auto after = table.save(client, stepped, kTx1Kernel);
  EXPECT_FALSE(table.lookup(client, kRx2));
  EXPECT_FALSE(table.lookup(client, half_back));
  EXPECT_FALSE(table.update_transmit(before, kTx1Kernel));
  EXPECT_EQ(table.lookup(client, stepped), std::optional<core::NtpTimestamp>(kTx1Kernel));
  EXPECT_TRUE(table.update_transmit(after, kTx1));
  EXPECT_EQ(table.evictions(), 0u);
  // The unique receive timestamp only looks among the exchanges kept.
  EXPECT_EQ(table.unique_receive(client, kRx2), kRx2);
}

}  // namespace
}  // namespace ntsd::timesource
