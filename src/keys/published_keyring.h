// The cookie keys in force, shared by the NTS-KE server and the NTP workers.
//
// Rotation publishes a new immutable keyring; readers keep the one they hold
// until they look again, so a worker never waits on a lock and never sees a
// half-rotated set. Readers check a generation counter (one acquire load) per
// batch and take the new keyring only when it changed.
#pragma once

#include "common/published.h"
#include "core/cookie.h"

namespace ntsd::keys {

using PublishedKeyring = Published<core::CookieKeyring>;
using KeyringReader = PublishedReader<core::CookieKeyring>;

}  // namespace ntsd::keys
