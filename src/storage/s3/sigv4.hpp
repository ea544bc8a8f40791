#pragma once
// AWS Signature Version 4 for S3, on OpenSSL: the canonical request exactly as AWS documents it
// ("Signature Calculations for the Authorization Header" and "Authenticating Requests: Using
// Query Parameters"), header signing and presigned URLs. Pure functions, thread-safe.
//
// S3 differs from the other services in two ways this follows: each path segment is
// URI-encoded once (never twice) and the path is not normalised ("a//b" and "./" stay).

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/s3/credentials.hpp"

typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace kiln::storage::s3 {

/// The SHA-256 of the empty string: the payload hash of a request with no body.
inline constexpr std::string_view kEmptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

/// Lower-case hex of raw bytes.
std::string to_hex(std::string_view raw);
/// Standard base64 (with padding) of raw bytes.
std::string to_base64(std::string_view raw);
/// Raw HMAC-SHA256 of `data` under `key`.
std::string hmac_sha256(std::string_view key, std::string_view data);

/// An incremental SHA-256 or MD5 (a file read in pieces). Owns its EVP_MD_CTX; move-only.
class Digest {
 public:
  enum class Kind { kSha256, kMd5 };
  explicit Digest(Kind kind);
  void update(std::string_view data);
  /// The raw digest; the object is spent after this.
  std::string finish();

 private:
  struct CtxFree {
    void operator()(EVP_MD_CTX* c) const;
  };
  std::unique_ptr<EVP_MD_CTX, CtxFree> ctx_;
};

/// Lower-case hex SHA-256 / MD5 of `data` in one go.
std::string sha256_hex(std::string_view data);
std::string md5_hex(std::string_view data);

/// URI-encodes per SigV4: A-Z a-z 0-9 '-' '.' '_' '~' stay, every other byte becomes %XX
/// (upper-case hex, UTF-8 bytes one by one); '/' stays unless `encode_slash`.
std::string uri_encode(std::string_view s, bool encode_slash);

struct QueryParam {
  std::string name;   // as sent, before encoding
  std::string value;
};

/// The canonical query string: each name and value URI-encoded ('/' too), sorted by encoded
/// name then value, joined with '&'; a parameter without a value keeps its '='.
std::string canonical_query(const std::vector<QueryParam>& params);

/// A request as the signer sees it. Header names may be any case; values are trimmed and runs
/// of spaces folded in the canonical form. Every header here is signed.
struct SignRequest {
  std::string method;                                        // GET, PUT...
  std::string path;                                          // "/bucket/key", not encoded
  std::vector<QueryParam> query;                             // not encoded
  std::vector<std::pair<std::string, std::string>> headers;  // must include host
  std::string payload_hash = std::string(kEmptySha256);      // hex SHA-256 or UNSIGNED-PAYLOAD
};

struct SignScope {
  std::string region;
  std::string service = "s3";
  std::chrono::system_clock::time_point time;
};

/// "20130524T000000Z" for `t` (UTC).
std::string amz_date(std::chrono::system_clock::time_point t);

/// The canonical request (method, encoded path, canonical query, canonical headers, signed
/// header names, payload hash), and its signed header list through `signed_headers`.
std::string canonical_request(const SignRequest& req, std::string* signed_headers = nullptr);

/// The string to sign for a canonical request.
std::string string_to_sign(std::string_view canonical, const SignScope& scope);

/// The signing key: HMAC chain "AWS4"+secret -> date -> region -> service -> "aws4_request".
std::string signing_key(const Secret& secret, const SignScope& scope);

/// Signs with the Authorization header: adds x-amz-date, x-amz-content-sha256 (the payload
/// hash), x-amz-security-token when the credentials carry one, then Authorization, to
/// `req.headers`. Returns the signature (hex).
std::string sign_headers(SignRequest& req, const Credentials& credentials, const SignScope& scope);

/// A presigned URL's query string (encoded, signature last): `req.query` plus X-Amz-Algorithm,
/// X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders (the headers in `req`,
/// normally host alone), X-Amz-Security-Token when set, and X-Amz-Signature. The payload is
/// UNSIGNED-PAYLOAD whatever `req.payload_hash` says. `expires` is 1 s to 7 days.
std::string presign_query(const SignRequest& req, const Credentials& credentials, const SignScope& scope,
                          std::chrono::seconds expires);

}  // namespace kiln::storage::s3
