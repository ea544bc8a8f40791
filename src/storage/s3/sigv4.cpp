#include "storage/s3/sigv4.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>

namespace kiln::storage::s3 {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

/// Trimmed, with every run of spaces folded to one (the canonical header value).
std::string fold_spaces(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::string date_part(const SignScope& scope) { return amz_date(scope.time).substr(0, 8); }

std::string credential_scope(const SignScope& scope) {
  return date_part(scope) + "/" + scope.region + "/" + scope.service + "/aws4_request";
}

}  // namespace

std::string to_hex(std::string_view raw) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char c : raw) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::string to_base64(std::string_view raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(raw.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // One-shot HMAC(): no context to own.
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

void Digest::CtxFree::operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }

Digest::Digest(Kind kind) : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(ctx_.get(), kind == Kind::kSha256 ? EVP_sha256() : EVP_md5(), nullptr);
}

void Digest::update(std::string_view data) { EVP_DigestUpdate(ctx_.get(), data.data(), data.size()); }

std::string Digest::finish() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_.get(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string sha256_hex(std::string_view data) {
  Digest d(Digest::Kind::kSha256);
  d.update(data);
  return to_hex(d.finish());
}

std::string md5_hex(std::string_view data) {
  Digest d(Digest::Kind::kMd5);
  d.update(data);
  return to_hex(d.finish());
}

std::string uri_encode(std::string_view s, bool encode_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (c == '/' && !encode_slash)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kDigits[c >> 4];
      out += kDigits[c & 15];
    }
  }
  return out;
}

std::string canonical_query(const std::vector<QueryParam>& params) {
  std::vector<std::pair<std::string, std::string>> enc;
  enc.reserve(params.size());
  for (const auto& p : params) enc.emplace_back(uri_encode(p.name, true), uri_encode(p.value, true));
  std::sort(enc.begin(), enc.end());
  std::string out;
  for (const auto& [k, v] : enc) {
    if (!out.empty()) out += '&';
    out += k + "=" + v;
  }
  return out;
}

std::string amz_date(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[17];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string canonical_request(const SignRequest& req, std::string* signed_headers) {
  std::map<std::string, std::string> headers;  // sorted by lower-case name
  for (const auto& [name, value] : req.headers) {
    std::string& v = headers[lower(name)];
    if (!v.empty()) v += ',';
    v += fold_spaces(value);
  }
  std::string names, lines;
  for (const auto& [name, value] : headers) {
    if (!names.empty()) names += ';';
    names += name;
    lines += name + ":" + value + "\n";
  }
  if (signed_headers) *signed_headers = names;
  std::string path = req.path.empty() ? "/" : req.path;
  return req.method + "\n" + uri_encode(path, false) + "\n" + canonical_query(req.query) + "\n" + lines + "\n" +
         names + "\n" + req.payload_hash;
}

std::string string_to_sign(std::string_view canonical, const SignScope& scope) {
  return "AWS4-HMAC-SHA256\n" + amz_date(scope.time) + "\n" + credential_scope(scope) + "\n" + sha256_hex(canonical);
}

std::string signing_key(const Secret& secret, const SignScope& scope) {
  std::string k = hmac_sha256("AWS4" + secret.reveal(), date_part(scope));
  k = hmac_sha256(k, scope.region);
  k = hmac_sha256(k, scope.service);
  return hmac_sha256(k, "aws4_request");
}

std::string sign_headers(SignRequest& req, const Credentials& credentials, const SignScope& scope) {
  req.headers.emplace_back("x-amz-date", amz_date(scope.time));
  req.headers.emplace_back("x-amz-content-sha256", req.payload_hash);
  if (!credentials.session_token.empty())
    req.headers.emplace_back("x-amz-security-token", credentials.session_token.reveal());
  std::string signed_names;
  std::string canonical = canonical_request(req, &signed_names);
  std::string signature = to_hex(hmac_sha256(signing_key(credentials.secret_access_key, scope),
                                             string_to_sign(canonical, scope)));
  req.headers.emplace_back("Authorization", "AWS4-HMAC-SHA256 Credential=" + credentials.access_key_id + "/" +
                                                credential_scope(scope) + ",SignedHeaders=" + signed_names +
                                                ",Signature=" + signature);
  return signature;
}

std::string presign_query(const SignRequest& req, const Credentials& credentials, const SignScope& scope,
                          std::chrono::seconds expires) {
  SignRequest q = req;
  q.payload_hash = std::string(kUnsignedPayload);
  std::string signed_names;
  canonical_request(q, &signed_names);  // only for the signed header list
  q.query.push_back({"X-Amz-Algorithm", "AWS4-HMAC-SHA256"});
  q.query.push_back({"X-Amz-Credential", credentials.access_key_id + "/" + credential_scope(scope)});
  q.query.push_back({"X-Amz-Date", amz_date(scope.time)});
  q.query.push_back({"X-Amz-Expires", std::to_string(std::clamp<long long>(expires.count(), 1, 604800))});
  q.query.push_back({"X-Amz-SignedHeaders", signed_names});
  if (!credentials.session_token.empty())
    q.query.push_back({"X-Amz-Security-Token", credentials.session_token.reveal()});
  std::string signature =
      to_hex(hmac_sha256(signing_key(credentials.secret_access_key, scope), string_to_sign(canonical_request(q), scope)));
  return canonical_query(q.query) + "&X-Amz-Signature=" + signature;
}

}  // namespace kiln::storage::s3
