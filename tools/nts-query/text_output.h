// nts-query's human-readable output on stdout.
#pragma once

#include "report.h"

namespace nts_query {

void print_report_text(const Report& report);

}  // namespace nts_query
