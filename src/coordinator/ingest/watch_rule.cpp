#include "coordinator/ingest/watch_rule.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "coordinator/job_json.hpp"
#include "storage/s3/sigv4.hpp"
#include "toml_fields.hpp"

namespace kiln::coordinator::ingest {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_' ||
           c == '-';
  });
}

/// A relative key prefix: no leading '/', no '.' or '..' part, no empty part ("a//b").
std::optional<std::string> bad_prefix(std::string_view p) {
  if (p.empty()) return std::nullopt;
  if (p.front() == '/') return "must be relative (no leading '/')";
  size_t start = 0;
  while (start < p.size()) {
    size_t slash = p.find('/', start);
    std::string_view part = p.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (slash != std::string_view::npos && part.empty()) return "has an empty part ('//')";
    if (part == "." || part == "..") return "may not have '.' or '..' parts";
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return std::nullopt;
}

// The [[watch]] keys, and which of them a template field of POST /v1/jobs maps to.
struct TemplateKey {
  const char* toml;
  const char* json;
};
constexpr TemplateKey kTemplateKeys[] = {
    {"ladder", "ladder"},          {"segment_seconds", "segmentSeconds"}, {"priority", "priority"},
    {"queue", "queue"},            {"max_attempts", "maxAttempts"},       {"backend", "backend"},
    {"device", "device"},          {"metadata", "metadata"},
};
const std::set<std::string> kRuleKeys = {"name",         "location",   "prefix",      "suffix",    "suffixes",
                                         "events",       "event_keys", "poll_seconds", "watch",    "stable_seconds",
                                         "output",       "on_complete", "move_to",    "errors_prefix"};
constexpr const char* kKnownKeys =
    "name, location, prefix, suffix(es), events, event_keys, poll_seconds, watch, stable_seconds, output, ladder, "
    "segment_seconds, priority, queue, max_attempts, backend, device, metadata, on_complete, move_to, errors_prefix";

/// A TOML value of the job template as JSON: strings, integers, floats, booleans; metadata a
/// table of those.
Result<nlohmann::json> template_value(const toml::node& n, const std::string& key, const std::string& where) {
  if (auto v = n.value_exact<std::string>()) return nlohmann::json(*v);
  if (auto v = n.value_exact<int64_t>()) return nlohmann::json(*v);
  if (auto v = n.value_exact<double>()) return nlohmann::json(*v);
  if (auto v = n.value_exact<bool>()) return nlohmann::json(*v);
  if (const auto* t = n.as_table(); t && key == "metadata") {
    nlohmann::json obj = nlohmann::json::object();
    for (const auto& [k, v] : *t) {
      if (v.is_table() || v.is_array())
        return Status(Code::kUsage, fmt::format("{}: metadata.{} must be a string, number or boolean", where, k.str()));
      auto j = template_value(v, "metadata." + std::string(k.str()), where);
      if (!j) return j.status();
      obj[std::string(k.str())] = *j;
    }
    return obj;
  }
  return Status(Code::kUsage, fmt::format("{}: '{}' has the wrong type", where, key));
}

Status parse_triggers(const toml::table& t, WatchRule& r, const std::string& where) {
  std::string mode, keys;
  if (r.s3) {
    for (const char* k : {"watch", "stable_seconds"})
      if (t.contains(k)) return Status(Code::kUsage, fmt::format("{}: '{}' is for file:// locations", where, k));
    KILN_RETURN_IF_ERROR(toml_fields::read_bool(t, "events", &r.events, where));
    KILN_RETURN_IF_ERROR(toml_fields::read_string(t, "event_keys", &keys, where));
    if (!keys.empty()) {
      if (keys == "auto") r.event_keys = EventKeys::kAuto;
      else if (keys == "url") r.event_keys = EventKeys::kUrl;
      else if (keys == "raw") r.event_keys = EventKeys::kRaw;
      else return Status(Code::kUsage, fmt::format("{}: event_keys = '{}' (auto, url or raw)", where, keys));
    }
    r.poll_seconds = 0;
    KILN_RETURN_IF_ERROR(toml_fields::read_number(t, "poll_seconds", &r.poll_seconds, where));
    if (r.poll_seconds != 0 && r.poll_seconds < 0.1)
      return Status(Code::kUsage, fmt::format("{}: poll_seconds = {} (0: events only, else at least 0.1)", where,
                                              r.poll_seconds));
    if (!r.events && r.poll_seconds == 0)
      return Status(Code::kUsage, fmt::format("{}: events = false and no poll_seconds: nothing would ever trigger it", where));
    return Status::ok();
  }
  for (const char* k : {"events", "event_keys"})
    if (t.contains(k)) return Status(Code::kUsage, fmt::format("{}: '{}' is for s3:// locations", where, k));
  r.poll_seconds = 10;
  KILN_RETURN_IF_ERROR(toml_fields::read_number(t, "poll_seconds", &r.poll_seconds, where));
  KILN_RETURN_IF_ERROR(toml_fields::read_number(t, "stable_seconds", &r.stable_seconds, where));
  KILN_RETURN_IF_ERROR(toml_fields::read_string(t, "watch", &mode, where));
  if (mode.empty() || mode == "auto") r.watch = WatchMode::kAuto;
  else if (mode == "inotify") r.watch = WatchMode::kInotify;
  else if (mode == "poll") r.watch = WatchMode::kPoll;
  else return Status(Code::kUsage, fmt::format("{}: watch = '{}' (auto, inotify or poll)", where, mode));
  if (r.poll_seconds < 0.1 || r.stable_seconds < 0)
    return Status(Code::kUsage, fmt::format("{}: poll_seconds must be at least 0.1 and stable_seconds not negative", where));
  return Status::ok();
}

Status parse_after(const toml::table& t, WatchRule& r, const std::string& where) {
  std::string action;
  KILN_RETURN_IF_ERROR(toml_fields::read_string(t, "on_complete", &action, where));
  KILN_RETURN_IF_ERROR(toml_fields::read_string(t, "move_to", &r.move_to, where));
  KILN_RETURN_IF_ERROR(toml_fields::read_string(t, "errors_prefix", &r.errors_prefix, where));
  if (action.empty() || action == "none") r.on_complete = OnComplete::kNone;
  else if (action == "move") r.on_complete = OnComplete::kMove;
  else if (action == "tag") r.on_complete = OnComplete::kTag;
  else return Status(Code::kUsage, fmt::format("{}: on_complete = '{}' (none, move or tag)", where, action));
  if (r.on_complete == OnComplete::kTag && !r.s3)
    return Status(Code::kUsage, fmt::format("{}: on_complete = 'tag' needs an s3:// location (files have no tags); "
                                            "use 'move'", where));
  if ((r.on_complete == OnComplete::kMove) != !r.move_to.empty())
    return Status(Code::kUsage, fmt::format("{}: on_complete = 'move' and move_to go together", where));
  for (auto [key, value] : {std::pair{"move_to", &r.move_to}, std::pair{"errors_prefix", &r.errors_prefix}}) {
    if (value->empty()) continue;
    if (auto bad = bad_prefix(*value)) return Status(Code::kUsage, fmt::format("{}: {} = '{}' {}", where, key, *value, *bad));
    // A file moved (or a report written) where the rule looks would be taken again.
    if (starts_with(*value, r.prefix) || starts_with(r.prefix, *value))
      return Status(Code::kUsage, fmt::format("{}: {} = '{}' lies inside what the rule watches (prefix '{}'): "
                                              "what lands there would be ingested again; give the rule a prefix "
                                              "such as 'uploads/' and put {} beside it", where, key, *value, r.prefix, key));
  }
  return Status::ok();
}

Status parse_template(const toml::table& t, WatchRule& r, const std::string& where, const storage::Locations& locations) {
  KILN_RETURN_IF_ERROR(toml_fields::read_string(t, "output", &r.output, where));
  size_t colon = r.output.find(':');
  if (r.output.empty() || colon == std::string::npos || colon + 1 >= r.output.size())
    return Status(Code::kUsage, fmt::format("{}: output = '{}' must be LOCATION:pattern, such as \"media:out/{{stem}}\"",
                                            where, r.output));
  std::string out_location = r.output.substr(0, colon);
  if (!locations.find(out_location))
    return Status(Code::kUsage, fmt::format("{}: output = '{}': no [[location]] named '{}'", where, r.output, out_location));
  for (const auto& k : kTemplateKeys) {
    if (const auto* n = t.get(k.toml)) {
      auto v = template_value(*n, k.toml, where);
      if (!v) return v.status();
      r.job[k.json] = *v;
    }
  }
  // The template must pass what POST /v1/jobs checks, with placeholders filled in.
  auto body = job_body(r, r.prefix + "sample/clip.mp4", "0123456789abcdef");
  if (!body) return Status(Code::kUsage, fmt::format("{}: {}", where, body.status().message()));
  auto parsed = parse_job_request(*body);
  if (!parsed) return Status(Code::kUsage, fmt::format("{}: the job template: {}", where, parsed.status().message()));
  return Status::ok();
}

Result<WatchRule> parse_rule(const toml::table& t, const std::string& where_n, const storage::Locations& locations) {
  WatchRule r;
  KILN_RETURN_IF_ERROR(toml_fields::read_string(t, "name", &r.name, where_n));
  if (!valid_name(r.name))
    return Status(Code::kUsage, fmt::format("{}: name = '{}' must be 1-64 of a-z, 0-9, '_', '-'", where_n, r.name));
  const std::string where = fmt::format("{} ('{}')", where_n, r.name);
  for (const auto& [k, v] : t) {
    std::string key(k.str());
    bool known = kRuleKeys.count(key) > 0;
    for (const auto& tk : kTemplateKeys) known |= key == tk.toml;
    if (!known) return Status(Code::kUsage, fmt::format("{}: unknown key '{}' ({})", where, key, kKnownKeys));
  }
  KILN_RETURN_IF_ERROR(toml_fields::read_string(t, "location", &r.location, where));
  const storage::Location* loc = locations.find(r.location);
  if (!loc)
    return Status(Code::kUsage, fmt::format("{}: location = '{}' is not a [[location]] of this file", where, r.location));
  r.s3 = loc->is_s3();
  KILN_RETURN_IF_ERROR(toml_fields::read_string(t, "prefix", &r.prefix, where));
  if (auto bad = bad_prefix(r.prefix)) return Status(Code::kUsage, fmt::format("{}: prefix = '{}' {}", where, r.prefix, *bad));
  if (t.contains("suffix") && t.contains("suffixes"))
    return Status(Code::kUsage, fmt::format("{}: give 'suffix' or 'suffixes', not both", where));
  std::string one;
  KILN_RETURN_IF_ERROR(toml_fields::read_string(t, "suffix", &one, where));
  if (!one.empty()) r.suffixes = {one};
  KILN_RETURN_IF_ERROR(toml_fields::read_strings(t, "suffixes", &r.suffixes, where));
  for (auto& s : r.suffixes) {
    if (s.empty()) return Status(Code::kUsage, fmt::format("{}: an empty suffix", where));
    s = lower(s);
  }
  KILN_RETURN_IF_ERROR(parse_triggers(t, r, where));
  KILN_RETURN_IF_ERROR(parse_template(t, r, where, locations));
  KILN_RETURN_IF_ERROR(parse_after(t, r, where));
  return r;
}

}  // namespace

