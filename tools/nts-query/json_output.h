// nts-query --json: one JSON object describing the whole query.
#pragma once

#include <string>

#include "report.h"

namespace nts_query {

std::string report_json(const Report& report);

}  // namespace nts_query
