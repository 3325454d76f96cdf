#include "core/siv_cmac.h"

#include <nettle/aes.h>
#include <nettle/nettle-meta.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "core/aes_key_schedule.h"

namespace ntsd::core {

namespace {

constexpr std::size_t kBlock = kSivBlockLength;
constexpr std::size_t kLanes = kMaxSivStrings + 1;
// Keystream blocks per cipher call in CTR mode.
constexpr std::size_t kCtrBatch = 8;
// The CTR counter adds to the last 32 bits only: S2V's tag has their top bit
// cleared (RFC 5297 §2.5), so no carry leaves them below 2^31 blocks.
constexpr std::size_t kMaxPlaintext = (std::size_t{1} << 31) * kBlock;

static_assert(sizeof(aes256_ctx) <= 240 && sizeof(aes192_ctx) <= 240 && sizeof(aes128_ctx) <= 240);

// One block in a vector register: XOR is one instruction, loads and stores one each.
using Vec = std::uint8_t __attribute__((vector_size(16)));

Vec load(const std::uint8_t* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

void store(std::uint8_t* p, Vec v) { std::memcpy(p, &v, sizeof v); }

// Multiplication by x in GF(2^128), RFC 5297's dbl(); no branch on the value.
Vec dbl(Vec v) {
  std::array<std::uint64_t, 2> words{};
  std::memcpy(words.data(), &v, sizeof v);
  const std::uint64_t high = __builtin_bswap64(words[0]);
  const std::uint64_t low = __builtin_bswap64(words[1]);
  const std::uint64_t carry = high >> 63;
  words[0] = __builtin_bswap64((high << 1) | (low >> 63));
  words[1] = __builtin_bswap64((low << 1) ^ (0x87 & (0 - carry)));
  std::memcpy(&v, words.data(), sizeof v);
  return v;
}

const nettle_cipher* cipher_for(std::size_t key_length) {
  switch (key_length) {
    case 32:
      return &nettle_aes128;
    case 48:
      return &nettle_aes192;
    case 64:
      return &nettle_aes256;
    default:
      return nullptr;
  }
}

// CMAC's blocks for a string: at least one.
std::size_t cmac_block_count(std::size_t length) {
  return length == 0 ? 1 : (length + kBlock - 1) / kBlock;
}

}  // namespace

// Left uninitialised: every byte is written before it is read.
struct SivCmacKey::Scratch {
  std::array<Vec, kLanes> state;
  alignas(16) std::array<std::uint8_t, kLanes * kBlock> batch;
  alignas(16) std::array<std::uint8_t, 3 * kBlock> staging;  // a short block; T's tail
  alignas(16) std::array<std::uint8_t, kCtrBatch * kBlock> stream;
  ~Scratch() { secure_wipe(this, sizeof *this); }
};

SivCmacKey::SivCmacKey(SivCmacKey&& other) noexcept { *this = std::move(other); }

SivCmacKey& SivCmacKey::operator=(SivCmacKey&& other) noexcept {
  if (this != &other) {
    cipher_ = other.cipher_;
    mac_context_ = other.mac_context_;
    ctr_context_ = other.ctr_context_;
    ctr_key_ = other.ctr_key_;
    ctr_ready_ = other.ctr_ready_;
    subkey1_ = other.subkey1_;
    subkey2_ = other.subkey2_;
    zero_mac_ = other.zero_mac_;
    other.clear();
  }
  return *this;
}

SivCmacKey::~SivCmacKey() { clear(); }

void SivCmacKey::clear() noexcept {
  cipher_ = nullptr;
  secure_wipe(mac_context_.data(), mac_context_.size());
  secure_wipe(ctr_context_.data(), ctr_context_.size());
  secure_wipe(ctr_key_.data(), ctr_key_.size());
  ctr_ready_ = false;
  secure_wipe(subkey1_.data(), subkey1_.size());
  secure_wipe(subkey2_.data(), subkey2_.size());
  secure_wipe(zero_mac_.data(), zero_mac_.size());
}

bool SivCmacKey::set_key(ByteView key) {
  const nettle_cipher* cipher = cipher_for(key.size());
  if (cipher == nullptr) {
    clear();
    return false;
  }
  const std::size_t half = key.size() / 2;
  expand_aes_key(cipher, mac_context_.data(), key.data());
  // The CTR key is expanded when a message first has bytes to encrypt: most
  // NTS requests have none, and the NTP path re-keys per client.
  std::copy(key.begin() + static_cast<std::ptrdiff_t>(half), key.end(), ctr_key_.begin());
  ctr_ready_ = false;
  cipher_ = cipher;
  // CMAC's subkeys (RFC 4493 §2.3): L = E(0), K1 = dbl(L), K2 = dbl(K1).
  Vec block{};
  auto* bytes = reinterpret_cast<std::uint8_t*>(&block);
  cipher_->encrypt(mac_context_.data(), kBlock, bytes, bytes);
  block = dbl(block);
  store(subkey1_.data(), block);
  block = dbl(block);
  store(subkey2_.data(), block);
  // S2V's D starts as CMAC(0^128): one complete block, completed with K1.
  block = load(subkey1_.data());
  cipher_->encrypt(mac_context_.data(), kBlock, bytes, bytes);
  store(zero_mac_.data(), block);
  secure_wipe(&block, sizeof block);
  return true;
}

void SivCmacKey::s2v(std::span<const ByteView> strings, ByteView plaintext, Scratch& scratch,
                     std::uint8_t* tag) const {
  const Vec k1 = load(subkey1_.data());
  const Vec k2 = load(subkey2_.data());
  // pad(): the `rest` (0 to 15) bytes at p, then 0x80, then zeros.
  auto padded = [&](const std::uint8_t* p, std::size_t rest) {
    std::uint8_t* staging = scratch.staging.data();
    std::memset(staging, 0, kBlock);
    if (rest > 0) std::memcpy(staging, p, rest);
    staging[rest] = 0x80;
    return load(staging);
  };
  // CMAC's last block of a string whose last `rest` (0 to 16) bytes start at p.
  auto last_block = [&](const std::uint8_t* p, std::size_t rest) {
    return rest == kBlock ? load(p) ^ k1 : padded(p, rest) ^ k2;
  };

  // One CMAC chain per string, and one for the plaintext's leading blocks that
  // xorend leaves alone (all of them but the last 16 to 31 bytes).
  const std::size_t plain_lane = strings.size();
  const std::size_t plain_prefix =
      plaintext.size() >= kBlock ? (plaintext.size() - kBlock) / kBlock : 0;
  std::array<std::size_t, kLanes> counts{};
  std::size_t steps = plain_prefix;
  for (std::size_t lane = 0; lane < strings.size(); ++lane) {
    counts[lane] = cmac_block_count(strings[lane].size());
    steps = std::max(steps, counts[lane]);
  }
  counts[plain_lane] = plain_prefix;
  for (std::size_t lane = 0; lane <= plain_lane; ++lane) scratch.state[lane] = Vec{};

  std::array<std::uint8_t, kLanes> batch_lane{};
  for (std::size_t step = 0; step < steps; ++step) {
    std::size_t taken = 0;
    for (std::size_t lane = 0; lane <= plain_lane; ++lane) {
      if (step >= counts[lane]) continue;
      const std::uint8_t* data = lane == plain_lane ? plaintext.data() : strings[lane].data();
      const std::uint8_t* at = data + step * kBlock;
      Vec block;
      if (lane == plain_lane || step + 1 < counts[lane]) {
        block = load(at);
      } else {
        block = last_block(at, strings[lane].size() - step * kBlock);
      }
      store(scratch.batch.data() + taken * kBlock, scratch.state[lane] ^ block);
      batch_lane[taken++] = static_cast<std::uint8_t>(lane);
    }
    cipher_->encrypt(mac_context_.data(), taken * kBlock, scratch.batch.data(),
                     scratch.batch.data());
    for (std::size_t i = 0; i < taken; ++i) {
      scratch.state[batch_lane[i]] = load(scratch.batch.data() + i * kBlock);
    }
  }

  Vec d = load(zero_mac_.data());
  for (std::size_t lane = 0; lane < strings.size(); ++lane) d = dbl(d) ^ scratch.state[lane];

  // The plaintext's chain goes on over T's remaining bytes.
  Vec mac = scratch.state[plain_lane];
  auto absorb = [&](Vec block) {
    mac = mac ^ block;
    cipher_->encrypt(mac_context_.data(), kBlock, reinterpret_cast<std::uint8_t*>(&mac),
                     reinterpret_cast<const std::uint8_t*>(&mac));
  };
  if (plaintext.size() >= kBlock) {
    // T = plaintext xorend D: the tail is 16 to 31 bytes, D on its last 16.
    std::uint8_t* tail = scratch.staging.data() + kBlock;
    const std::size_t tail_length = plaintext.size() - plain_prefix * kBlock;
    std::memcpy(tail, plaintext.data() + plain_prefix * kBlock, tail_length);
    std::uint8_t* xorend = tail + tail_length - kBlock;
    store(xorend, load(xorend) ^ d);
    if (tail_length > kBlock) {
      absorb(load(tail));
      absorb(last_block(tail + kBlock, tail_length - kBlock));
    } else {
      absorb(load(tail) ^ k1);
    }
  } else {
    // T = dbl(D) xor pad(plaintext): one complete block, completed with K1.
    absorb(padded(plaintext.data(), plaintext.size()) ^ dbl(d) ^ k1);
  }
  store(tag, mac);
}

void SivCmacKey::ctr(const std::uint8_t* tag, const std::uint8_t* in, std::size_t length,
                     std::uint8_t* out, Scratch& scratch) const {
  if (length == 0) return;
  // Q = V with the top bits of its last two 32-bit words cleared (RFC 5297 §2.5).
  std::array<std::uint8_t, kBlock> counter{};
  std::memcpy(counter.data(), tag, kBlock);
  counter[8] &= 0x7f;
  counter[12] &= 0x7f;
  std::uint32_t low = 0;
  std::memcpy(&low, counter.data() + 12, sizeof low);
  low = __builtin_bswap32(low);
  if (!ctr_ready_) {
    expand_aes_key(cipher_, ctr_context_.data(), ctr_key_.data());
    ctr_ready_ = true;
  }
  std::uint8_t* stream = scratch.stream.data();
  for (std::size_t done = 0; done < length;) {
    const std::size_t blocks = std::min(kCtrBatch, (length - done + kBlock - 1) / kBlock);
    for (std::size_t i = 0; i < blocks; ++i, ++low) {
      const std::uint32_t big_endian = __builtin_bswap32(low);
      std::memcpy(counter.data() + 12, &big_endian, sizeof big_endian);
      std::memcpy(stream + i * kBlock, counter.data(), kBlock);
    }
    cipher_->encrypt(ctr_context_.data(), blocks * kBlock, stream, stream);
    const std::size_t n = std::min(length - done, blocks * kBlock);
    std::size_t i = 0;
    for (; i + kBlock <= n; i += kBlock) {
      store(out + done + i, load(in + done + i) ^ load(stream + i));
    }
    for (; i < n; ++i) out[done + i] = in[done + i] ^ stream[i];
    done += n;
  }
}

void SivCmacKey::seal(std::span<const ByteView> strings, ByteView plaintext,
                      std::uint8_t* out) const {
  if (!keyed() || strings.size() > kMaxSivStrings || plaintext.size() > kMaxPlaintext) {
    std::abort();  // a caller bug: every caller passes its own, bounded inputs
  }
  Scratch scratch;
  s2v(strings, plaintext, scratch, out);
  ctr(out, plaintext.data(), plaintext.size(), out + kBlock, scratch);
}

bool SivCmacKey::open(std::span<const ByteView> strings, ByteView sealed, std::uint8_t* out) const {
  if (!keyed() || strings.size() > kMaxSivStrings || sealed.size() < kBlock ||
      sealed.size() - kBlock > kMaxPlaintext) {
    return false;
  }
  const std::size_t length = sealed.size() - kBlock;
  Scratch scratch;
  ctr(sealed.data(), sealed.data() + kBlock, length, out, scratch);
  std::array<std::uint8_t, kBlock> expected{};
  s2v(strings, {out, length}, scratch, expected.data());
  if (!equal_secret(sealed.first(kBlock), expected)) {
    secure_wipe(out, length);  // never hand out unauthenticated plaintext
    return false;
  }
  return true;
}

}  // namespace ntsd::core
