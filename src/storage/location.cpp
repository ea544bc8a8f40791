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

const std::set<std::string> kS3Keys = {"endpoint", "region",    "path_style", "profile",
                                       "credential", "part_size", "concurrency"};

/// The S3 half of an s3:// `[[location]]`: its URL and keys, checked (credentials are looked up
/// only when a client is made, so a config with S3 locations loads without them).
Result<s3::S3Config> parse_s3_location(const toml::table& t, const std::string& url, const std::string& where) {
  auto c = s3::parse_s3_url(url);
  if (!c) return Status(Code::kUsage, fmt::format("{}: url = {}", where, c.status().message()));
  KILN_RETURN_IF_ERROR(toml_fields::read_string(t, "endpoint", &c->endpoint, where));
  KILN_RETURN_IF_ERROR(toml_fields::read_string(t, "region", &c->region, where));
  KILN_RETURN_IF_ERROR(toml_fields::read_string(t, "profile", &c->credentials.profile, where));
  KILN_RETURN_IF_ERROR(toml_fields::read_string(t, "credential", &c->credentials.systemd_credential, where));
  if (t.contains("path_style")) {
    bool path_style = false;
    KILN_RETURN_IF_ERROR(toml_fields::read_bool(t, "path_style", &path_style, where));
    c->path_style = path_style;
  }
  if (!c->endpoint.empty()) {
    auto e = s3::parse_endpoint(c->endpoint);
    if (!e) return Status(Code::kUsage, fmt::format("{}: {}", where, e.status().message()));
  }
  if (c->credentials.systemd_credential.find('/') != std::string::npos)
    return Status(Code::kUsage, fmt::format("{}: credential = '{}' must be a file name in $CREDENTIALS_DIRECTORY",
                                            where, c->credentials.systemd_credential));
  double part_size = static_cast<double>(c->part_size), concurrency = c->concurrency;
  KILN_RETURN_IF_ERROR(toml_fields::read_number(t, "part_size", &part_size, where));
  KILN_RETURN_IF_ERROR(toml_fields::read_number(t, "concurrency", &concurrency, where));
  if (part_size < static_cast<double>(s3::kMinPartSize) || part_size > static_cast<double>(s3::kMaxPartSize))
    return Status(Code::kUsage, fmt::format("{}: part_size = {} must be {} to {} bytes (S3's limits)", where, part_size,
                                            s3::kMinPartSize, s3::kMaxPartSize));
  if (concurrency < 1 || concurrency > 64)
    return Status(Code::kUsage, fmt::format("{}: concurrency = {} must be 1 to 64", where, concurrency));
  c->part_size = static_cast<uint64_t>(part_size);
  c->concurrency = static_cast<int>(concurrency);
  return c;
}

}  // namespace

const Location* Locations::find(std::string_view name) const {
  for (const auto& l : list_)
    if (l.name == name) return &l;
  return nullptr;
}

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
    if (loc->is_s3())
      return refused(what, ref, fmt::format("location '{}' is object storage ({}); jobs use file locations only for now",
                                            name, loc->url));
    if (rel.empty() || rel[0] == '/')
      return refused(what, ref, "the part after 'LOCATION:' must be a relative path");
    path = fs::path(loc->root) / std::string(rel);
  }
  if (has_dot_dot(path)) return refused(what, ref, "'..' is not allowed in a path");
  fs::path real = resolved(path);
  for (const auto& l : list_)
    if (!l.is_s3() && inside(real, l.root)) return real.string();
  bool escaped = false;  // the path as written was inside, its symlinks lead out
  for (const auto& l : list_)
    if (!l.is_s3() && (inside(path.lexically_normal(), l.root) || inside(path.lexically_normal(), l.url.substr(7))))
      escaped = true;
  return refused(what, ref, escaped ? fmt::format("a symlink on it leads outside every location (to '{}')", real.string())
                                    : "outside every storage location");
}

Result<JobPaths> Locations::resolve_job(std::string_view input, std::string_view output) const {
  auto in = resolve(input, "input");
  if (!in) return in.status();
  auto out = resolve(output, "output");
  if (!out) return out.status();
  for (const auto& l : list_)
    if (!l.is_s3() && fs::path(*out) == fs::path(l.root))
      return refused("output", output, fmt::format("is the root of location '{}'; name a directory inside it", l.name));
  if (*out == *in) return refused("output", output, "is the input itself");
  if (inside(*in, *out)) return refused("output", output, "contains the input (publishing would replace it)");
  return JobPaths{*in, *out};
}

std::optional<Locations::Place> Locations::locate(std::string_view resolved) const {
  std::optional<Place> best;
  size_t best_len = 0;
  auto consider = [&](const Location& l, std::string_view base, std::string_view key) {
    if (base.size() < best_len || (best && base.size() == best_len)) return;
    best = Place{l.name, std::string(key)};
    best_len = base.size();
  };
  for (const auto& l : list_) {
    if (l.is_s3()) {
      std::string base = fmt::format("s3://{}/{}", l.s3->bucket, l.s3->prefix);
      if (resolved.size() > base.size() && resolved.substr(0, base.size()) == base)
        consider(l, base, resolved.substr(base.size()));
      continue;
    }
    const std::string& root = l.root;
    if (resolved.size() > root.size() + 1 && resolved.substr(0, root.size()) == root && resolved[root.size()] == '/')
      consider(l, root, resolved.substr(root.size() + 1));
  }
  return best;
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
    Location l;
    KILN_RETURN_IF_ERROR(toml_fields::read_string(*t, "name", &l.name, where));
    KILN_RETURN_IF_ERROR(toml_fields::read_string(*t, "url", &l.url, where));
    const bool is_s3 = l.url.rfind("s3://", 0) == 0;
    for (const auto& [k, v] : *t) {
      if (k == "name" || k == "url") continue;
      if (!is_s3 && kS3Keys.count(std::string(k.str())))
        return Status(Code::kUsage, fmt::format("{}: '{}' is only for s3:// locations", where, k.str()));
      if (!kS3Keys.count(std::string(k.str())))
        return Status(Code::kUsage, fmt::format("{}: unknown key '{}' (name, url{})", where, k.str(),
                                                is_s3 ? ", endpoint, region, path_style, profile, credential, "
                                                        "part_size, concurrency"
                                                      : ""));
    }
    if (!valid_name(l.name))
      return Status(Code::kUsage, fmt::format("{}: name = '{}' must be 1-64 of a-z, 0-9, '_', '-'", where, l.name));
    if (!names.insert(l.name).second)
      return Status(Code::kUsage, fmt::format("{}: a second location named '{}'", where, l.name));
    if (is_s3) {
      auto c = parse_s3_location(*t, l.url, where);
      if (!c) return c.status();
      l.s3 = std::move(*c);
      list.push_back(std::move(l));
      continue;
    }
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
