// Wire-level blocking HTTP/1.1 test client (see raw_http_client.hpp).
// Parses only what tests assert on: status, headers, Content-Length or chunked bodies.
#include "embedded_server/raw_http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>

namespace mmapurl::testserver {

RawHttpClient::~RawHttpClient() { close(); }

void RawHttpClient::close() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  if (fd_ >= 0) ::close(fd_);
  ssl_ = nullptr;
  ctx_ = nullptr;
  fd_ = -1;
  buf_.clear();
  eof_ = error_ = false;
}

bool RawHttpClient::connect(uint16_t port, const std::string& ca_pem, std::string* error) {
  close();
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    *error = "connect failed";
    return false;
  }
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (ca_pem.empty()) return true;

  ctx_ = SSL_CTX_new(TLS_client_method());
  BIO* bio = BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size()));
  X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (ctx_ == nullptr || ca == nullptr ||
      X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx_), ca) != 1) {
    X509_free(ca);
    *error = "cannot load the CA";
    return false;
  }
  X509_free(ca);
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  ssl_ = SSL_new(ctx_);
  SSL_set_fd(ssl_, fd_);
  X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), "127.0.0.1");
  if (SSL_connect(ssl_) != 1) {
    char text[256] = "";
    ERR_error_string_n(ERR_get_error(), text, sizeof(text));
    *error = std::string("TLS handshake: ") + text +
             " verify=" + X509_verify_cert_error_string(SSL_get_verify_result(ssl_));
    return false;
  }
  return true;
}

bool RawHttpClient::send(const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const long w = ssl_ != nullptr
                       ? SSL_write(ssl_, bytes.data() + done, static_cast<int>(bytes.size() - done))
                       : ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (w <= 0) return false;
    done += static_cast<size_t>(w);
  }
  return true;
}

long RawHttpClient::read_some(char* buf, size_t n) {
  if (ssl_ == nullptr) return ::recv(fd_, buf, n, 0);
  const int r = SSL_read(ssl_, buf, static_cast<int>(n));
  if (r > 0) return r;
  return SSL_get_error(ssl_, r) == SSL_ERROR_ZERO_RETURN ? 0 : -1;
}

bool RawHttpClient::fill() {
  char tmp[64 * 1024];
  const long n = read_some(tmp, sizeof(tmp));
  if (n > 0) {
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  (n == 0 ? eof_ : error_) = true;
  return false;
}

RawResponse RawHttpClient::read_response(bool head_request) {
  RawResponse r;
  size_t end;
  while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
    if (buf_.size() > (1u << 20) || !fill()) {
      r.peer_closed = eof_;
      r.peer_error = error_;
      return r;
    }
  }
  const std::string head = buf_.substr(0, end);
  buf_.erase(0, end + 4);
  r.head_ok = true;
  r.status = std::atoi(head.c_str() + 9);
  size_t pos = head.find("\r\n");
  while (pos != std::string::npos) {
    const size_t next = head.find("\r\n", pos + 2);
    const std::string line =
        head.substr(pos + 2, next == std::string::npos ? next : next - pos - 2);
    const size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      r.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    }
    pos = next;
  }
  if (head_request) {
    r.body_complete = true;
    return r;
  }
  if (r.header("transfer-encoding") == "chunked") {
    for (;;) {
      size_t eol;
      while ((eol = buf_.find("\r\n")) == std::string::npos) {
        if (!fill()) break;
      }
      if (eol == std::string::npos) break;
      const size_t n = std::strtoull(buf_.c_str(), nullptr, 16);
      while (buf_.size() < eol + 2 + n + 2 && fill()) {
      }
      if (buf_.size() < eol + 2 + n + 2) break;
      r.body.append(buf_, eol + 2, n);
      buf_.erase(0, eol + 2 + n + 2);
      if (n == 0) {
        r.body_complete = true;
        break;
      }
    }
  } else {
    const size_t want = std::strtoull(r.header("content-length").c_str(), nullptr, 10);
    while (buf_.size() < want && fill()) {
    }
    const size_t got = std::min(want, buf_.size());
    r.body = buf_.substr(0, got);
    buf_.erase(0, got);
    r.body_complete = got == want;
  }
  r.peer_closed = eof_;
  r.peer_error = error_;
  return r;
}

std::string RawHttpClient::read_until_close(size_t max, bool* error_seen) {
  while (buf_.size() < max && fill()) {
  }
  if (error_seen != nullptr) *error_seen = error_;
  std::string out = buf_.substr(0, std::min(max, buf_.size()));
  buf_.clear();
  return out;
}

}  // namespace mmapurl::testserver
