// TlsRecordReader implementation: TLS 1.3 (RFC 8446 sections 5.2-5.4 and 7.1-7.3) and TLS 1.2
// AEAD records (RFC 5246 section 6.2.3.3, RFC 5288 section 3, RFC 7905 section 2).
#include "net/tls_record_reader.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/obj_mac.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstring>

namespace mmapurl::net {

namespace {
constexpr uint8_t kApplicationData = 23;
constexpr uint8_t kHandshake = 22;
constexpr uint8_t kAlert = 21;
constexpr size_t kHeaderBytes = 5;
constexpr size_t kTagBytes = 16;
constexpr size_t kMaxInnerPlaintext13 = (1u << 14) + 1;  // content + its type byte
constexpr size_t kMaxCiphertext13 = (1u << 14) + 256;    // RFC 8446 section 5.2
constexpr size_t kMaxPlaintext12 = 1u << 14;
constexpr size_t kMaxCiphertext12 = (1u << 14) + 2048;  // RFC 5246 section 6.2.3
constexpr size_t kMaxHandshakeBytes = 132 * 1024;       // OpenSSL takes tickets up to 128 KiB
constexpr uint8_t kNewSessionTicket = 4;
constexpr uint8_t kWarning = 1;  // alert level
constexpr uint8_t kCloseNotify = 0;
constexpr uint8_t kUserCanceled = 90;
constexpr uint8_t kKeyUpdate = 24;

// `length` bytes from OpenSSL's key derivation function `name` with `params`; empty on failure.
std::vector<uint8_t> derive(const char* name, const OSSL_PARAM* params, size_t length) {
  std::vector<uint8_t> out(length);
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, name, nullptr);
  EVP_KDF_CTX* ctx = kdf != nullptr ? EVP_KDF_CTX_new(kdf) : nullptr;
  const bool ok = ctx != nullptr && EVP_KDF_derive(ctx, out.data(), out.size(), params) == 1;
  EVP_KDF_CTX_free(ctx);
  EVP_KDF_free(kdf);
  if (!ok) out.clear();
  return out;
}
}  // namespace

std::vector<uint8_t> TlsRecordReader::expand_label(const EVP_MD* digest,
                                                   std::span<const uint8_t> secret,
                                                   const std::string& label, size_t length) {
  const std::string full = "tls13 " + label;
  if (full.size() > 255 || length > 0xffff) return {};
  uint8_t info[2 + 1 + 255 + 1];  // struct HkdfLabel, with an empty context
  size_t info_len = 0;
  info[info_len++] = static_cast<uint8_t>(length >> 8);
  info[info_len++] = static_cast<uint8_t>(length);
  info[info_len++] = static_cast<uint8_t>(full.size());
  std::memcpy(info + info_len, full.data(), full.size());
  info_len += full.size();
  info[info_len++] = 0;

  int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                       const_cast<char*>(EVP_MD_get0_name(digest)), 0),
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(secret.data()),
                                        secret.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, info_len),
      OSSL_PARAM_construct_end(),
  };
  return derive("HKDF", params, length);
}

std::vector<uint8_t> TlsRecordReader::tls12_key_block(const EVP_MD* digest,
                                                      std::span<const uint8_t> master_secret,
                                                      std::span<const uint8_t> client_random,
                                                      std::span<const uint8_t> server_random,
                                                      size_t length) {
  static constexpr char kLabel[] = "key expansion";
  std::vector<uint8_t> seed(kLabel, kLabel + sizeof kLabel - 1);  // label + server + client random
  seed.insert(seed.end(), server_random.begin(), server_random.end());
  seed.insert(seed.end(), client_random.begin(), client_random.end());
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                       const_cast<char*>(EVP_MD_get0_name(digest)), 0),
      OSSL_PARAM_construct_octet_string(
          OSSL_KDF_PARAM_SECRET, const_cast<uint8_t*>(master_secret.data()), master_secret.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed.data(), seed.size()),
      OSSL_PARAM_construct_end(),
  };
  return derive("TLS1-PRF", params, length);
}

namespace {
// The AEADs this reader has, by OpenSSL's NID; null for any other.
const EVP_CIPHER* aead_of(int cipher_nid, size_t* key_bytes) {
  switch (cipher_nid) {
    case NID_aes_128_gcm:
      *key_bytes = 16;
      return EVP_aes_128_gcm();
    case NID_aes_256_gcm:
      *key_bytes = 32;
      return EVP_aes_256_gcm();
    case NID_chacha20_poly1305:
      *key_bytes = 32;
      return EVP_chacha20_poly1305();
    default:
      return nullptr;
  }
}
}  // namespace

