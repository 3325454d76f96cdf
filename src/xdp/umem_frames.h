// The UMEM's frames in two pools by index: request frames (the first ones),
// which the kernel receives into through the fill ring and the worker only
// reads, and reply frames (the rest), which the worker writes and hands to the
// kernel through the TX ring. A frame that comes back (off the RX ring, the
// completion ring, or unused) returns to the pool its index belongs to, so the
// two never mix (xsk_worker.cpp says why). No I/O: addresses in, addresses out.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace ntsd::xdp {

class UmemFrames {
 public:
  // frames frames of frame_size bytes; the first request_frames receive. All free.
  UmemFrames(std::uint32_t frame_size, std::uint32_t frames, std::uint32_t request_frames);

  // A free reply frame's address; nullopt when every one is on the TX ring or
  // in the kernel.
  [[nodiscard]] std::optional<std::uint64_t> take_reply();
  [[nodiscard]] std::size_t free_requests() const { return requests_.size(); }
  // A free request frame's address. Precondition: free_requests() > 0.
  [[nodiscard]] std::uint64_t take_request();
  // Returns the frame that holds `address` (which may point past the frame's
  // start: the kernel hands back addresses with headroom) to its pool. A frame
  // never comes back more often than it left, so a pool that is already full,
  // or an address outside the UMEM, means a kernel or worker bug: ignored.
  void give_back(std::uint64_t address);

 private:
  std::uint32_t frame_size_;
  std::uint32_t frames_;
  std::uint32_t request_frames_;
  std::vector<std::uint64_t> requests_;  // LIFO: the frame returned last is reused first
  std::vector<std::uint64_t> replies_;
};

}  // namespace ntsd::xdp
