#include "warnings.h"

#include <fmt/core.h>

#include <cmath>
#include <utility>

namespace nts_query {

using ntsd::client::KeResult;
using ntsd::client::NtpExchangeResult;

namespace {

// One check on the server's answers; reported once, with how many exchanges tripped it.
struct AnswerCheck {
  std::string kind;
  std::string first_message;
  std::size_t hits = 0;
};

enum AnswerCheckIndex : std::size_t { kLeap, kStratum, kDispersion, kReference, kOffset };

}  // namespace

std::vector<Warning> certificate_warnings(const KeResult& ke) {
  std::vector<Warning> out;
  const auto& chain = ke.session.certificates;
  for (std::size_t i = 0; i < chain.size(); ++i) {
    const auto& c = chain[i];
    if (c.not_after.empty() || c.days_left >= kCertificateWarningDays) continue;
    std::string which =
        i == 0 ? "server certificate" : fmt::format("certificate {} in the chain", i + 1);
    std::string when = c.days_left < 0
                           ? fmt::format("expired on {}", c.not_after)
                           : fmt::format("expires on {} ({} days left, warning below {})",
                                         c.not_after, c.days_left, kCertificateWarningDays);
    out.push_back({"certificate_expiry", fmt::format("{} ({}) {}", which, c.subject, when)});
  }
  return out;
}

std::vector<Warning> answer_warnings(const std::vector<NtpExchangeResult>& exchanges) {
  std::vector<AnswerCheck> checks{{"unsynchronised", {}, 0},
                                  {"unsynchronised", {}, 0},
                                  {"unsynchronised", {}, 0},
                                  {"unsynchronised", {}, 0},
                                  {"clock_offset", {}, 0}};
  auto hit = [&](AnswerCheckIndex index, std::string message) {
    if (checks[index].hits++ == 0) checks[index].first_message = std::move(message);
  };
  std::size_t answered = 0;
  for (const auto& e : exchanges) {
    if (!e.ok || !e.sample) continue;
    ++answered;
    const auto& s = *e.sample;
    if (s.leap == ntsd::core::LeapIndicator::Unsynchronized) {
      hit(kLeap, "server is unsynchronised: leap indicator 3");
    }
    if (s.stratum == 0 || s.stratum >= kUnsynchronisedStratum) {
      hit(kStratum, fmt::format("server is unsynchronised: stratum {}", s.stratum));
    }
    if (s.root_dispersion > kMaxRootDispersion) {
      hit(kDispersion, fmt::format("server's root dispersion {:.3f} s exceeds {} s",
                                   s.root_dispersion, kMaxRootDispersion));
    }
    if (s.reference_time.raw == 0) {
      hit(kReference, "server's reference timestamp is zero (never synchronised)");
    } else {
      double age = ntsd::client::ntp_difference(s.reference_time, s.transmit_time);
      if (age > kMaxReferenceAge) {
        hit(kReference,
            fmt::format("server's reference timestamp is {:.0f} s older than its transmit "
                        "timestamp (more than {} s)",
                        age, kMaxReferenceAge));
      }
    }
    if (std::abs(s.offset) > kMaxOffset) {
      hit(kOffset, fmt::format("clock offset {:+.6f} s exceeds {} s: the server's clock or this "
                               "host's is wrong",
                               s.offset, kMaxOffset));
    }
  }
  std::vector<Warning> out;
  for (auto& check : checks) {
    if (check.hits == 0) continue;
    std::string message = std::move(check.first_message);
    if (answered > 1) message += fmt::format(" (in {} of {} answers)", check.hits, answered);
    out.push_back({check.kind, std::move(message)});
  }
  return out;
}

}  // namespace nts_query
