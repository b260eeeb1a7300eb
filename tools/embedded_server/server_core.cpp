// Shared state of the embedded server (see server_core.hpp), including its TLS configuration:
// TLS 1.3 with AES-GCM preferred, since AES-NI makes it the fastest suite on loopback.
#include "embedded_server/server_core.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ctime>

#include "embedded_server/http_date.hpp"

namespace mmapurl::testserver {
namespace {

std::string openssl_error(const char* what) {
  std::string text = what;
  const unsigned long code = ERR_get_error();
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    text += ": ";
    text += buf;
  }
  ERR_clear_error();
  return text;
}

}  // namespace

ServerCore::ServerCore(ServerOptions opts)
    : opts_(std::move(opts)),
      plan_ctx_{opts_.ignore_if_match, opts_.redirect_from, opts_.redirect_to} {
  for (const ObjectSpec& spec : opts_.objects) {
    objects_[spec.path] = ObjectSnapshot{spec.size, spec.seed, spec.etag, spec.last_modified};
  }
}

ServerCore::~ServerCore() {
  if (ssl_ctx_ != nullptr) SSL_CTX_free(ssl_ctx_);
}

bool ServerCore::init_tls(const std::string& cert_pem, const std::string& key_pem,
                          std::string* error) {
  auto fail = [&](const char* what) {
    if (error != nullptr) *error = openssl_error(what);
    return false;
  };
  ssl_ctx_ = SSL_CTX_new(TLS_server_method());
  if (ssl_ctx_ == nullptr) return fail("SSL_CTX_new");
  BIO* cert_bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  BIO* key_bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  X509* cert = cert_bio ? PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr) : nullptr;
  EVP_PKEY* key = key_bio ? PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr) : nullptr;
  const bool loaded =
      cert != nullptr && key != nullptr && SSL_CTX_use_certificate(ssl_ctx_, cert) == 1 &&
      SSL_CTX_use_PrivateKey(ssl_ctx_, key) == 1 && SSL_CTX_check_private_key(ssl_ctx_) == 1;
  X509_free(cert);
  EVP_PKEY_free(key);
  BIO_free(cert_bio);
  BIO_free(key_bio);
  if (!loaded) return fail("loading the certificate");
  static const unsigned char kSessionContext[] = "mmapurl-testserver";
  if (SSL_CTX_set_min_proto_version(ssl_ctx_, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_ciphersuites(ssl_ctx_,
                               "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                               "TLS_CHACHA20_POLY1305_SHA256") != 1 ||
      SSL_CTX_set_cipher_list(ssl_ctx_,
                              "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                              "ECDHE-ECDSA-CHACHA20-POLY1305:"
                              // last, for a client that wants a suite without an AEAD
                              "ECDHE-ECDSA-AES128-SHA256") != 1 ||
      SSL_CTX_set_session_id_context(ssl_ctx_, kSessionContext, sizeof(kSessionContext) - 1) != 1) {
    return fail("configuring TLS");
  }
  SSL_CTX_set_options(ssl_ctx_, SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_session_cache_mode(ssl_ctx_, SSL_SESS_CACHE_SERVER);
  if (opts_.tls_key_update_bytes != 0) {
    // Counts the clients' KeyUpdate messages (a test checks that a client answers ours).
    SSL_CTX_set_msg_callback_arg(ssl_ctx_, this);
    SSL_CTX_set_msg_callback(ssl_ctx_, [](int write_p, int, int content_type, const void* buf,
                                          size_t len, SSL*, void* arg) {
      constexpr unsigned char kKeyUpdate = 24;
      if (write_p == 0 && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
          static_cast<const unsigned char*>(buf)[0] == kKeyUpdate) {
        static_cast<ServerCore*>(arg)->tls_key_updates_received.fetch_add(1);
      }
    });
  }
  return true;
}

std::optional<ObjectSnapshot> ServerCore::find_object(const std::string& path) const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = objects_.find(path);
  if (it == objects_.end()) return std::nullopt;
  return it->second;
}

void ServerCore::replace_object(const std::string& path, uint64_t new_seed,
                                const std::string& new_etag) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = objects_.find(path);
  if (it == objects_.end()) return;
  ObjectSnapshot& obj = it->second;
  obj.seed = new_seed;
  obj.etag = new_etag;
  if (!obj.last_modified.empty()) {
    // A changed object is newer: at least one second after what clients saw, so
    // If-Unmodified-Since (one-second resolution) notices the change.
    std::time_t now = std::time(nullptr);
    const auto before = parse_http_date(obj.last_modified);
    if (before && now <= *before) now = *before + 1;
    obj.last_modified = format_http_date(now);
  }
}

void ServerCore::put_object(const ObjectSpec& spec) {
  std::lock_guard<std::mutex> lock(mu_);
  objects_[spec.path] = ObjectSnapshot{spec.size, spec.seed, spec.etag, spec.last_modified};
}

ServerCore::TakenFault ServerCore::take_fault(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  const Fault f = faults_.take(path);
  return TakenFault{f, faults_.epoch()};
}

void ServerCore::add_fault(Fault f, int count, const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  faults_.add(f, count, path);
}

void ServerCore::clear_faults() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    faults_.clear();
  }
  cv_.notify_all();
}

void ServerCore::wait_for_fault_epoch_after(uint64_t epoch) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return stopping() || faults_.epoch() != epoch; });
}

bool ServerCore::sleep_for(std::chrono::nanoseconds d) {
  if (d.count() <= 0) return !stopping();
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [&] { return stopping(); });
  return !stopping();
}

void ServerCore::request_stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_.store(true, std::memory_order_release);
    for (int fd : sockets_) ::shutdown(fd, SHUT_RDWR);
  }
  cv_.notify_all();
}

bool ServerCore::register_socket(int fd) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping()) return false;
  sockets_.insert(fd);
  return true;
}

void ServerCore::close_socket(int fd) {
  std::lock_guard<std::mutex> lock(mu_);
  sockets_.erase(fd);
  ::close(fd);
}

}  // namespace mmapurl::testserver
