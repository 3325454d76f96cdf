// A small JSON writer for nts-query's --json output: objects whose keys keep
// their insertion order (strings are escaped by common/json_string.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_string.h"

namespace nts_query {

using ntsd::common::json_string;

// Builds one JSON object, keys in insertion order.
class JsonObject {
 public:
  JsonObject& raw(std::string_view key, std::string_view json) {
    if (!body_.empty()) body_ += ',';
    body_ += json_string(key);
    body_ += ':';
    body_ += json;
    return *this;
  }
  JsonObject& string(std::string_view key, std::string_view value) {
    return raw(key, json_string(value));
  }
  JsonObject& optional_string(std::string_view key, const std::optional<std::string>& value) {
    return raw(key, value ? json_string(*value) : "null");
  }
  JsonObject& integer(std::string_view key, std::int64_t value) {
    return raw(key, std::to_string(value));
  }
  JsonObject& boolean(std::string_view key, bool value) {
    return raw(key, value ? "true" : "false");
  }
  [[nodiscard]] std::string str() const { return "{" + body_ + "}"; }

 private:
  std::string body_;
};

std::string json_seconds(double value);
std::string json_array(const std::vector<std::string>& items_json);
std::string json_strings(const std::vector<std::string>& values);

}  // namespace nts_query
