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

const std::set<std::string> kS3Keys = {"endpoint",  "region",      "path_style",      "profile",     "credential",
                                       "part_size", "concurrency", "presign_seconds", "stream_input"};
constexpr size_t kMaxKeyBytes = 1024;             // S3's limit on a key
constexpr int kMaxPresignSeconds = 7 * 24 * 3600;  // SigV4's limit on a presigned URL

/// A location's prefix as a folder: "" (the whole bucket) or "p/q" (no trailing '/').
std::string folder(const s3::S3Config& c) {
  std::string p = c.prefix;
  while (!p.empty() && p.back() == '/') p.pop_back();
  return p;
}

/// `key` is `dir` itself or lies under `dir/` ("" holds every key).
bool key_inside(std::string_view key, std::string_view dir) {
  if (dir.empty()) return true;
  return key.rfind(dir, 0) == 0 && (key.size() == dir.size() || key[dir.size()] == '/');
}

/// Why `rel` (a key, or the part of one after a location's prefix) cannot name an object or a
/// folder, or "" when it can: every component non-empty, no "." or "..", no control characters.
/// One trailing '/' is allowed (a folder), and removed by the caller.
std::string bad_key(std::string_view rel) {
  if (rel.empty()) return "names no key (a bucket or a location's root is not an object)";
  if (rel.front() == '/') return "the key must not start with '/'";
  for (char c : rel)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return "the key holds a control character";
  std::string_view body = rel.back() == '/' ? rel.substr(0, rel.size() - 1) : rel;
  size_t start = 0;
  while (start <= body.size()) {
    size_t end = body.find('/', start);
    if (end == std::string_view::npos) end = body.size();
    std::string_view part = body.substr(start, end - start);
    if (part.empty()) return "an empty component ('//') is not allowed in a key";
    if (part == "..") return "'..' is not allowed in a path";
    if (part == ".") return "a '.' component is not allowed in a key";
    start = end + 1;
  }
  return "";
}

std::string without_trailing_slash(std::string_view key) {
  while (!key.empty() && key.back() == '/') key.remove_suffix(1);
  return std::string(key);
}

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

/// `presign_seconds`: how long the presigned URLs in a job's result stay valid (0: none).
Result<int> parse_presign_seconds(const toml::table& t, const std::string& where) {
  double seconds = 0;
  KILN_RETURN_IF_ERROR(toml_fields::read_number(t, "presign_seconds", &seconds, where));
  if (seconds < 0 || seconds > kMaxPresignSeconds || seconds != static_cast<int>(seconds))
    return Status(Code::kUsage, fmt::format("{}: presign_seconds = {} must be a whole number of seconds, 0 (none) "
                                            "to {} (7 days, SigV4's limit)",
                                            where, seconds, kMaxPresignSeconds));
  return static_cast<int>(seconds);
}

}  // namespace

const char* stream_input_name(Location::StreamInput mode) {
  switch (mode) {
    case Location::StreamInput::kAuto: return "auto";
    case Location::StreamInput::kAlways: return "always";
    case Location::StreamInput::kNever: break;
  }
  return "never";
}

Result<Location::StreamInput> parse_stream_input(const std::string& name, const std::string& where) {
  for (auto mode : {Location::StreamInput::kNever, Location::StreamInput::kAuto, Location::StreamInput::kAlways})
    if (name == stream_input_name(mode)) return mode;
  return Status(Code::kUsage, fmt::format("{}: stream_input = '{}' must be \"never\" (stage every input in scratch), "
                                          "\"auto\" (stream an input the scratch directory has no room for) or "
                                          "\"always\" (stream every input through a presigned URL)",
                                          where, name));
}

const Location* Locations::find(std::string_view name) const {
  for (const auto& l : list_)
    if (l.name == name) return &l;
  return nullptr;
}

Result<S3Object> Locations::s3_object(std::string_view url) const {
  if (!is_s3_url(url)) return refused("path", url, "not an s3:// URL");
  std::string_view rest = url.substr(5);
  size_t slash = rest.find('/');
  std::string_view bucket = rest.substr(0, slash);
  std::string_view key = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  S3Object best;
  size_t best_len = 0;
  for (const auto& l : list_) {
    if (!l.is_s3() || l.s3->bucket != bucket) continue;
    std::string dir = folder(*l.s3);
    if (!key_inside(key, dir) || (best.location && dir.size() < best_len)) continue;
    best = S3Object{&l, std::string(key)};
    best_len = dir.size();
  }
  if (!best.location) return refused("path", url, "outside every storage location");
  return best;
}

