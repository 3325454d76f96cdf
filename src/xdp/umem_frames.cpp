#include "xdp/umem_frames.h"

namespace ntsd::xdp {

UmemFrames::UmemFrames(std::uint32_t frame_size, std::uint32_t frames, std::uint32_t request_frames)
    : frame_size_(frame_size), frames_(frames), request_frames_(request_frames) {
  requests_.reserve(request_frames_);
  replies_.reserve(frames_ - request_frames_);
  for (std::uint32_t i = 0; i < frames_; ++i) give_back(std::uint64_t{i} * frame_size_);
}

std::optional<std::uint64_t> UmemFrames::take_reply() {
  if (replies_.empty()) return std::nullopt;
  const std::uint64_t address = replies_.back();
  replies_.pop_back();
  return address;
}

std::uint64_t UmemFrames::take_request() {
  const std::uint64_t address = requests_.back();
  requests_.pop_back();
  return address;
}

void UmemFrames::give_back(std::uint64_t address) {
  const std::uint64_t frame = address / frame_size_;
  if (frame < request_frames_) {
    if (requests_.size() < request_frames_) requests_.push_back(frame * frame_size_);
  } else if (frame < frames_) {
    if (replies_.size() < frames_ - request_frames_) replies_.push_back(frame * frame_size_);
  }
}

}  // namespace ntsd::xdp
