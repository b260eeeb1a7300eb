// Builds the embedded server's certificate with OpenSSL 3 (EVP_EC_gen, X509 v3 extensions).
// CA:TRUE like `openssl req -x509`, so OpenSSL-based clients accept it as their trust anchor.
#include "embedded_server/self_signed_cert.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace mmapurl::testserver {
namespace {

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
template <typename T>
using Owned = std::unique_ptr<T, Free>;

bool add_extension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  Owned<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

std::optional<std::string> bio_text(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  if (len <= 0 || data == nullptr) return std::nullopt;
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace

std::optional<SelfSignedCert> make_self_signed_cert(const std::string& extra_ip) {
  Owned<EVP_PKEY> key(EVP_EC_gen("P-256"));
  Owned<X509> cert(X509_new());
  if (!key || !cert) return std::nullopt;

  unsigned char serial_bytes[16];
  if (RAND_bytes(serial_bytes, sizeof(serial_bytes)) != 1) return std::nullopt;
  serial_bytes[0] &= 0x7f;  // positive
  BIGNUM* serial_bn = BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr);
  const bool serial_ok =
      serial_bn != nullptr && BN_to_ASN1_INTEGER(serial_bn, X509_get_serialNumber(cert.get()));
  BN_free(serial_bn);
  if (!serial_ok) return std::nullopt;

  std::string alt_names = "IP:127.0.0.1,IP:::1,DNS:localhost";
  if (!extra_ip.empty() && extra_ip != "127.0.0.1") alt_names += ",IP:" + extra_ip;
  X509_NAME* name = X509_get_subject_name(cert.get());
  // Each server's certificate is its own root: a bundle trusting several (one server per loopback
  // address) needs distinct subjects, since OpenSSL finds an issuer by name and tries only one.
  const std::string cn_text =
      extra_ip.empty() || extra_ip == "127.0.0.1" ? "localhost" : "localhost " + extra_ip;
  const auto* cn = reinterpret_cast<const unsigned char*>(cn_text.c_str());
  const auto* org = reinterpret_cast<const unsigned char*>("mmapurl test server");
  if (X509_set_version(cert.get(), 2) != 1 ||
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60 * 5) == nullptr ||  // clock skew
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 60 * 60) == nullptr ||
      X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, org, -1, -1, 0) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, cn, -1, -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), name) != 1 || X509_set_pubkey(cert.get(), key.get()) != 1) {
    return std::nullopt;
  }
  if (!add_extension(cert.get(), NID_basic_constraints, "critical,CA:TRUE") ||
      !add_extension(cert.get(), NID_key_usage, "critical,digitalSignature,keyCertSign") ||
      !add_extension(cert.get(), NID_ext_key_usage, "serverAuth") ||
      !add_extension(cert.get(), NID_subject_key_identifier, "hash") ||
      !add_extension(cert.get(), NID_subject_alt_name, alt_names.c_str())) {
    return std::nullopt;
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) return std::nullopt;

  Owned<BIO> cert_bio(BIO_new(BIO_s_mem()));
  Owned<BIO> key_bio(BIO_new(BIO_s_mem()));
  if (!cert_bio || !key_bio || PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1 ||
      PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
          1) {
    return std::nullopt;
  }
  auto cert_pem = bio_text(cert_bio.get());
  auto key_pem = bio_text(key_bio.get());
  if (!cert_pem || !key_pem) return std::nullopt;
  return SelfSignedCert{std::move(*cert_pem), std::move(*key_pem)};
}

}  // namespace mmapurl::testserver