bool WatchRule::matches(std::string_view key) const {
  if (key.empty() || key.back() == '/' || !starts_with(key, prefix)) return false;
  std::string_view below = key.substr(watched_dir().size());
  if (below.empty() || below.front() == '.' || below.find("/.") != std::string_view::npos) return false;
  if (suffixes.empty()) return true;
  std::string low = lower(key);
  return std::any_of(suffixes.begin(), suffixes.end(), [&](const std::string& s) {
    return low.size() >= s.size() && low.compare(low.size() - s.size(), s.size(), s) == 0;
  });
}

std::string WatchRule::watched_dir() const {
  size_t slash = prefix.rfind('/');
  return slash == std::string::npos ? std::string() : prefix.substr(0, slash + 1);
}

KeyParts key_parts(const WatchRule& rule, std::string_view key, std::string_view version) {
  KeyParts p;
  p.key = key;
  std::string dir = rule.watched_dir();
  p.path = starts_with(key, dir) ? std::string(key.substr(dir.size())) : std::string(key);
  size_t slash = p.path.rfind('/');
  p.dir = slash == std::string::npos ? "" : p.path.substr(0, slash + 1);
  p.name = slash == std::string::npos ? p.path : p.path.substr(slash + 1);
  size_t dot = p.name.rfind('.');
  p.stem = dot == std::string::npos || dot == 0 ? p.name : p.name.substr(0, dot);
  p.ext = dot == std::string::npos || dot == 0 ? "" : p.name.substr(dot + 1);
  p.version = storage::s3::sha256_hex(version).substr(0, 12);
  p.rule = rule.name;
  return p;
}

