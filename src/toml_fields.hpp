#pragma once
// Reading typed fields from toml++ tables with errors that name the file, the table and the
// key. Shared by the ladder presets and the node config.

#include <fmt/format.h>

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <toml++/toml.h>
#include <vector>

#include "kiln/status.hpp"

namespace kiln::toml_fields {

/// Parses TOML text; a syntax error becomes kUsage "origin:line:col: what".
inline Result<toml::table> parse(std::string_view text, std::string_view origin) {
  try {
    return toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    return Status(Code::kUsage, fmt::format("{}:{}:{}: {}", origin, e.source().begin.line,
                                            e.source().begin.column, e.description()));
  }
}

/// Reads a whole file for parse(); kUsage names the path when it cannot.
inline Result<std::string> read_file(const std::string& path, std::string_view what) {
  std::ifstream in(path);
  if (!in) return Status(Code::kUsage, fmt::format("cannot read {} '{}'", what, path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

template <class T>
Status read_number(const toml::table& t, std::string_view key, T* out, std::string_view where) {
  auto node = t[key];
  if (!node) return Status::ok();
  if (auto v = node.value<double>()) {
    *out = static_cast<T>(*v);
    return Status::ok();
  }
  return {Code::kUsage, fmt::format("{}: '{}' must be a number", where, key)};
}

inline Status read_string(const toml::table& t, std::string_view key, std::string* out,
                          std::string_view where) {
  auto node = t[key];
  if (!node) return Status::ok();
  if (auto v = node.value<std::string>()) {
    *out = *v;
    return Status::ok();
  }
  return {Code::kUsage, fmt::format("{}: '{}' must be a string", where, key)};
}

inline Status read_bool(const toml::table& t, std::string_view key, bool* out,
                        std::string_view where) {
  auto node = t[key];
  if (!node) return Status::ok();
  if (auto v = node.value<bool>()) {
    *out = *v;
    return Status::ok();
  }
  return {Code::kUsage, fmt::format("{}: '{}' must be true or false", where, key)};
}

inline Status read_strings(const toml::table& t, std::string_view key,
                           std::vector<std::string>* out, std::string_view where) {
  auto node = t[key];
  if (!node) return Status::ok();
  auto* arr = node.as_array();
  if (!arr) return {Code::kUsage, fmt::format("{}: '{}' must be a list of strings", where, key)};
  out->clear();
  for (const auto& item : *arr) {
    auto v = item.value<std::string>();
    if (!v) return {Code::kUsage, fmt::format("{}: '{}' must be a list of strings", where, key)};
    out->push_back(*v);
  }
  return Status::ok();
}

}  // namespace kiln::toml_fields
