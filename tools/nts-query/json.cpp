#include "json.h"

#include <fmt/core.h>

namespace nts_query {

std::string json_seconds(double value) { return fmt::format("{:.9f}", value); }

std::string json_array(const std::vector<std::string>& items_json) {
  std::string out = "[";
  for (std::size_t i = 0; i < items_json.size(); ++i) {
    if (i > 0) out += ',';
    out += items_json[i];
  }
  return out + "]";
}

std::string json_strings(const std::vector<std::string>& values) {
  std::vector<std::string> items;
  items.reserve(values.size());
  for (const auto& value : values) items.push_back(json_string(value));
  return json_array(items);
}

}  // namespace nts_query
