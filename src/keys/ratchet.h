// Cookie master keys over time, sans-I/O: no clock reads, no files, no logging.
//
// Time is cut into epochs of `rotation_seconds` aligned to the Unix epoch:
//   epoch(t) = floor(t / rotation_seconds)
// so every host with a correct clock and the same interval agrees on the epoch
// number without talking to another. The epoch number is the cookie key id.
//
// Keys form a one-way chain (RFC 8915 §6, the suggestion for servers that share
// keys):
//   K(n+1) = HKDF-SHA256(IKM = K(n), salt = be32(n+1), info = kRatchetInfo), 32 bytes
// A host holding K(m) computes K(m+1), K(m+2), ... by itself; nothing here computes
// an earlier key, and HKDF gives no way to. Forgetting K(m) forgets every cookie
// sealed under it and under any earlier key.
//
// The keys in force at epoch c are K(oldest) .. K(c+1), with
//   oldest = max(first key held, c - kept)
// K(c) mints; K(c+1) is accepted so that a host whose clock is slightly behind
// a peer's at an epoch boundary still opens the peer's fresh cookies.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/cookie.h"
#include "core/random.h"

namespace ntsd::keys {

inline constexpr std::size_t kMasterKeyLength = 32;  // AES-SIV-CMAC-256
inline constexpr std::string_view kRatchetInfo = "ntsd cookie key ratchet v1";

inline constexpr std::uint32_t kDefaultRotationSeconds = 86400;
// Cookies stay valid at least this long after issue when keys-kept is not set.
inline constexpr std::uint32_t kDefaultCookieLifetimeSeconds = 86400;
inline constexpr std::uint32_t kMaxRotationSeconds = 366U * 86400U;
inline constexpr std::uint32_t kMaxKeysKept = 1000;

// 32 secret bytes; wiped when destroyed, overwritten or moved from. Not copyable
// by accident: copy() says so.
class MasterKey {
 public:
  MasterKey() = default;
  // nullopt unless bytes.size() == kMasterKeyLength.
  static std::optional<MasterKey> from_bytes(core::ByteView bytes);
  static MasterKey random(core::RandomSource& random);

  MasterKey(const MasterKey&) = delete;
  MasterKey& operator=(const MasterKey&) = delete;
  MasterKey(MasterKey&& other) noexcept;
  MasterKey& operator=(MasterKey&& other) noexcept;
  ~MasterKey();

  [[nodiscard]] MasterKey copy() const;
  [[nodiscard]] core::ByteView bytes() const { return bytes_; }
  friend bool operator==(const MasterKey& a, const MasterKey& b);

 private:
  std::array<std::uint8_t, kMasterKeyLength> bytes_{};
};

// K(next_epoch) from K(next_epoch - 1). The only derivation there is: forward.
MasterKey ratchet_step(const MasterKey& key, std::uint32_t next_epoch);

// One point of the chain: an epoch and its key. Moves only forward; the keys it
// passes over are wiped.
class Ratchet {
 public:
  Ratchet(std::uint32_t epoch, MasterKey key) : epoch_(epoch), key_(std::move(key)) {}

  [[nodiscard]] std::uint32_t epoch() const { return epoch_; }
  [[nodiscard]] const MasterKey& key() const { return key_; }
  [[nodiscard]] Ratchet copy() const { return {epoch_, key_.copy()}; }

  // Moves to `epoch`. False, and nothing changes, when epoch < this->epoch():
  // a ratchet cannot go back.
  bool advance_to(std::uint32_t epoch);

 private:
  std::uint32_t epoch_;
  MasterKey key_;
};

// --- epochs ----------------------------------------------------------------

// floor(unix_seconds / rotation_seconds); nullopt before 1970, for a zero
// interval, or when the epoch or its successor does not fit the 32-bit key id.
std::optional<std::uint32_t> epoch_at(std::int64_t unix_seconds, std::uint32_t rotation_seconds);
// The Unix time at which `epoch` begins.
std::int64_t epoch_start(std::uint32_t epoch, std::uint32_t rotation_seconds);
// The oldest epoch whose key is kept at epoch `current`: current - kept, at least 0.
std::uint32_t oldest_kept_epoch(std::uint32_t current, std::uint32_t kept);
// Keys to keep so that a cookie minted at the very end of an epoch still opens
// kDefaultCookieLifetimeSeconds later: ceil(86400 / rotation_seconds), at least 1.
// A cookie minted in epoch n opens until epoch n + kept ends, i.e. for at least
// kept * rotation_seconds and at most (kept + 1) * rotation_seconds.
std::uint32_t default_keys_kept(std::uint32_t rotation_seconds);
// "2024-05-01T00:00:00Z" for a Unix time (no clock read).
std::string format_utc(std::int64_t unix_seconds);

// --- the keyring for one epoch ----------------------------------------------

// The keys K(first) .. K(current + 1), keyed once and immutable: what NTS-KE and
// the NTP workers read through keys::PublishedKeyring.
class EpochKeyring final : public core::CookieKeyring {
 public:
  [[nodiscard]] const core::CookieKey& current() const override;
  [[nodiscard]] const core::CookieKey* find(core::CookieKeyId id) const override;

  [[nodiscard]] std::uint32_t first_epoch() const { return first_; }
  [[nodiscard]] std::uint32_t current_epoch() const { return current_; }
  [[nodiscard]] std::uint32_t last_epoch() const { return current_ + 1; }

 private:
  friend std::shared_ptr<const EpochKeyring> build_keyring(const Ratchet& oldest,
                                                           std::uint32_t current);
  EpochKeyring(std::uint32_t first, std::uint32_t current, std::vector<core::CookieKey> keys)
      : first_(first), current_(current), keys_(std::move(keys)) {}

  std::uint32_t first_;
  std::uint32_t current_;
  std::vector<core::CookieKey> keys_;  // keys_[i] has id first_ + i
};

// Derives K(oldest.epoch()) .. K(current + 1). Preconditions (programming errors,
// std::invalid_argument): oldest.epoch() <= current < UINT32_MAX, and at most
// kMaxKeysKept + 2 keys.
std::shared_ptr<const EpochKeyring> build_keyring(const Ratchet& oldest, std::uint32_t current);

}  // namespace ntsd::keys
