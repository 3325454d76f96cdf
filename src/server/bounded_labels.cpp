#include "server/bounded_labels.h"

#include <algorithm>

namespace ntsd::server {

BoundedLabelCounter::BoundedLabelCounter(std::size_t slots) : slots_(slots) {
  counts_.reserve(slots);
}

void BoundedLabelCounter::add(std::string_view value, std::uint64_t n) {
  value = value.substr(0, kMaxValueLength);
  const std::lock_guard lock(mutex_);
  if (value == kOtherLabel) {
    other_ += n;
    return;
  }
  const auto found = std::find_if(counts_.begin(), counts_.end(),
                                  [value](const auto& slot) { return slot.first == value; });
  if (found != counts_.end()) {
    found->second += n;
  } else if (counts_.size() < slots_) {
    counts_.emplace_back(std::string(value), n);
  } else {
    other_ += n;
  }
}

LabelCounts BoundedLabelCounter::snapshot() const {
  const std::lock_guard lock(mutex_);
  LabelCounts out = counts_;
  out.emplace_back(std::string(kOtherLabel), other_);
  return out;
}

}  // namespace ntsd::server
