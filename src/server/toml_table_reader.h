// Reading ntsd's TOML file one table at a time, with errors that name the
// setting ("nts-ke.threads: must be an integer (line 4)").
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "server/config_error.h"

namespace ntsd::server {

// Reads one TOML table, refusing keys it does not know so that a typo is an
// error rather than a silently ignored setting.
class TableReader {
 public:
  TableReader(const toml::table& root, std::string name) : name_(std::move(name)) {
    const auto* node = root.get(name_);
    if (node == nullptr) return;
    table_ = node->as_table();
    if (table_ == nullptr) throw ConfigError(name_, "must be a table");
  }
  // One element of an array of tables, named like "tls.certificates[1]".
  TableReader(const toml::table* table, std::string name) : name_(std::move(name)), table_(table) {}

  ~TableReader() = default;
  TableReader(const TableReader&) = delete;
  TableReader& operator=(const TableReader&) = delete;

  void check_no_unknown_keys() const {
    if (table_ == nullptr) return;
    for (const auto& [key, value] : *table_) {
      if (!known_.contains(std::string(key.str()))) {
        throw ConfigError(setting(std::string(key.str())), "unknown setting" + where(value));
      }
    }
  }

  [[nodiscard]] bool has(const std::string& key) const {
    return table_ != nullptr && table_->contains(key);
  }

  std::optional<std::string> string(const std::string& key) {
    const auto* node = find(key);
    if (node == nullptr) return std::nullopt;
    auto value = node->value<std::string>();
    if (!node->is_string() || !value)
      throw ConfigError(setting(key), "must be a string" + where(*node));
    return *value;
  }

  std::optional<std::int64_t> integer(const std::string& key) {
    const auto* node = find(key);
    if (node == nullptr) return std::nullopt;
    if (!node->is_integer()) throw ConfigError(setting(key), "must be an integer" + where(*node));
    return node->value<std::int64_t>();
  }

  std::optional<bool> boolean(const std::string& key) {
    const auto* node = find(key);
    if (node == nullptr) return std::nullopt;
    if (!node->is_boolean())
      throw ConfigError(setting(key), "must be true or false" + where(*node));
    return node->value<bool>();
  }

  std::optional<std::vector<std::string>> strings(const std::string& key) {
    const auto* node = find(key);
    if (node == nullptr) return std::nullopt;
    const auto* array = node->as_array();
    if (array == nullptr)
      throw ConfigError(setting(key), "must be an array of strings" + where(*node));
    std::vector<std::string> out;
    for (const auto& element : *array) {
      auto value = element.value<std::string>();
      if (!element.is_string() || !value) {
        throw ConfigError(setting(key), "must be an array of strings" + where(element));
      }
      out.push_back(*value);
    }
    return out;
  }

  // An array of tables ([[name.key]]); each element is read by its own TableReader.
  std::vector<const toml::table*> tables(const std::string& key) {
    const auto* node = find(key);
    if (node == nullptr) return {};
    const auto* array = node->as_array();
    if (array == nullptr)
      throw ConfigError(setting(key), "must be an array of tables" + where(*node));
    std::vector<const toml::table*> out;
    for (const auto& element : *array) {
      if (!element.is_table())
        throw ConfigError(setting(key), "must be an array of tables" + where(element));
      out.push_back(element.as_table());
    }
    return out;
  }

  [[nodiscard]] std::string setting(const std::string& key) const { return name_ + "." + key; }

 private:
  const toml::node* find(const std::string& key) {
    known_.insert(key);
    return table_ == nullptr ? nullptr : table_->get(key);
  }
  static std::string where(const toml::node& node) {
    const auto& source = node.source();
    if (!source.begin) return "";
    return " (line " + std::to_string(source.begin.line) + ")";
  }

  std::string name_;
  const toml::table* table_ = nullptr;
  std::set<std::string> known_;
};

}  // namespace ntsd::server
