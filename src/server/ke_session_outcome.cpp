#include "server/ke_session_outcome.h"

#include <fmt/format.h>

#include <algorithm>

namespace ntsd::server {

namespace {

// In enum order; the only place the names are written.
constexpr std::array<std::string_view, kKeSessionOutcomeCount> kNames{
    "ok",      "tls_failed",   "no_alpn", "bad_request",  "negotiation_failed", "internal_error",
    "timeout", "closed_early", "evicted", "refused_busy", "rate_limited",
};
static_assert(std::ranges::none_of(kNames, [](std::string_view n) { return n.empty(); }),
              "every KeSessionOutcome needs a name");

}  // namespace

std::string_view ke_session_outcome_name(KeSessionOutcome outcome) {
  const auto i = static_cast<std::size_t>(outcome);
  return i < kNames.size() ? kNames[i] : "unknown";
}

KeSessionCounts operator-(const KeSessionCounts& now, const KeSessionCounts& before) {
  KeSessionCounts out;
  out.accepted = now.accepted - before.accepted;
  for (std::size_t i = 0; i < kKeSessionOutcomeCount; ++i) {
    out.ended[i] = now.ended[i] - before.ended[i];
  }
  return out;
}

std::string describe(const KeSessionCounts& counts) {
  std::string out =
      fmt::format("{} accepted, {} ok", counts.accepted, counts[KeSessionOutcome::Ok]);
  for (std::size_t i = 0; i < kKeSessionOutcomeCount; ++i) {
    const auto outcome = static_cast<KeSessionOutcome>(i);
    if (outcome == KeSessionOutcome::Ok || counts.ended[i] == 0) continue;
    out += fmt::format(", {} {}", counts.ended[i], ke_session_outcome_name(outcome));
  }
  return out;
}

KeSessionCounts KeServerCounters::sessions() const {
  KeSessionCounts out;
  out.accepted = accepted.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < kKeSessionOutcomeCount; ++i) {
    out.ended[i] = ended[i].load(std::memory_order_relaxed);
  }
  return out;
}

}  // namespace ntsd::server
