#pragma once
// Listening sockets for Kiln's HTTP servers (the coordinator's API, a node's metrics).

#include <sys/socket.h>

namespace kiln {

/// cpp-httplib's default socket options set SO_REUSEPORT, so a second process binding the same
/// address succeeds silently and the kernel splits connections between the two: half the
/// scrapes (or API calls) then hang on a listener that never answers. Kiln's servers take
/// SO_REUSEADDR only (a restart may rebind at once) and a port already in use is an error.
/// Pass to httplib::Server::set_socket_options.
inline void exclusive_listen_socket(int sock) {
  int yes = 1;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
}

}  // namespace kiln
