#include "storage/s3/s3_config.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <cctype>

namespace kiln::storage::s3 {
namespace {

bool valid_bucket(std::string_view b) {
  if (b.size() < 3 || b.size() > 63) return false;
  for (char c : b)
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '.' ||
          c == '-'))
      return false;
  return std::isalnum(static_cast<unsigned char>(b.front())) && std::isalnum(static_cast<unsigned char>(b.back()));
}

std::string env_or(const Env& env, std::initializer_list<const char*> names, std::string fallback) {
  for (const char* n : names)
    if (const char* v = env(n); v && *v) return v;
  return fallback;
}

}  // namespace

std::string S3Endpoint::authority() const {
  bool default_port = port == 0 || (scheme == "http" && port == 80) || (scheme == "https" && port == 443);
  return default_port ? host : host + ":" + std::to_string(port);
}

std::string S3Endpoint::url() const { return scheme + "://" + authority(); }

Result<S3Endpoint> parse_endpoint(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return Status(Code::kUsage, fmt::format("endpoint '{}': {} (e.g. https://s3.example.com or http://127.0.0.1:9000)",
                                            url, why));
  };
  S3Endpoint e;
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) return bad("no scheme");
  e.scheme = std::string(url.substr(0, sep));
  if (e.scheme != "http" && e.scheme != "https") return bad("the scheme must be http or https");
  std::string_view rest = url.substr(sep + 3);
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);  // "https://host/" is common
  if (rest.find_first_of("/?#@") != std::string_view::npos) return bad("only scheme://host[:port] is allowed");
  if (rest.empty()) return bad("no host");
  std::string_view port;
  bool has_port = false;
  if (rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == std::string_view::npos) return bad("an IPv6 address needs its ']'");
    e.host = std::string(rest.substr(0, close + 1));
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') return bad("junk after the IPv6 address");
      has_port = true;
      port = rest.substr(close + 2);
    }
  } else {
    size_t colon = rest.find(':');
    e.host = std::string(rest.substr(0, colon));
    has_port = colon != std::string_view::npos;
    if (has_port) port = rest.substr(colon + 1);
  }
  if (e.host.empty()) return bad("no host");
  if (has_port) {
    if (port.empty() || port.size() > 5) return bad("the port must be 1-65535");
    int p = 0;
    for (char c : port) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return bad("the port must be a number");
      p = p * 10 + (c - '0');
    }
    if (p < 1 || p > 65535) return bad("the port must be 1-65535");
    e.port = p;
  }
  for (char& c : e.host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return e;
}

bool host_needs_path_style(std::string_view host) {
  if (host == "localhost") return true;
  std::string h(host);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  unsigned char buf[16];
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

std::string S3Config::key(std::string_view relative) const {
  while (!relative.empty() && relative.front() == '/') relative.remove_prefix(1);
  if (prefix.empty()) return std::string(relative);
  if (prefix.back() == '/' || relative.empty()) return prefix + std::string(relative);
  return prefix + "/" + std::string(relative);
}

Result<S3Config> parse_s3_url(std::string_view url) {
  if (url.rfind("s3://", 0) != 0)
    return Status(Code::kUsage, fmt::format("'{}' is not an s3://BUCKET/PREFIX URL", url));
  std::string_view rest = url.substr(5);
  size_t slash = rest.find('/');
  S3Config c;
  c.bucket = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) c.prefix = std::string(rest.substr(slash + 1));
  if (!valid_bucket(c.bucket))
    return Status(Code::kUsage, fmt::format("'{}': the bucket name '{}' must be 3-63 of a-z, 0-9, '.', '-'", url, c.bucket));
  if (c.prefix.find("//") != std::string::npos || c.prefix == ".." || c.prefix.rfind("../", 0) == 0 ||
      c.prefix.find("/../") != std::string::npos)
    return Status(Code::kUsage, fmt::format("'{}': the prefix may not hold '//' or '..'", url));
  return c;
}

Result<S3Target> resolve_target(const S3Config& config, const Env& env) {
  S3Target t;
  t.bucket = config.bucket;
  t.region = !config.region.empty() ? config.region : env_or(env, {"AWS_REGION", "AWS_DEFAULT_REGION"}, "us-east-1");
  std::string endpoint = !config.endpoint.empty()
                             ? config.endpoint
                             : env_or(env, {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"},
                                      t.region == "us-east-1" ? "https://s3.amazonaws.com"
                                                              : "https://s3." + t.region + ".amazonaws.com");
  auto e = parse_endpoint(endpoint);
  if (!e) return e.status();
  t.endpoint = *e;
  // Dotted bucket names break the TLS wildcard certificate of BUCKET.host: path-style there too.
  bool dotted_tls = t.endpoint.scheme == "https" && config.bucket.find('.') != std::string::npos;
  t.path_style = config.path_style.value_or(host_needs_path_style(t.endpoint.host) || dotted_tls);
  auto c = resolve_credentials(config.credentials, env);
  if (!c) return c.status();
  t.credentials = std::move(*c);
  return t;
}

}  // namespace kiln::storage::s3