std::unique_ptr<TlsRecordReader> TlsRecordReader::create_tls13(int cipher_nid, const EVP_MD* digest,
                                                               std::span<const uint8_t> secret,
                                                               std::string* error) {
  size_t key_bytes = 0;
  const EVP_CIPHER* cipher = aead_of(cipher_nid, &key_bytes);
  if (cipher == nullptr || digest == nullptr) {
    *error = "TLS cipher " + std::to_string(cipher_nid) + " is left to OpenSSL";
    return nullptr;
  }
  if (secret.size() != static_cast<size_t>(EVP_MD_get_size(digest))) {
    *error = "traffic secret of " + std::to_string(secret.size()) + " bytes";
    return nullptr;
  }
  std::unique_ptr<TlsRecordReader> reader(new TlsRecordReader(cipher, digest, key_bytes));
  if (reader->ctx_ == nullptr || !reader->install_keys(secret)) {
    *error = "cannot set up TLS 1.3 record decryption";
    return nullptr;
  }
  return reader;
}

std::unique_ptr<TlsRecordReader> TlsRecordReader::create_tls12(
    int cipher_nid, const EVP_MD* prf_digest, std::span<const uint8_t> master_secret,
    std::span<const uint8_t> client_random, std::span<const uint8_t> server_random,
    uint64_t next_sequence, std::string* error) {
  size_t key_bytes = 0;
  const EVP_CIPHER* cipher = aead_of(cipher_nid, &key_bytes);
  if (cipher == nullptr || prf_digest == nullptr) {
    *error = "TLS cipher " + std::to_string(cipher_nid) + " is left to OpenSSL";
    return nullptr;
  }
  // GCM: a 4-byte salt from the key block and 8 explicit bytes per record; ChaCha20-Poly1305:
  // a 12-byte IV xored with the sequence number, as in TLS 1.3.
  const bool gcm = cipher_nid != NID_chacha20_poly1305;
  const size_t iv_bytes = gcm ? 4 : 12;
  // client key, server key, client IV, server IV (AEAD suites have no MAC keys)
  std::vector<uint8_t> block = tls12_key_block(prf_digest, master_secret, client_random,
                                               server_random, 2 * key_bytes + 2 * iv_bytes);
  std::unique_ptr<TlsRecordReader> reader(new TlsRecordReader(cipher, nullptr, key_bytes));
  reader->tls12_ = true;
  reader->explicit_nonce_ = gcm;
  bool ok =
      !block.empty() && reader->ctx_ != nullptr &&
      EVP_DecryptInit_ex(reader->ctx_, cipher, nullptr, block.data() + key_bytes, nullptr) == 1;
  if (ok) {
    std::memcpy(reader->iv_, block.data() + 2 * key_bytes + iv_bytes, iv_bytes);
    reader->sequence_ = next_sequence;
  }
  if (!block.empty()) OPENSSL_cleanse(block.data(), block.size());
  if (!ok) {
    *error = "cannot set up TLS 1.2 record decryption";
    return nullptr;
  }
  return reader;
}

TlsRecordReader::TlsRecordReader(const EVP_CIPHER* cipher, const EVP_MD* digest, size_t key_bytes)
    : cipher_(cipher), digest_(digest), key_bytes_(key_bytes), ctx_(EVP_CIPHER_CTX_new()) {}

TlsRecordReader::~TlsRecordReader() {
  EVP_CIPHER_CTX_free(ctx_);
  if (!secret_.empty()) OPENSSL_cleanse(secret_.data(), secret_.size());
  OPENSSL_cleanse(iv_, sizeof iv_);
}

bool TlsRecordReader::install_keys(std::span<const uint8_t> secret) {
  std::vector<uint8_t> key = expand_label(digest_, secret, "key", key_bytes_);
  std::vector<uint8_t> iv = expand_label(digest_, secret, "iv", sizeof iv_);
  const bool ok = key.size() == key_bytes_ && iv.size() == sizeof iv_ &&
                  EVP_DecryptInit_ex(ctx_, cipher_, nullptr, key.data(), nullptr) == 1;
  if (ok) std::memcpy(iv_, iv.data(), sizeof iv_);
  if (!key.empty()) OPENSSL_cleanse(key.data(), key.size());
  if (!iv.empty()) OPENSSL_cleanse(iv.data(), iv.size());
  if (ok && secret.data() != secret_.data()) secret_.assign(secret.begin(), secret.end());
  sequence_ = 0;
  return ok;
}