Result<std::string> expand(std::string_view pattern, const KeyParts& parts) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if ((c == '{' || c == '}') && i + 1 < pattern.size() && pattern[i + 1] == c) {
      out += c;
      ++i;
      continue;
    }
    if (c == '}') return Status(Code::kUsage, fmt::format("'{}': a '}}' without its '{{' (write '}}}}' for one)", pattern));
    if (c != '{') {
      out += c;
      continue;
    }
    size_t close = pattern.find('}', i);
    if (close == std::string_view::npos)
      return Status(Code::kUsage, fmt::format("'{}': a '{{' without its '}}' (write '{{{{' for one)", pattern));
    std::string_view name = pattern.substr(i + 1, close - i - 1);
    const std::pair<const char*, const std::string*> table[] = {
        {"key", &parts.key},   {"path", &parts.path}, {"dir", &parts.dir},         {"name", &parts.name},
        {"stem", &parts.stem}, {"ext", &parts.ext},   {"version", &parts.version}, {"rule", &parts.rule}};
    const std::string* value = nullptr;
    for (const auto& [n, v] : table)
      if (name == n) value = v;
    if (!value)
      return Status(Code::kUsage, fmt::format("'{}': unknown placeholder {{{}}} (key, path, dir, name, stem, ext, "
                                              "version, rule)", pattern, name));
    out += *value;
    i = close;
  }
  return out;
}

