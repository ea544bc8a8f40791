#pragma once
// One HTTP exchange over libcurl, and a pool of easy handles so connections are reused.
// Knows nothing of S3: the client signs the request and judges the answer.

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

typedef void CURL;

namespace kiln::storage::s3 {

struct HttpResponse;

struct HttpRequest {
  std::string method;  // GET, HEAD, PUT, POST, DELETE
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string_view body;  // PUT/POST body; must outlive perform()
  /// Receives a 2xx response's body as it arrives; return false to stop. Null: the body is kept
  /// in HttpResponse::body. An error response's body is always kept, never given to the sink.
  std::function<bool(std::string_view)> sink;
  /// Called once with a 2xx response's status and headers before its first body byte reaches
  /// the sink; return false to refuse the body (the exchange ends with CURLE_WRITE_ERROR).
  std::function<bool(const HttpResponse&)> accept;
  /// When set and true, the transfer stops at its next progress tick (about once a second, and
  /// at every chunk) with curl code CURLE_ABORTED_BY_CALLBACK.
  const std::atomic<bool>* cancel = nullptr;
};

struct HttpResponse {
  int status = 0;                              // 0 when no answer came
  std::map<std::string, std::string> headers;  // names lower-case
  std::string body;
  int curl_code = 0;                           // CURLcode; 0 when the exchange completed
  std::string curl_error;                      // curl's words, when curl_code != 0
  uint64_t sink_bytes = 0;                     // bytes handed to the sink

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct TransportOptions {
  std::chrono::milliseconds connect_timeout{10000};
  /// A transfer slower than 1 byte/s for this long is dropped (a stalled connection).
  std::chrono::seconds stall_timeout{60};
};

/// Performs requests on pooled easy handles. Thread-safe: each perform() takes a handle of its
/// own for the exchange and puts it back after, so concurrent calls use separate connections.
class HttpTransport {
 public:
  explicit HttpTransport(TransportOptions options);
  ~HttpTransport();
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  /// One exchange. Never throws; a transport failure is curl_code != 0 in the response.
  HttpResponse perform(const HttpRequest& request);

 private:
  struct CurlFree {
    void operator()(CURL* c) const;
  };
  using Handle = std::unique_ptr<CURL, CurlFree>;
  Handle take();
  void give_back(Handle h);

  TransportOptions options_;
  std::mutex mu_;
  std::vector<Handle> idle_;
};

}  // namespace kiln::storage::s3