Result<std::string> Locations::resolve_s3(std::string_view ref, std::string_view what) const {
  std::string_view rest = ref.substr(5);
  size_t slash = rest.find('/');
  if (slash == 0 || rest.empty()) return refused(what, ref, "an s3 URL must be s3://BUCKET/KEY");
  if (slash == std::string_view::npos) return refused(what, ref, "names a bucket, not an object or a folder in it");
  std::string_view key = rest.substr(slash + 1);
  if (std::string why = bad_key(key); !why.empty()) return refused(what, ref, why);
  std::string canonical = fmt::format("s3://{}/{}", rest.substr(0, slash), without_trailing_slash(key));
  auto found = s3_object(canonical);
  if (!found) return refused(what, ref, "outside every storage location");
  if (found->key.size() > kMaxKeyBytes)
    return refused(what, ref, fmt::format("the key is longer than {} bytes (S3's limit)", kMaxKeyBytes));
  return canonical;
}

Result<std::string> Locations::resolve(std::string_view ref, std::string_view what) const {
  if (ref.empty()) return refused(what, ref, "empty");
  if (ref.size() > kMaxPathBytes) return Status(Code::kPathNotAllowed, fmt::format("{} is longer than {} bytes", what, kMaxPathBytes));
  if (ref.find('\0') != std::string_view::npos) return refused(what, "...", "contains a NUL byte");
  if (list_.empty())
    return refused(what, ref, "no storage locations are configured ([[location]] in the config)");
  if (is_s3_url(ref)) return resolve_s3(ref, what);
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
      return refused(what, ref, "not file:///path, /absolute/path, s3://BUCKET/KEY or LOCATION:relative/path");
    std::string name(ref.substr(0, colon));
    std::string_view rel = ref.substr(colon + 1);
    const Location* loc = find(name);
    if (!loc) {
      if (name == "http" || name == "https" || name.find('/') != std::string::npos)
        return refused(what, ref, "only file:// and s3:// locations are supported");
      return refused(what, ref, fmt::format("no location named '{}'", name));
    }
    if (loc->is_s3()) {
      if (rel.empty() || rel[0] == '/')
        return refused(what, ref, "the part after 'LOCATION:' must be a relative key");
      if (std::string why = bad_key(rel); !why.empty()) return refused(what, ref, why);
      return resolve_s3(fmt::format("s3://{}/{}", loc->s3->bucket, loc->s3->key(rel)), what);
    }
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
  if (is_s3_url(*out)) {
    // An output is a folder: the root of a location would put the ladder's objects beside
    // everything else in it.
    auto o = s3_object(*out);
    if (!o) return o.status();
    for (const auto& l : list_)
      if (l.is_s3() && l.s3->bucket == o->location->s3->bucket && folder(*l.s3) == o->key)
        return refused("output", output, fmt::format("is the root of location '{}'; name a folder inside it", l.name));
    if (*out == *in) return refused("output", output, "is the input itself");
    if (is_s3_url(*in) && in->rfind(*out + "/", 0) == 0)
      return refused("output", output, "contains the input (publishing would replace it)");
    return JobPaths{*in, *out};
  }
  for (const auto& l : list_)
    if (!l.is_s3() && fs::path(*out) == fs::path(l.root))
      return refused("output", output, fmt::format("is the root of location '{}'; name a directory inside it", l.name));
  if (*out == *in) return refused("output", output, "is the input itself");
  if (!is_s3_url(*in) && inside(*in, *out)) return refused("output", output, "contains the input (publishing would replace it)");
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
                                                        "part_size, concurrency, presign_seconds, stream_input"
                                                      : ""));
    }
    if (!valid_name(l.name))
      return Status(Code::kUsage, fmt::format("{}: name = '{}' must be 1-64 of a-z, 0-9, '_', '-'", where, l.name));
    if (!names.insert(l.name).second)
      return Status(Code::kUsage, fmt::format("{}: a second location named '{}'", where, l.name));
    if (is_s3) {
      auto c = parse_s3_location(*t, l.url, where);
      if (!c) return c.status();
      auto presign = parse_presign_seconds(*t, where);
      if (!presign) return presign.status();
      l.presign_seconds = *presign;
      std::string stream = stream_input_name(l.stream_input);
      KILN_RETURN_IF_ERROR(toml_fields::read_string(*t, "stream_input", &stream, where));
      auto mode = parse_stream_input(stream, where);
      if (!mode) return mode.status();
      l.stream_input = *mode;
      for (const auto& other : list)
        if (other.is_s3() && other.s3->bucket == c->bucket && other.s3->endpoint != c->endpoint)
          return Status(Code::kUsage,
                        fmt::format("{}: bucket '{}' is also location '{}' at another endpoint ('{}' here, '{}' there): "
                                    "an s3://{}/... path could not say which store it means; give them one endpoint",
                                    where, c->bucket, other.name, c->endpoint, other.s3->endpoint, c->bucket));
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
