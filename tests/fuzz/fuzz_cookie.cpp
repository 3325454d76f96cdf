// open_cookie() with a fixed keyring (current key id 1, old key id 2).
//
// Input: byte 0 picks the mode.
//   even: the rest is a cookie as a client sent it;
//   odd:  u8 algorithm (% 3), u8 key choice (% 4: 0,1 current, 2 old, 3 unknown id 99),
//         then a mutation program (fuzz_common.h) applied to a cookie we seal.
//
// Checked:
//   - the error is the one the bytes call for: a length that is no cookie length is
//     Malformed, an unknown key id UnknownKey, anything else opens or is BadTag;
//   - a cookie that opens holds the keys we sealed into it, for the algorithm its
//     length names (only our keyring can make one);
//   - a sealed cookie opens exactly when it was sealed with a key in the keyring and
//     left unchanged; changed in any way it does not open.
#include "fuzz_common.h"

namespace {

using namespace ntsd;
using namespace ntsd::fuzz;
using core::CookieError;

// Every algorithm a cookie can carry, AEAD 30 included (72 bytes): a length of one of
// them passes the shape check. (Only 15/16/17 cookies are sealed here.)
std::optional<AeadAlgorithm> algorithm_for_length(std::size_t length) {
  for (AeadAlgorithm a : {AeadAlgorithm::AesSivCmac256, AeadAlgorithm::AesSivCmac384,
                          AeadAlgorithm::AesSivCmac512, AeadAlgorithm::AesGcmSiv128}) {
    if (core::cookie_length(a) == length) return a;
  }
  return std::nullopt;
}

core::OpenedCookie open_and_check(ByteView cookie) {
  const core::OpenedCookie opened = core::open_cookie(keyring(), cookie);
  const auto algorithm = algorithm_for_length(cookie.size());
  if (!algorithm) {
    FUZZ_CHECK(!opened.keys && opened.error == CookieError::Malformed);
    return opened;
  }
  if (keyring().find(core::CookieKeyId{core::load_be32(cookie.data())}) == nullptr) {
    FUZZ_CHECK(!opened.keys && opened.error == CookieError::UnknownKey);
    return opened;
  }
  if (opened.keys) {
    FUZZ_CHECK(same_keys(*opened.keys, session_keys(*algorithm)));
  } else {
    FUZZ_CHECK(opened.error == CookieError::BadTag);
  }
  return opened;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const ByteView input(data, size);
  if (data[0] % 2 == 0) {
    open_and_check(input.subspan(1));
    return 0;
  }

  InputReader in(input.subspan(1));
  const AeadAlgorithm algorithm = aead_from(in.u8());
  const KeyChoice key = key_choice_from(in.u8());
  Bytes cookie = seal_cookie_for(algorithm, key, 21);
  FUZZ_CHECK(cookie.size() == core::cookie_length(algorithm));
  const bool mutated = apply_mutations(cookie, in.rest());
  const core::OpenedCookie opened = open_and_check(cookie);
  FUZZ_CHECK(opened.keys.has_value() == (!mutated && key != KeyChoice::Unknown));
  if (!mutated && key == KeyChoice::Unknown) FUZZ_CHECK(opened.error == CookieError::UnknownKey);
  return 0;
}
