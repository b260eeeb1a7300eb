// One accepted socket as a byte stream, plain or TLS (OpenSSL directly, blocking I/O), plus the
// ways a test server ends a connection: close_notify + FIN, or RST.
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>

namespace mmapurl::testserver {

class ConnectionTransport {
 public:
  // ssl_ctx == nullptr → plain TCP. Does not own fd: the server closes it. TLS 1.3: a KeyUpdate
  // (asking for the peer's) after every `key_update_bytes` written, 0 = never.
  ConnectionTransport(int fd, SSL_CTX* ssl_ctx, uint64_t key_update_bytes = 0);
  ~ConnectionTransport();
  ConnectionTransport(const ConnectionTransport&) = delete;
  ConnectionTransport& operator=(const ConnectionTransport&) = delete;

  bool handshake();
  // > 0 bytes read, 0 on orderly end of stream, < 0 on error.
  long read_some(char* buf, size_t n);
  bool write_all(const char* data, size_t n);
  // close_notify (TLS), FIN, then read and drop what the peer still sends for a moment, so the
  // kernel does not answer unread bytes with an RST that would destroy our last response.
  void close_gracefully();
  // The next close(fd) sends an RST instead of a FIN.
  void arm_reset();

 private:
  int fd_;
  SSL* ssl_ = nullptr;
  BIO* write_bio_ = nullptr;  // owned by ssl_
  bool plain_ = true;
  uint64_t key_update_bytes_ = 0;
  uint64_t since_key_update_ = 0;
};

}  // namespace mmapurl::testserver
