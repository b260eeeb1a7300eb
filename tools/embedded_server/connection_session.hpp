// One connection's life on its own thread: TLS handshake, then read a request head, plan the
// answer, write it (with latency, pacing and faults), until close, error or server stop.
#pragma once

#include "embedded_server/server_core.hpp"

namespace mmapurl::testserver {

// Takes ownership of fd (already registered with core); closes it through core before returning.
void serve_connection(ServerCore& core, int fd);

}  // namespace mmapurl::testserver
