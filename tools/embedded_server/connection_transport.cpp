// Plain/TLS byte stream over a blocking socket for the embedded server's connection threads.
// SIGPIPE is blocked in those threads (see embedded_server.cpp); plain sends use MSG_NOSIGNAL.
#include "embedded_server/connection_transport.hpp"

#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

namespace mmapurl::testserver {

namespace {

// Room for one write chunk's worth of TLS records (16 KiB + 22 bytes each) plus a head.
constexpr int kTlsWriteBuffer = 1024 * 1024 + 64 * 1024;

}  // namespace

ConnectionTransport::ConnectionTransport(int fd, SSL_CTX* ssl_ctx, uint64_t key_update_bytes)
    : fd_(fd), key_update_bytes_(key_update_bytes) {
  plain_ = ssl_ctx == nullptr;
  if (plain_) return;
  // Reads come straight from the socket; writes collect in a buffer BIO that we flush after each
  // write_all, so a 256 KiB SSL_write is one send() instead of sixteen (one per record).
  ssl_ = SSL_new(ssl_ctx);
  BIO* socket_bio = BIO_new_socket(fd, BIO_NOCLOSE);
  BIO* buffer_bio = BIO_new(BIO_f_buffer());
  if (ssl_ == nullptr || socket_bio == nullptr || buffer_bio == nullptr ||
      BIO_set_write_buffer_size(buffer_bio, kTlsWriteBuffer) != 1 || BIO_up_ref(socket_bio) != 1) {
    BIO_free(socket_bio);
    BIO_free(buffer_bio);
    if (ssl_ != nullptr) SSL_free(ssl_);
    ssl_ = nullptr;
    return;
  }
  BIO_push(buffer_bio, socket_bio);           // the chain holds the extra reference...
  SSL_set_bio(ssl_, socket_bio, buffer_bio);  // ...and the SSL the first one, as read BIO
  write_bio_ = buffer_bio;
}

ConnectionTransport::~ConnectionTransport() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  ERR_clear_error();  // the error queue is per thread; leave it clean for the next connection
}

bool ConnectionTransport::handshake() {
  if (plain_) return true;
  if (ssl_ == nullptr) return false;
  ERR_clear_error();
  return SSL_accept(ssl_) == 1;
}

long ConnectionTransport::read_some(char* buf, size_t n) {
  if (plain_) {
    for (;;) {
      const ssize_t r = ::recv(fd_, buf, n, 0);
      if (r >= 0) return r;
      if (errno != EINTR) return -1;
    }
  }
  ERR_clear_error();
  const int r = SSL_read(ssl_, buf, static_cast<int>(n > INT_MAX ? INT_MAX : n));
  if (r > 0) return r;
  return SSL_get_error(ssl_, r) == SSL_ERROR_ZERO_RETURN ? 0 : -1;
}

bool ConnectionTransport::write_all(const char* data, size_t n) {
  while (n > 0) {
    if (plain_) {
      const ssize_t w = ::send(fd_, data, n, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      data += w;
      n -= static_cast<size_t>(w);
    } else {
      ERR_clear_error();
      size_t chunk = n > (1u << 30) ? (1u << 30) : n;
      if (key_update_bytes_ != 0) {
        if (since_key_update_ >= key_update_bytes_) {
          // Goes out before the next record; a TLS 1.2 session refuses, and that is fine.
          if (SSL_key_update(ssl_, SSL_KEY_UPDATE_REQUESTED) != 1) ERR_clear_error();
          since_key_update_ = 0;
        }
        chunk = std::min<size_t>(chunk, key_update_bytes_ - since_key_update_);
        since_key_update_ += chunk;
      }
      const int w = SSL_write(ssl_, data, static_cast<int>(chunk));  // blocking, no partial writes
      if (w <= 0) return false;
      data += w;
      n -= static_cast<size_t>(w);
    }
  }
  return plain_ || BIO_flush(write_bio_) == 1;
}

void ConnectionTransport::close_gracefully() {
  if (ssl_ != nullptr) {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // one-way close_notify; we do not wait for the peer's
    BIO_flush(write_bio_);
  }
  ::shutdown(fd_, SHUT_WR);
  char sink[4096];
  for (int i = 0; i < 256; ++i) {  // at most ~1 MiB and ~200 ms of leftovers
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, 200) <= 0) break;
    const ssize_t r = ::recv(fd_, sink, sizeof(sink), MSG_DONTWAIT);
    if (r <= 0) break;
  }
}

void ConnectionTransport::arm_reset() {
  const linger lin{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
}

}  // namespace mmapurl::testserver
