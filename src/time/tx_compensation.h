// Transmit-timestamp compensation for basic-mode answers: the running median of
// the transmit gap (time/tx_gap.h: the kernel's transmit timestamp minus the
// clock read written into the response) is added to the clock read, so the
// written transmit timestamp lands nearer to the moment the packet leaves.
//
// Sans-I/O: gaps in, an offset out. One per NtpExchange, written by its thread
// only; fed on the sampled answers that get a kernel timestamp (1 in 16), so an
// update sorts a copy of a small window and the hot path reads one integer.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace ntsd::timesource {

class TxCompensation {
 public:
  // Gaps remembered for the median: enough to ride out a few outliers, few
  // enough that a change of load shows within a few hundred answers.
  static constexpr std::size_t kWindow = 15;
  // The most ever added. Here the gap is 2–10 µs; a median above this says the
  // machine is overloaded and the gap is queueing that differs from packet to
  // packet, which no constant removes. The bound also caps the harm of a wrong
  // estimate (a clock step, a misattributed timestamp) well below the
  // asymmetry a LAN path already has.
  static constexpr std::int64_t kMaxNs = 50'000;

  explicit TxCompensation(bool enabled = true) : enabled_(enabled) {}

  // One uncompensated gap (kernel transmit timestamp minus the clock read) in
  // nanoseconds. Negative gaps (the clock was stepped between) are ignored.
  void add_gap(std::int64_t gap_ns);

  [[nodiscard]] bool enabled() const { return enabled_; }
  // What to add to the clock read now: 0 when off or before the first gap.
  [[nodiscard]] std::int64_t nanoseconds() const { return offset_ns_; }
  // The same in NTP timestamp units (2^-32 s).
  [[nodiscard]] std::uint64_t ntp_units() const { return offset_ntp_; }

 private:
  bool enabled_;
  std::array<std::int32_t, kWindow> window_{};
  std::size_t next_ = 0;
  std::size_t filled_ = 0;
  std::int64_t offset_ns_ = 0;
  std::uint64_t offset_ntp_ = 0;
};

}  // namespace ntsd::timesource
