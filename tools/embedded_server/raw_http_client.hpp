// A deliberately simple blocking HTTP/1.1 client (raw socket, or OpenSSL trusting one CA PEM)
// for tests that must see exactly what a server put on the wire, faults included.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <map>
#include <string>

namespace mmapurl::testserver {

struct RawResponse {
  bool head_ok = false;  // a complete head arrived
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  bool body_complete = false;  // Content-Length bytes arrived (or chunked terminator)
  bool peer_closed = false;    // orderly EOF seen
  bool peer_error = false;     // reset / TLS error seen
  std::string header(const std::string& lower_name) const {
    const auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class RawHttpClient {
 public:
  RawHttpClient() = default;
  ~RawHttpClient();
  RawHttpClient(const RawHttpClient&) = delete;
  RawHttpClient& operator=(const RawHttpClient&) = delete;

  // ca_pem empty → plain TCP; otherwise TLS verifying the peer against ca_pem and 127.0.0.1.
  bool connect(uint16_t port, const std::string& ca_pem, std::string* error);
  bool send(const std::string& bytes);
  // Reads one response. A HEAD response has no body whatever its Content-Length.
  RawResponse read_response(bool head_request = false);
  // Reads until EOF/error, at most max bytes; returns what came.
  std::string read_until_close(size_t max, bool* error_seen);
  void close();
  int fd() const { return fd_; }

 private:
  long read_some(char* buf, size_t n);
  bool fill();  // appends to buf_; false on EOF/error (sets flags)

  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string buf_;
  bool eof_ = false;
  bool error_ = false;
};

}  // namespace mmapurl::testserver
