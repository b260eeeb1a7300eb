// What an EmbeddedServer serves and how it misbehaves: objects, faults, latency and bandwidth.
// Plain data, shared by the server and the pure response planner.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mmapurl::testserver {

enum class Fault {
  kNone,
  kStatus500,
  kStatus503,
  kStatus503SlowDown,  // S3-style XML body
  kStatus404,
  kStatus403,
  kIgnoreRange,        // 200 with whole body
  kWrongContentRange,  // 206 with shifted start (body holds the shifted bytes)
  kWrongTotal,         // 206 whose Content-Range total differs from the object size
  kMoreBytes,          // body longer than asked, Content-Length honest about the longer body
  kTruncate,           // close after half the body
  kReset,              // RST (SO_LINGER 0) after half the body
  kStall,  // send headers and half the body, then stall until fault cleared or server stopped
  kChunked,
  kGzip,  // Content-Encoding: gzip header (the body stays identity)
  kAbsurdContentLength,
  kEndlessHeaders,
  kChangeEtag,  // this answer comes from a changed object: new ETag, different bytes
};

const char* fault_name(Fault f);

struct ObjectSpec {
  std::string path;
  uint64_t size = 0;
  uint64_t seed = 0;
  std::string etag;           // strong, quoted; empty → none
  std::string last_modified;  // HTTP date; empty → none
};

struct ServerOptions {
  bool tls = true;
  std::vector<ObjectSpec> objects;  // served at their path; anything else → 404
  double latency_ms = 0;            // added before each response's first byte (one round trip)
  double conn_mbps = 0;             // per-connection send cap in megabytes/s (0 = none)
  std::string redirect_from, redirect_to;  // a path answering 302 Location: redirect_to
  bool ignore_if_match = false;  // like some real servers: If-Match/If-Unmodified-Since ignored
  // TLS 1.3: after every this many bytes sent on a connection, a KeyUpdate that asks for the
  // client's (0 = never). OpenSSL servers send none on their own.
  uint64_t tls_key_update_bytes = 0;
  // The IPv4 address to listen on (any 127.0.0.0/8 address works on Linux without setup): several
  // servers on distinct addresses are distinct origins, each with its own resolved address. The
  // certificate names it too.
  std::string bind_address = "127.0.0.1";
  // Like nginx's keepalive_timeout: a connection that sends nothing for this long is closed by
  // the server (0 = never). The client finds out only when it reads the end of stream.
  double keepalive_timeout_ms = 0;
};

}  // namespace mmapurl::testserver
