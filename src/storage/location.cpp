#include "storage/location.hpp"

#include <fmt/format.h>

#include <cctype>
#include <filesystem>
#include <set>

#include "toml_fields.hpp"

namespace kiln::storage {
namespace fs = std::filesystem;
namespace {

constexpr size_t kMaxPathBytes = 4096;

Status refused(std::string_view what, std::string_view ref, std::string_view why) {
  return Status(Code::kPathNotAllowed, fmt::format("{} '{}': {}", what, ref, why));
}

/// file:// URLs carry %XX escapes (a space is %20); nothing else is decoded.
Result<std::string> percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
    if (i + 2 >= s.size() || !hex(s[i + 1]) || !hex(s[i + 2]))
      return Status(Code::kPathNotAllowed, "a '%' not followed by two hex digits");
    out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
    i += 2;
  }
  return out;
}

/// The existing part resolved (symlinks followed), the rest appended as written.
fs::path resolved(const fs::path& p) {
  std::error_code ec;
  fs::path r = fs::weakly_canonical(p, ec);
  return ec ? p.lexically_normal() : r;
}

bool inside(const fs::path& path, const fs::path& root) {
  auto p = path.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++p) {
    if (r->empty()) continue;  // a trailing separator
    if (p == path.end() || *p != *r) return false;
  }
  return true;
}

bool has_dot_dot(const fs::path& p) {
  for (const auto& part : p)
    if (part == "..") return true;
  return false;
}

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) ||
          c == '_' || c == '-'))
      return false;
  return true;
}

}  // namespace

Result<std::string> Locations::resolve(std::string_view ref, std::string_view what) const {
  if (ref.empty()) return refused(what, ref, "empty");
  if (ref.size() > kMaxPathBytes) return Status(Code::kPathNotAllowed, fmt::format("{} is longer than {} bytes", what, kMaxPathBytes));
  if (ref.find('\0') != std::string_view::npos) return refused(what, "...", "contains a NUL byte");
  if (list_.empty())
    return refused(what, ref, "no storage locations are configured ([[location]] in the config)");
  fs::path path;
  if (ref.rfind("file://", 0) == 0) {
    std::string_view rest = ref.substr(7);
    if (rest.empty() || rest[0] != '/')
      return refused(what, ref, "a file URL must be file:///absolute/path (no host)");
    auto decoded = percent_decode(rest);
    if (!decoded) return refused(what, ref, decoded.status().message());
    path = *decoded;
  } else if (ref[0] == '/') {
    path = std::string(ref);
  } else {
    size_t colon = ref.find(':');
    if (colon == std::string_view::npos)
      return refused(what, ref, "not file:///path, /absolute/path or LOCATION:relative/path");
    std::string name(ref.substr(0, colon));
    std::string_view rel = ref.substr(colon + 1);
    const Location* loc = nullptr;
    for (const auto& l : list_)
      if (l.name == name) loc = &l;
    if (!loc) {
      if (name == "s3" || name == "http" || name == "https" || name.find('/') != std::string::npos)
        return refused(what, ref, "only file locations are supported");
      return refused(what, ref, fmt::format("no location named '{}'", name));
    }
    if (rel.empty() || rel[0] == '/')
      return refused(what, ref, "the part after 'LOCATION:' must be a relative path");
    path = fs::path(loc->root) / std::string(rel);
  }
  if (has_dot_dot(path)) return refused(what, ref, "'..' is not allowed in a path");
  fs::path real = resolved(path);
  for (const auto& l : list_)
    if (inside(real, l.root)) return real.string();
  bool escaped = false;  // the path as written was inside, its symlinks lead out
  for (const auto& l : list_)
    if (inside(path.lexically_normal(), l.root) || inside(path.lexically_normal(), l.url.substr(7))) escaped = true;
  return refused(what, ref, escaped ? fmt::format("a symlink on it leads outside every location (to '{}')", real.string())
                                    : "outside every storage location");
}

Result<JobPaths> Locations::resolve_job(std::string_view input, std::string_view output) const {
  auto in = resolve(input, "input");
  if (!in) return in.status();
  auto out = resolve(output, "output");
  if (!out) return out.status();
  for (const auto& l : list_)
    if (fs::path(*out) == fs::path(l.root))
      return refused("output", output, fmt::format("is the root of location '{}'; name a directory inside it", l.name));
  if (*out == *in) return refused("output", output, "is the input itself");
  if (inside(*in, *out)) return refused("output", output, "contains the input (publishing would replace it)");
  return JobPaths{*in, *out};
}

Result<Locations> parse_locations(const toml::table& root, std::string_view origin) {
  std::vector<Location> list;
  const toml::node* node = root.get("location");
  if (!node) return Locations();
  const auto* arr = node->as_array();
  if (!arr) return Status(Code::kUsage, fmt::format("{}: location must be an array of tables ([[location]])", origin));
  std::set<std::string> names;
  for (size_t i = 0; i < arr->size(); ++i) {
    std::string where = fmt::format("{}: [[location]] #{}", origin, i + 1);
    const auto* t = (*arr)[i].as_table();
    if (!t) return Status(Code::kUsage, fmt::format("{} is not a table", where));
    for (const auto& [k, v] : *t)
      if (k != "name" && k != "url")
        return Status(Code::kUsage, fmt::format("{}: unknown key '{}' (name, url)", where, k.str()));
    Location l;
    KILN_RETURN_IF_ERROR(toml_fields::read_string(*t, "name", &l.name, where));
    KILN_RETURN_IF_ERROR(toml_fields::read_string(*t, "url", &l.url, where));
    if (!valid_name(l.name))
      return Status(Code::kUsage, fmt::format("{}: name = '{}' must be 1-64 of a-z, 0-9, '_', '-'", where, l.name));
    if (!names.insert(l.name).second)
      return Status(Code::kUsage, fmt::format("{}: a second location named '{}'", where, l.name));
    if (l.url.rfind("s3://", 0) == 0)
      return Status(Code::kUsage, fmt::format("{}: url = '{}': object-storage locations are not supported yet", where, l.url));
    if (l.url.rfind("file:///", 0) != 0)
      return Status(Code::kUsage, fmt::format("{}: url = '{}' must be file:///absolute/directory", where, l.url));
    auto decoded = percent_decode(std::string_view(l.url).substr(7));
    if (!decoded) return Status(Code::kUsage, fmt::format("{}: url = '{}': {}", where, l.url, decoded.status().message()));
    fs::path dir(*decoded);
    if (has_dot_dot(dir)) return Status(Code::kUsage, fmt::format("{}: url = '{}' has a '..'", where, l.url));
    if (dir.lexically_normal() == "/")
      return Status(Code::kUsage, fmt::format("{}: url = '{}' is the whole filesystem", where, l.url));
    l.root = resolved(dir).string();
    while (l.root.size() > 1 && l.root.back() == '/') l.root.pop_back();
    list.push_back(std::move(l));
  }
  return Locations(std::move(list));
}

}  // namespace kiln::storage
