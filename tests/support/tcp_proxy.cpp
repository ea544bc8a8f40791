#include "support/tcp_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace kiln::test {
namespace {

bool write_all(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

int connect_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return fd;
  if (fd >= 0) ::close(fd);
  return -1;
}

}  // namespace

TcpProxy::TcpProxy(int upstream_port) : upstream_port_(upstream_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    throw std::runtime_error("TcpProxy: cannot listen on loopback");
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

TcpProxy::~TcpProxy() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  {
    std::lock_guard lock(mu_);
    released_ = true;
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  cv_.notify_all();
  acceptor_.join();
  for (auto& t : workers_) t.join();
  for (int fd : open_fds_) ::close(fd);
  ::close(listen_fd_);
}

void TcpProxy::cut_after(size_t bytes) {
  std::lock_guard lock(mu_);
  cut_left_ = static_cast<long long>(bytes);
}

void TcpProxy::answer_next(std::string response) {
  std::lock_guard lock(mu_);
  answers_.push_back(std::move(response));
}

void TcpProxy::hold_uploads_after(size_t bytes) {
  std::lock_guard lock(mu_);
  upload_left_ = static_cast<long long>(bytes);
  released_ = false;
  upload_hold_reached_ = false;
}

void TcpProxy::hold_new_connections(int skip) {
  std::lock_guard lock(mu_);
  hold_new_ = true;
  hold_skip_ = skip;
  released_ = false;
}

void TcpProxy::release() {
  {
    std::lock_guard lock(mu_);
    released_ = true;
    hold_new_ = false;
    upload_left_ = -1;
  }
  cv_.notify_all();
}

std::vector<std::string> TcpProxy::request_heads() const {
  std::lock_guard lock(mu_);
  return heads_;
}

std::string TcpProxy::s3_error(int status, const std::string& reason, const std::string& code,
                               const std::string& message) {
  std::string body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + code + "</Code><Message>" + message +
                     "</Message><RequestId>proxy</RequestId></Error>";
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nContent-Type: application/xml\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

void TcpProxy::wait_released() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return released_ || stopping_.load(); });
}

void TcpProxy::accept_loop() {
  while (!stopping_) {
    int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (stopping_) return;
      continue;
    }
    std::lock_guard lock(mu_);
    open_fds_.push_back(client);
    workers_.emplace_back([this, client] { serve(client); });
  }
}

bool TcpProxy::answer_here(int client, const std::string& response) {
  std::string in;
  char buf[65536];
  size_t head_end = std::string::npos;
  while (head_end == std::string::npos) {
    ssize_t n = ::recv(client, buf, sizeof buf, 0);
    if (n <= 0) return false;
    in.append(buf, static_cast<size_t>(n));
    head_end = in.find("\r\n\r\n");
  }
  size_t length = 0;
  std::string head = in.substr(0, head_end);
  std::string lower = head;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (size_t at = lower.find("content-length:"); at != std::string::npos)
    length = std::strtoull(lower.c_str() + at + 15, nullptr, 10);
  while (in.size() < head_end + 4 + length) {  // the body too, so the client sees our answer, not a reset
    ssize_t n = ::recv(client, buf, sizeof buf, 0);
    if (n <= 0) return false;
    in.append(buf, static_cast<size_t>(n));
  }
  ++answered_here_;
  return write_all(client, response.data(), response.size());
}

void TcpProxy::serve(int client) {
  ++connections_;
  std::string canned;
  bool hold = false;
  {
    std::lock_guard lock(mu_);
    if (!answers_.empty()) {
      canned = std::move(answers_.front());
      answers_.pop_front();
    }
    hold = hold_new_ && hold_skip_-- <= 0;
  }
  if (!canned.empty()) {
    answer_here(client, canned);
    ::shutdown(client, SHUT_RDWR);
    return;
  }
  if (hold) {
    ++held_connections_;
    wait_released();
    --held_connections_;
  }
  int up = stopping_ ? -1 : connect_loopback(upstream_port_);
  if (up < 0) {
    ::shutdown(client, SHUT_RDWR);  // the client sees an empty reply, as from a dead server
    return;
  }
  {
    std::lock_guard lock(mu_);
    open_fds_.push_back(up);
  }
  std::string head;
  bool head_done = false;
  char buf[65536];
  pollfd fds[2] = {{client, POLLIN, 0}, {up, POLLIN, 0}};
  while (!stopping_) {
    if (::poll(fds, 2, 200) < 0 && errno != EINTR) break;
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::recv(client, buf, sizeof buf, 0);
      if (n <= 0) break;
      if (!head_done) {
        head.append(buf, static_cast<size_t>(n));
        if (size_t end = head.find("\r\n\r\n"); end != std::string::npos || head.size() > 16384) {
          head_done = true;
          std::lock_guard lock(mu_);
          heads_.push_back(head.substr(0, std::min(end, head.size())));
        }
      }
      size_t pass = static_cast<size_t>(n);
      {
        std::lock_guard lock(mu_);
        if (upload_left_ >= 0) {
          pass = static_cast<size_t>(std::min<long long>(n, upload_left_));
          upload_left_ -= static_cast<long long>(pass);
        }
      }
      if (pass > 0 && !write_all(up, buf, pass)) break;
      if (pass < static_cast<size_t>(n)) {
        upload_hold_reached_ = true;
        wait_released();
        if (!write_all(up, buf + pass, static_cast<size_t>(n) - pass)) break;
      }
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::recv(up, buf, sizeof buf, 0);
      if (n <= 0) break;
      size_t pass = static_cast<size_t>(n);
      bool cut = false;
      {
        std::lock_guard lock(mu_);
        if (cut_left_ >= 0) {
          pass = static_cast<size_t>(std::min<long long>(n, cut_left_));
          cut_left_ -= static_cast<long long>(pass);
          if (cut_left_ == 0) {
            cut = true;
            cut_left_ = -1;
          }
        }
      }
      if (pass > 0 && !write_all(client, buf, pass)) break;
      if (cut) break;
    }
  }
  ::shutdown(client, SHUT_RDWR);
  ::shutdown(up, SHUT_RDWR);
}

}  // namespace kiln::test
