// nts-query's command line.
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "client/ke_client.h"
#include "client/ntp_client.h"
#include "core/aead.h"

namespace nts_query {

struct Options {
  ntsd::client::KeClientOptions ke;
  ntsd::client::NtpClientOptions ntp;
  int count = 1;
  double interval = 1.0;  // seconds between exchanges
  bool json = false;
  bool fail_on_warning = false;
};

// Options, or the exit status to return at once (--help, --version, a usage error).
std::variant<Options, int> parse_options(int argc, char** argv);

std::chrono::milliseconds to_ms(double seconds);

}  // namespace nts_query
