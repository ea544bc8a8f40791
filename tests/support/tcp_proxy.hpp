#pragma once
// A TCP proxy on loopback between a client under test and a real server, with the faults a
// network has: a connection cut mid-answer, uploads that stall, an answer from somewhere else
// (a 503 SlowDown, a policy's AccessDenied). Each fault is armed by the test and fires once.

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kiln::test {

class TcpProxy {
 public:
  /// Listens on 127.0.0.1 (a free port) and forwards each connection to 127.0.0.1:upstream_port.
  explicit TcpProxy(int upstream_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return port_; }

  /// The server's next `bytes` bytes (on whichever connection carries them) reach the client,
  /// then that connection is closed: an answer cut short.
  void cut_after(size_t bytes);
  /// The next new connection is not forwarded: its request is read and `response` (a whole
  /// HTTP response) is written back, then it is closed. Queued: one per call.
  void answer_next(std::string response);
  /// Client-to-server bytes stop flowing once `bytes` more have gone through, until release().
  void hold_uploads_after(size_t bytes);
  /// New connections after the next `skip` wait (accepted, not forwarded) until release().
  void hold_new_connections(int skip = 0);
  /// Lets everything held flow again.
  void release();

  bool holding() const { return upload_hold_reached_; }
  int held_connections() const { return held_connections_; }
  int connections() const { return connections_; }
  int answered_here() const { return answered_here_; }
  /// The first request head (request line and headers) of each forwarded connection, in order.
  std::vector<std::string> request_heads() const;

  /// A whole HTTP response with an S3 error document.
  static std::string s3_error(int status, const std::string& reason, const std::string& code,
                              const std::string& message);

 private:
  void accept_loop();
  void serve(int client);
  bool answer_here(int client, const std::string& response);
  void wait_released();

  int listen_fd_ = -1;  // owned
  int port_ = 0;
  int upstream_port_;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> workers_;
  std::vector<int> open_fds_;  // every connection's sockets, shut down at destruction
  std::deque<std::string> answers_;
  std::vector<std::string> heads_;
  long long cut_left_ = -1;     // -1: no cut armed
  long long upload_left_ = -1;  // -1: no hold armed
  bool hold_new_ = false;
  int hold_skip_ = 0;
  bool released_ = false;
  std::atomic<bool> upload_hold_reached_{false};
  std::atomic<int> held_connections_{0};
  std::atomic<int> connections_{0};
  std::atomic<int> answered_here_{0};
};

}  // namespace kiln::test
