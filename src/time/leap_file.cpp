#include "time/leap_file.h"

#include <charconv>
#include <ctime>
#include <fstream>
#include <sstream>

namespace ntsd::timesource {

namespace {

constexpr std::uint64_t kDay = 86400;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

template <typename T>
bool parse_number(std::string_view& s, T& out) {
  s = trim(s);
  const auto* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, out);
  if (ec != std::errc{} || ptr == s.data()) return false;
  s.remove_prefix(static_cast<std::size_t>(ptr - s.data()));
  return true;
}

[[noreturn]] void fail(std::size_t line, const std::string& what) {
  throw LeapFileError("line " + std::to_string(line) + ": " + what);
}

}  // namespace

core::LeapIndicator LeapTable::indicator_at(std::uint64_t ntp_seconds) const {
  if (expired(ntp_seconds)) return core::LeapIndicator::NoWarning;
  auto next = next_after(ntp_seconds);
  if (!next || next->ntp_seconds - ntp_seconds > kDay) return core::LeapIndicator::NoWarning;
  // The offset before the event is that of the entry preceding it.
  int before = next->tai_offset;
  for (const auto& entry : entries) {
    if (entry.ntp_seconds >= next->ntp_seconds) break;
    before = entry.tai_offset;
  }
  if (next->tai_offset > before) return core::LeapIndicator::InsertSecond;
  if (next->tai_offset < before) return core::LeapIndicator::DeleteSecond;
  return core::LeapIndicator::NoWarning;
}

std::optional<LeapEntry> LeapTable::next_after(std::uint64_t ntp_seconds) const {
  for (std::size_t i = 1; i < entries.size(); ++i) {
    if (entries[i].ntp_seconds > ntp_seconds) return entries[i];
  }
  return std::nullopt;
}

LeapTable parse_leap_seconds_list(std::string_view text) {
  LeapTable table;
  bool have_expiry = false;
  std::size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    auto newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    line = trim(line);
    if (line.empty()) continue;
    if (line.front() == '#') {
      if (line.size() >= 2 && (line[1] == '@' || line[1] == '$')) {
        std::string_view rest = line.substr(2);
        std::uint64_t value = 0;
        if (!parse_number(rest, value) || !trim(rest).empty()) {
          fail(line_number, std::string("malformed '#") + line[1] + "' line");
        }
        if (line[1] == '@') {
          table.expires = value;
          have_expiry = true;
        } else {
          table.updated = value;
        }
      }
      continue;  // other comments, including the "#h" hash line
    }
    auto hash = line.find('#');
    std::string_view data = line.substr(0, hash);
    LeapEntry entry;
    if (!parse_number(data, entry.ntp_seconds) || !parse_number(data, entry.tai_offset) ||
        !trim(data).empty()) {
      fail(line_number, "expected '<NTP seconds> <TAI-UTC>'");
    }
    if (!table.entries.empty()) {
      const auto& last = table.entries.back();
      if (entry.ntp_seconds <= last.ntp_seconds) fail(line_number, "entries must ascend");
      if (entry.tai_offset - last.tai_offset != 1 && entry.tai_offset - last.tai_offset != -1) {
        fail(line_number, "offset changes by other than one second");
      }
    }
    table.entries.push_back(entry);
  }
  if (!have_expiry) throw LeapFileError("no expiry ('#@') line");
  if (table.entries.empty()) throw LeapFileError("no leap second entries");
  return table;
}

LeapTable load_leap_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw LeapFileError(path + ": cannot read");
  std::ostringstream content;
  content << in.rdbuf();
  try {
    return parse_leap_seconds_list(content.str());
  } catch (const LeapFileError& e) {
    throw LeapFileError(path + ": " + e.what());
  }
}

std::string format_ntp_date(std::uint64_t ntp_seconds) {
  const auto unix_seconds = static_cast<std::time_t>(ntp_seconds - core::kNtpUnixOffset);
  std::tm tm{};
  gmtime_r(&unix_seconds, &tm);
  char buffer[32];
  (void)std::strftime(buffer, sizeof buffer, "%Y-%m-%d", &tm);
  return buffer;
}

}  // namespace ntsd::timesource
