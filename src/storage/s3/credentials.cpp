#include "storage/s3/credentials.hpp"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace kiln::storage::s3 {
namespace {

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Result<std::string> read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(Code::kUsage, fmt::format("cannot read '{}'", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Credentials from one profile of a credentials-format file.
Result<Credentials> from_file(const std::string& path, const std::string& profile, const std::string& source) {
  auto text = read_whole(path);
  if (!text) return Status(Code::kUsage, fmt::format("{}: {}", source, text.status().message()));
  auto p = parse_profile(*text, profile, path);
  if (!p) return p.status();
  Credentials c;
  c.source = source;
  auto get = [&](const char* key) {
    auto it = p->find(key);
    return it == p->end() ? std::string() : it->second;
  };
  c.access_key_id = get("aws_access_key_id");
  c.secret_access_key = Secret(get("aws_secret_access_key"));
  c.session_token = Secret(get("aws_session_token"));
  if (c.access_key_id.empty() || c.secret_access_key.empty())
    return Status(Code::kUsage, fmt::format("{} has no aws_access_key_id and aws_secret_access_key", source));
  return c;
}

std::string shared_file(const Env& env) {
  if (const char* f = env("AWS_SHARED_CREDENTIALS_FILE"); f && *f) return f;
  const char* home = env("HOME");
  return std::string(home && *home ? home : "") + "/.aws/credentials";
}

}  // namespace

Env process_env() {
  return [](const char* name) -> const char* { return std::getenv(name); };
}

Result<std::map<std::string, std::string>> parse_profile(std::string_view text, std::string_view profile,
                                                         std::string_view origin) {
  std::map<std::string, std::string> out;
  bool any_section = false, in_profile = false, found = false;
  std::istringstream lines{std::string(text)};
  std::string line;
  for (int n = 1; std::getline(lines, line); ++n) {
    std::string t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t[0] == '[') {
      if (t.back() != ']')
        return Status(Code::kUsage, fmt::format("{}:{}: a section header must end with ']'", origin, n));
      std::string name = trim(std::string_view(t).substr(1, t.size() - 2));
      // ~/.aws/config spells profiles "[profile NAME]"; accept it here too.
      if (name.rfind("profile ", 0) == 0) name = trim(std::string_view(name).substr(8));
      any_section = true;
      in_profile = name == profile;
      found = found || in_profile;
      continue;
    }
    size_t eq = t.find('=');
    if (eq == std::string::npos)
      return Status(Code::kUsage, fmt::format("{}:{}: expected 'key = value'", origin, n));
    if (!any_section && profile == "default") found = in_profile = true;  // a bare file
    if (in_profile) out[lower(trim(std::string_view(t).substr(0, eq)))] = trim(std::string_view(t).substr(eq + 1));
  }
  if (!found) return Status(Code::kUsage, fmt::format("{}: no profile [{}]", origin, profile));
  return out;
}

Result<Credentials> resolve_credentials(const CredentialSource& source, const Env& env) {
  if (!source.systemd_credential.empty()) {
    const char* dir = env("CREDENTIALS_DIRECTORY");
    if (!dir || !*dir)
      return Status(Code::kUsage,
                    fmt::format("credential = '{}' but $CREDENTIALS_DIRECTORY is not set: add "
                                "LoadCredential={}:/path/to/file to the service's unit",
                                source.systemd_credential, source.systemd_credential));
    if (source.systemd_credential.find('/') != std::string::npos)
      return Status(Code::kUsage, fmt::format("credential = '{}' must be a file name, not a path", source.systemd_credential));
    std::string path = std::string(dir) + "/" + source.systemd_credential;
    return from_file(path, source.profile.empty() ? "default" : source.profile,
                     fmt::format("systemd credential '{}'", source.systemd_credential));
  }
  if (!source.profile.empty()) {
    std::string path = shared_file(env);
    return from_file(path, source.profile, fmt::format("profile '{}' of {}", source.profile, path));
  }
  const char* id = env("AWS_ACCESS_KEY_ID");
  const char* secret = env("AWS_SECRET_ACCESS_KEY");
  if (id && *id) {
    if (!secret || !*secret)
      return Status(Code::kUsage, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both");
    Credentials c;
    c.access_key_id = id;
    c.secret_access_key = Secret(secret);
    if (const char* t = env("AWS_SESSION_TOKEN"); t && *t) c.session_token = Secret(t);
    c.source = "environment (AWS_ACCESS_KEY_ID)";
    return c;
  }
  std::string path = shared_file(env);
  const char* p = env("AWS_PROFILE");
  std::string profile = p && *p ? p : "default";
  std::ifstream probe(path);
  if (!probe)
    return Status(Code::kUsage,
                  fmt::format("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or write "
                              "{} (profile [{}]), or give the location a credential or profile",
                              path, profile));
  return from_file(path, profile, fmt::format("profile '{}' of {}", profile, path));
}

std::string redact(std::string text, const Credentials& credentials) {
  for (const Secret* s : {&credentials.secret_access_key, &credentials.session_token}) {
    const std::string& v = s->reveal();
    if (v.empty()) continue;
    for (size_t at = text.find(v); at != std::string::npos; at = text.find(v, at))
      text.replace(at, v.size(), "[redacted]");
  }
  return text;
}

}  // namespace kiln::storage::s3