Result<nlohmann::json> job_body(const WatchRule& rule, std::string_view key, std::string_view version) {
  KeyParts parts = key_parts(rule, key, version);
  auto output = expand(rule.output, parts);
  if (!output) return Status(Code::kUsage, fmt::format("output = {}", output.status().message()));
  while (output->size() > 1 && output->back() == '/' && (*output)[output->size() - 2] != ':') output->pop_back();
  nlohmann::json body = rule.job;
  body["input"] = rule.location + ":" + std::string(key);
  body["output"] = *output;
  if (body.contains("metadata")) {
    for (auto& [k, v] : body["metadata"].items()) {
      if (!v.is_string()) continue;
      auto e = expand(v.get<std::string>(), parts);
      if (!e) return Status(Code::kUsage, fmt::format("metadata.{} = {}", k, e.status().message()));
      v = *e;
    }
  }
  return body;
}

Result<std::vector<WatchRule>> parse_watch_rules(const toml::table& root, std::string_view origin,
                                                 const storage::Locations& locations) {
  std::vector<WatchRule> out;
  const toml::node* node = root.get("watch");
  if (!node) return out;
  const auto* arr = node->as_array();
  if (!arr) return Status(Code::kUsage, fmt::format("{}: watch must be an array of tables ([[watch]])", origin));
  std::set<std::string> names;
  for (size_t i = 0; i < arr->size(); ++i) {
    std::string where = fmt::format("{}: [[watch]] #{}", origin, i + 1);
    const auto* t = (*arr)[i].as_table();
    if (!t) return Status(Code::kUsage, fmt::format("{} is not a table", where));
    auto rule = parse_rule(*t, where, locations);
    if (!rule) return rule.status();
    if (!names.insert(rule->name).second)
      return Status(Code::kUsage, fmt::format("{}: a second rule named '{}'", where, rule->name));
    out.push_back(std::move(rule).value());
  }
  return out;
}

}  // namespace kiln::coordinator::ingest
