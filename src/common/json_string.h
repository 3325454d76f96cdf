// JSON string literals for the text ntsd and its tools write as JSON (the
// census log, nts-query --json). Text from the network is not trusted to be
// UTF-8: valid sequences pass through, each invalid byte becomes U+FFFD, and
// control characters, DEL, quotes and backslashes are escaped, so one record
// always stays one valid JSON line.
#pragma once

#include <string>
#include <string_view>

namespace ntsd::common {

// Appends `text` to `out` as a quoted JSON string.
void append_json_string(std::string& out, std::string_view text);

// `text` as a quoted JSON string.
std::string json_string(std::string_view text);

}  // namespace ntsd::common