bool TlsRecordReader::open_record(const uint8_t* header, const uint8_t* body, size_t body_len,
                                  uint8_t* out) {
  uint8_t nonce[sizeof iv_];
  uint8_t aad[13];
  size_t aad_len = kHeaderBytes;
  const uint8_t* ciphertext = body;
  size_t text_len = body_len - kTagBytes;
  if (explicit_nonce_) {  // TLS 1.2 GCM: salt + the record's own 8 bytes
    std::memcpy(nonce, iv_, 4);
    std::memcpy(nonce + 4, body, 8);
    ciphertext += 8;
    text_len -= 8;
  } else {  // the IV with the sequence number xored into its end
    std::memcpy(nonce, iv_, sizeof nonce);
    for (int i = 0; i < 8; ++i) nonce[4 + i] ^= static_cast<uint8_t>(sequence_ >> (56 - 8 * i));
  }
  if (tls12_) {  // sequence number, type, version, plaintext length
    for (int i = 0; i < 8; ++i) aad[i] = static_cast<uint8_t>(sequence_ >> (56 - 8 * i));
    std::memcpy(aad + 8, header, 3);
    aad[11] = static_cast<uint8_t>(text_len >> 8);
    aad[12] = static_cast<uint8_t>(text_len);
    aad_len = sizeof aad;
  } else {  // the record header
    std::memcpy(aad, header, kHeaderBytes);
  }
  int n = 0;
  int last = 0;
  return EVP_DecryptInit_ex(ctx_, nullptr, nullptr, nullptr, nonce) == 1 &&
         EVP_DecryptUpdate(ctx_, nullptr, &n, aad, static_cast<int>(aad_len)) == 1 &&
         EVP_DecryptUpdate(ctx_, out, &n, ciphertext, static_cast<int>(text_len)) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_SET_TAG, kTagBytes,
                             const_cast<uint8_t*>(ciphertext + text_len)) == 1 &&
         EVP_DecryptFinal_ex(ctx_, out + n, &last) == 1;
}

void TlsRecordReader::fail(int reason, std::string why) {
  if (final_ != Status::kOk) return;
  final_ = Status::kError;
  error_reason_ = reason;
  error_ = std::move(why);
}

void TlsRecordReader::take_handshake(const uint8_t* data, size_t len, Step* step) {
  if (len == 0) {
    fail(SSL_R_BAD_LENGTH, "empty TLS handshake record");
    return;
  }
  if (handshake_.size() + len > kMaxHandshakeBytes) {
    fail(SSL_R_EXCESSIVE_MESSAGE_SIZE, "TLS handshake message after the handshake too large");
    return;
  }
  handshake_.insert(handshake_.end(), data, data + len);
  size_t at = 0;
  while (handshake_.size() - at >= 4) {
    const uint8_t* m = handshake_.data() + at;
    const size_t body = size_t{m[1]} << 16 | size_t{m[2]} << 8 | m[3];
    if (handshake_.size() - at - 4 < body) break;  // the rest comes in the next record
    at += 4 + body;
    if (m[0] == kNewSessionTicket) continue;
    if (m[0] != kKeyUpdate || body != 1 || m[4] > 1) {
      fail(SSL_R_UNEXPECTED_MESSAGE,
           "unexpected TLS handshake message " + std::to_string(m[0]) + " after the handshake");
      return;
    }
    // Section 4.6.3: the next record is under the next secret, so nothing may follow.
    if (at != handshake_.size()) {
      fail(SSL_R_NOT_ON_RECORD_BOUNDARY, "TLS KeyUpdate not at a record's end");
      return;
    }
    step->key_update_requested = step->key_update_requested || m[4] == 1;
    std::vector<uint8_t> next = expand_label(digest_, secret_, "traffic upd",
                                             static_cast<size_t>(EVP_MD_get_size(digest_)));
    const bool ok = !next.empty() && install_keys(next);
    if (!next.empty()) OPENSSL_cleanse(next.data(), next.size());
    if (!ok) {
      fail(SSL_R_BAD_KEY_UPDATE, "cannot derive the keys after a TLS KeyUpdate");
      return;
    }
  }
  handshake_.erase(handshake_.begin(), handshake_.begin() + static_cast<ptrdiff_t>(at));
}

