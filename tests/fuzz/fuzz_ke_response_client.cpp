// The NTS-KE client side: parse_ke_message() on what a server sent, then
// interpret_ke_response(), as ke_client.cpp does.
//
// Input: the bytes a server sent.
//
// Checked, for two offers ({15, 17} and {16}, so that a server choosing something not
// offered is reachable):
//   - not Complete is Malformed, with nothing filled in;
//   - success means: an algorithm we offered, at least one cookie, every New Cookie
//     record's body (in order, none empty), a valid server name if any;
//   - failure fills in no algorithm, cookies, server or port; only ServerError sets
//     an error code.
#include "core/ke_negotiation.h"
#include "core/ke_record.h"
#include "fuzz_common.h"

namespace {

using namespace ntsd;
using namespace ntsd::fuzz;
using core::KeClientError;
using core::KeMessageStatus;

void interpret(const core::KeMessage& message, std::span<const AeadAlgorithm> offered) {
  const core::KeClientResult result = core::interpret_ke_response(message, offered);
  if (message.status != KeMessageStatus::Complete) {
    FUZZ_CHECK(result.error == KeClientError::Malformed);
    FUZZ_CHECK(result.warnings.empty());
  }
  if (result.error != KeClientError::ServerError) FUZZ_CHECK(result.error_code == 0);
  if (result.error != KeClientError::None) {
    FUZZ_CHECK(!result.aead.has_value());
    FUZZ_CHECK(result.cookies.empty());
    FUZZ_CHECK(!result.ntp_server.has_value());
    FUZZ_CHECK(!result.ntp_port.has_value());
    return;
  }
  FUZZ_CHECK(result.aead.has_value());
  FUZZ_CHECK(std::ranges::find(offered, *result.aead) != offered.end());
  FUZZ_CHECK(!result.cookies.empty());
  std::vector<Bytes> expected;
  for (const core::KeRecord& record : message.records) {
    if (record.type == static_cast<std::uint16_t>(core::KeRecordType::NewCookie)) {
      expected.emplace_back(record.body.begin(), record.body.end());
    }
  }
  FUZZ_CHECK(result.cookies == expected);
  for (const Bytes& cookie : result.cookies) FUZZ_CHECK(!cookie.empty());
  if (result.ntp_server) FUZZ_CHECK(core::is_valid_ke_server_name(*result.ntp_server));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static constexpr std::array<AeadAlgorithm, 2> kOfferedTwo = {AeadAlgorithm::AesSivCmac256,
                                                               AeadAlgorithm::AesSivCmac512};
  static constexpr std::array<AeadAlgorithm, 1> kOffered384 = {AeadAlgorithm::AesSivCmac384};
  const core::KeMessage message = core::parse_ke_message(ByteView(data, size));
  interpret(message, kOfferedTwo);
  interpret(message, kOffered384);
  return 0;
}
