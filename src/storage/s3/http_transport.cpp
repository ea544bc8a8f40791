#include "storage/s3/http_transport.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>

namespace kiln::storage::s3 {
namespace {

struct SlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

struct Exchange {
  const HttpRequest* req;
  HttpResponse* resp;
  CURL* curl;
  size_t body_offset = 0;
  bool sink_stopped = false;
  bool accepted = false;
};

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  std::string_view line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    ex->resp->headers.clear();  // a 100 Continue or a redirect came first
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string_view v = line.substr(colon + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) v.remove_suffix(1);
    ex->resp->headers[name] = std::string(v);
  }
  return size * n;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  long status = 0;
  curl_easy_getinfo(ex->curl, CURLINFO_RESPONSE_CODE, &status);
  std::string_view chunk(data, size * n);
  if (ex->req->sink && status >= 200 && status < 300) {
    if (!ex->accepted) {
      ex->accepted = true;
      ex->resp->status = static_cast<int>(status);
      if (ex->req->accept && !ex->req->accept(*ex->resp)) {
        ex->sink_stopped = true;
        return 0;
      }
    }
    if (!ex->req->sink(chunk)) {
      ex->sink_stopped = true;
      return 0;  // curl ends the transfer with CURLE_WRITE_ERROR
    }
    ex->resp->sink_bytes += chunk.size();
  } else {
    ex->resp->body.append(chunk);
  }
  return size * n;
}

size_t on_read(char* buf, size_t size, size_t n, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  size_t left = ex->req->body.size() - ex->body_offset;
  size_t take = std::min(left, size * n);
  std::memcpy(buf, ex->req->body.data() + ex->body_offset, take);
  ex->body_offset += take;
  return take;
}

/// curl rewinds the body to send it again (a reused connection that had closed, a redirect).
int on_seek(void* user, curl_off_t offset, int origin) {
  auto* ex = static_cast<Exchange*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<size_t>(offset) > ex->req->body.size()) return CURL_SEEKFUNC_FAIL;
  ex->body_offset = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* ex = static_cast<Exchange*>(user);
  return ex->req->cancel && ex->req->cancel->load() ? 1 : 0;
}

}  // namespace

void HttpTransport::CurlFree::operator()(CURL* c) const { curl_easy_cleanup(c); }

HttpTransport::HttpTransport(TransportOptions options) : options_(options) {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

HttpTransport::~HttpTransport() = default;

HttpTransport::Handle HttpTransport::take() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      Handle h = std::move(idle_.back());
      idle_.pop_back();
      return h;
    }
  }
  return Handle(curl_easy_init());
}

void HttpTransport::give_back(Handle h) {
  std::lock_guard lock(mu_);
  idle_.push_back(std::move(h));
}

HttpResponse HttpTransport::perform(const HttpRequest& request) {
  HttpResponse resp;
  Handle h = take();
  if (!h) {
    resp.curl_code = CURLE_FAILED_INIT;
    resp.curl_error = "curl_easy_init failed";
    return resp;
  }
  CURL* c = h.get();
  curl_easy_reset(c);  // keeps the connection cache, forgets the last request's options
  Exchange ex{&request, &resp, c};
  char errbuf[CURL_ERROR_SIZE] = {0};

  std::unique_ptr<curl_slist, SlistFree> headers;
  auto add = [&](const std::string& line) {
    curl_slist* next = curl_slist_append(headers.get(), line.c_str());
    if (next) {
      (void)headers.release();
      headers.reset(next);
    }
  };
  for (const auto& [k, v] : request.headers) add(k + ": " + v);
  add("Expect:");  // no 100-continue round trip
  add("Accept:");

  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options_.stall_timeout.count()));
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &ex);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &ex);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &ex);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");

  if (request.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (request.method == "PUT") {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &ex);
    curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
    curl_easy_setopt(c, CURLOPT_SEEKDATA, &ex);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  } else if (request.method == "POST") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &ex);
    curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
    curl_easy_setopt(c, CURLOPT_SEEKDATA, &ex);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  } else if (request.method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }

  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  resp.status = static_cast<int>(status);
  if (rc != CURLE_OK) {
    resp.curl_code = rc;
    resp.curl_error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    while (!resp.curl_error.empty() && resp.curl_error.back() == '\n') resp.curl_error.pop_back();
  }
  // A handle whose transfer failed may hold a half-used connection; curl closes those itself.
  give_back(std::move(h));
  return resp;
}

}  // namespace kiln::storage::s3