TlsRecordReader::Step TlsRecordReader::read(const uint8_t* in, size_t in_len, uint8_t* out,
                                            size_t out_len) {
  Step step;
  if (out_len == 0) return step;  // kOk, nothing produced: no room asked for
  while (true) {
    if (pending() > 0) {
      const size_t n = std::min(pending(), out_len - step.produced);
      std::memcpy(out + step.produced, pending_.data() + pending_offset_, n);
      pending_offset_ += n;
      step.produced += n;
      if (pending() == 0) {
        pending_.clear();
        pending_offset_ = 0;
      }
    }
    if (final_ != Status::kOk || step.produced == out_len) break;
    const size_t available = in_len - step.consumed;
    if (available < kHeaderBytes) break;
    const uint8_t* header = in + step.consumed;
    // TLS 1.3 wraps every type in application_data; TLS 1.2 names alerts (and a renegotiation's
    // handshake, refused below) in the header.
    const bool type_ok = header[0] == kApplicationData ||
                         (tls12_ && (header[0] == kAlert || header[0] == kHandshake));
    if (!type_ok) {
      fail(SSL_R_UNEXPECTED_RECORD,
           "unexpected TLS record type " + std::to_string(header[0]) + " after the handshake");
      break;
    }
    const size_t body_len = size_t{header[3]} << 8 | header[4];
    // TLS 1.3: at least the content type; TLS 1.2 GCM: the explicit nonce.
    const size_t overhead = kTagBytes + (explicit_nonce_ ? 8 : 0);
    if (body_len < overhead + (tls12_ ? 0 : 1)) {
      fail(SSL_R_RECORD_TOO_SMALL, "TLS record of " + std::to_string(body_len) + " bytes");
      break;
    }
    const size_t text_len = body_len - overhead;
    if (tls12_ ? body_len > kMaxCiphertext12 || text_len > kMaxPlaintext12
               : body_len > kMaxCiphertext13 || text_len > kMaxInnerPlaintext13) {
      fail(SSL_R_PACKET_LENGTH_TOO_LONG, "TLS record of " + std::to_string(body_len) + " bytes");
      break;
    }
    if (available - kHeaderBytes < body_len) break;  // the rest has not arrived
    // Straight into the caller's buffer when the whole record fits, else aside.
    const bool direct = out_len - step.produced >= text_len;
    if (!direct) pending_.resize(text_len);
    uint8_t* text = direct ? out + step.produced : pending_.data();
    if (!open_record(header, header + kHeaderBytes, body_len, text)) {
      // The AEAD wrote before it checked the tag: no unauthenticated byte stays behind.
      OPENSSL_cleanse(text, text_len);
      pending_.clear();
      fail(SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC,
           "TLS record failed authentication (bad record MAC)");
      break;
    }
    step.consumed += kHeaderBytes + body_len;
    ++sequence_;
    uint8_t type = header[0];
    size_t content = text_len;
    if (!tls12_) {
      size_t end = text_len;  // the content type is the last byte before the zero padding
      while (end > 0 && text[end - 1] == 0) --end;
      if (end == 0) {
        pending_.clear();
        fail(SSL_R_UNEXPECTED_RECORD, "TLS record without a content type");
        break;
      }
      type = text[end - 1];
      content = end - 1;
    }
    // RFC 8446 section 5.1: no other record between the pieces of a handshake message.
    if (type != kHandshake && !handshake_.empty()) {
      if (!direct) pending_.clear();
      fail(SSL_R_UNEXPECTED_RECORD, "TLS record inside a split handshake message");
      break;
    }
    if (type == kApplicationData) {
      if (direct) {
        step.produced += content;
      } else {
        pending_.resize(content);
      }
      continue;
    }
    // Whatever ends the stream here (fail, close_notify) stops the loop at its top.
    if (type == kHandshake && tls12_) {
      fail(SSL_R_NO_RENEGOTIATION, "TLS 1.2 renegotiation is not supported");
    } else if (type == kHandshake) {
      take_handshake(text, content, &step);
    } else if (type == kAlert && content != 2) {
      fail(SSL_R_BAD_LENGTH, "malformed TLS alert");
    } else if (type == kAlert && text[1] == kCloseNotify) {
      final_ = Status::kClosed;
    } else if (type == kAlert && (tls12_ ? text[0] == kWarning : text[1] == kUserCanceled)) {
      // TLS 1.2 warnings pass, as in OpenSSL; in TLS 1.3 every alert but the two closure alerts
      // is an error whatever its level (section 6), and user_canceled is followed by close_notify.
    } else if (type == kAlert) {
      fail(SSL_AD_REASON_OFFSET + text[1],
           "TLS alert " + std::to_string(text[1]) + " from the server");
    } else {
      fail(SSL_R_UNEXPECTED_RECORD, "unexpected TLS content type " + std::to_string(type));
    }
    if (!direct) pending_.clear();
  }
  if (step.produced > 0) {
    step.status = Status::kOk;
  } else {
    step.status = final_ != Status::kOk ? final_ : Status::kNeedMore;
  }
  return step;
}

}  // namespace mmapurl::net
