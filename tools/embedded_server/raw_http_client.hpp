// A deliberately simple blocking HTTP/1.1 client (raw socket, or OpenSSL trusting the server's
// certificate) for the embedded server's self-test: it reports exactly what came off the wire.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <map>
#include <string>

namespace mmapurl::testserver {

struct WireResponse {
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

class TestClient {
 public:
  TestClient() = default;
  ~TestClient();
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  // ca_pem empty → plain TCP; otherwise TLS verifying the peer against ca_pem and 127.0.0.1.
  bool connect(uint16_t port, const std::string& ca_pem, std::string* error);
  bool send(const std::string& bytes);
  // Reads one response. A HEAD response has no body whatever its Content-Length.
  WireResponse read_response(bool head_request = false);
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
