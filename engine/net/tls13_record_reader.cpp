// Tls13RecordReader implementation (RFC 8446 sections 5.2-5.4 and 7.1-7.3).
#include "net/tls13_record_reader.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
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
constexpr size_t kMaxInnerPlaintext = (1u << 14) + 1;  // content + its type byte
constexpr size_t kMaxCiphertext = (1u << 14) + 256;    // section 5.2
constexpr size_t kMaxHandshakeBytes = 64 * 1024;       // a ticket is far smaller
constexpr uint8_t kNewSessionTicket = 4;
constexpr uint8_t kKeyUpdate = 24;
}  // namespace

std::vector<uint8_t> Tls13RecordReader::expand_label(const EVP_MD* digest,
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

  std::vector<uint8_t> out(length);
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* ctx = kdf != nullptr ? EVP_KDF_CTX_new(kdf) : nullptr;
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
  const bool ok = ctx != nullptr && EVP_KDF_derive(ctx, out.data(), out.size(), params) == 1;
  EVP_KDF_CTX_free(ctx);
  EVP_KDF_free(kdf);
  if (!ok) out.clear();
  return out;
}

std::unique_ptr<Tls13RecordReader> Tls13RecordReader::create(uint16_t cipher_id,
                                                             std::span<const uint8_t> secret,
                                                             std::string* error) {
  const EVP_CIPHER* cipher = nullptr;
  const EVP_MD* digest = nullptr;
  size_t key_bytes = 0;
  switch (cipher_id) {
    case 0x1301:  // TLS_AES_128_GCM_SHA256
      cipher = EVP_aes_128_gcm(), digest = EVP_sha256(), key_bytes = 16;
      break;
    case 0x1302:  // TLS_AES_256_GCM_SHA384
      cipher = EVP_aes_256_gcm(), digest = EVP_sha384(), key_bytes = 32;
      break;
    case 0x1303:  // TLS_CHACHA20_POLY1305_SHA256
      cipher = EVP_chacha20_poly1305(), digest = EVP_sha256(), key_bytes = 32;
      break;
    default:
      *error = "TLS 1.3 suite " + std::to_string(cipher_id) + " is left to OpenSSL";
      return nullptr;
  }
  if (secret.size() != static_cast<size_t>(EVP_MD_get_size(digest))) {
    *error = "traffic secret of " + std::to_string(secret.size()) + " bytes";
    return nullptr;
  }
  std::unique_ptr<Tls13RecordReader> reader(new Tls13RecordReader(cipher, digest, key_bytes));
  if (reader->ctx_ == nullptr || !reader->install_keys(secret)) {
    *error = "cannot set up TLS 1.3 record decryption";
    return nullptr;
  }
  return reader;
}

Tls13RecordReader::Tls13RecordReader(const EVP_CIPHER* cipher, const EVP_MD* digest,
                                     size_t key_bytes)
    : cipher_(cipher), digest_(digest), key_bytes_(key_bytes), ctx_(EVP_CIPHER_CTX_new()) {}

Tls13RecordReader::~Tls13RecordReader() {
  EVP_CIPHER_CTX_free(ctx_);
  if (!secret_.empty()) OPENSSL_cleanse(secret_.data(), secret_.size());
  OPENSSL_cleanse(iv_, sizeof iv_);
}

bool Tls13RecordReader::install_keys(std::span<const uint8_t> secret) {
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

bool Tls13RecordReader::open_record(const uint8_t* header, const uint8_t* body, size_t body_len,
                                    uint8_t* out) {
  uint8_t nonce[sizeof iv_];  // the IV with the record's sequence number xored into its end
  std::memcpy(nonce, iv_, sizeof nonce);
  for (int i = 0; i < 8; ++i) nonce[4 + i] ^= static_cast<uint8_t>(sequence_ >> (56 - 8 * i));
  const size_t text_len = body_len - kTagBytes;
  int n = 0;
  int last = 0;
  return EVP_DecryptInit_ex(ctx_, nullptr, nullptr, nullptr, nonce) == 1 &&
         EVP_DecryptUpdate(ctx_, nullptr, &n, header, kHeaderBytes) == 1 &&
         EVP_DecryptUpdate(ctx_, out, &n, body, static_cast<int>(text_len)) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_SET_TAG, kTagBytes,
                             const_cast<uint8_t*>(body + text_len)) == 1 &&
         EVP_DecryptFinal_ex(ctx_, out + n, &last) == 1;
}

void Tls13RecordReader::fail(int reason, std::string why) {
  if (final_ != Status::kOk) return;
  final_ = Status::kError;
  error_reason_ = reason;
  error_ = std::move(why);
}

bool Tls13RecordReader::take_handshake(const uint8_t* data, size_t len, Step* step) {
  if (len == 0) {
    fail(SSL_R_BAD_LENGTH, "empty TLS handshake record");
    return false;
  }
  if (handshake_.size() + len > kMaxHandshakeBytes) {
    fail(SSL_R_EXCESSIVE_MESSAGE_SIZE, "TLS handshake message after the handshake too large");
    return false;
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
      return false;
    }
    // Section 4.6.3: the next record is under the next secret, so nothing may follow.
    if (at != handshake_.size()) {
      fail(SSL_R_NOT_ON_RECORD_BOUNDARY, "TLS KeyUpdate not at a record's end");
      return false;
    }
    step->key_update_requested = step->key_update_requested || m[4] == 1;
    std::vector<uint8_t> next = expand_label(digest_, secret_, "traffic upd",
                                             static_cast<size_t>(EVP_MD_get_size(digest_)));
    const bool ok = !next.empty() && install_keys(next);
    if (!next.empty()) OPENSSL_cleanse(next.data(), next.size());
    if (!ok) {
      fail(SSL_R_BAD_KEY_UPDATE, "cannot derive the keys after a TLS KeyUpdate");
      return false;
    }
  }
  handshake_.erase(handshake_.begin(), handshake_.begin() + static_cast<ptrdiff_t>(at));
  return true;
}

Tls13RecordReader::Step Tls13RecordReader::read(const uint8_t* in, size_t in_len, uint8_t* out,
                                                size_t out_len) {
  Step step;
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
    if (header[0] != kApplicationData) {
      fail(SSL_R_UNEXPECTED_RECORD,
           "unexpected TLS record type " + std::to_string(header[0]) + " after the handshake");
      break;
    }
    const size_t body_len = size_t{header[3]} << 8 | header[4];
    if (body_len <= kTagBytes) {  // not even room for the content type
      fail(SSL_R_RECORD_TOO_SMALL, "TLS record of " + std::to_string(body_len) + " bytes");
      break;
    }
    if (body_len > kMaxCiphertext || body_len - kTagBytes > kMaxInnerPlaintext) {
      fail(SSL_R_PACKET_LENGTH_TOO_LONG, "TLS record of " + std::to_string(body_len) + " bytes");
      break;
    }
    if (available - kHeaderBytes < body_len) break;  // the rest has not arrived
    const size_t text_len = body_len - kTagBytes;
    // Straight into the caller's buffer when the whole record fits, else aside.
    const bool direct = out_len - step.produced >= text_len;
    if (!direct) pending_.resize(text_len);
    uint8_t* text = direct ? out + step.produced : pending_.data();
    if (!open_record(header, header + kHeaderBytes, body_len, text)) {
      pending_.clear();
      fail(SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC,
           "TLS record failed authentication (bad record MAC)");
      break;
    }
    step.consumed += kHeaderBytes + body_len;
    ++sequence_;
    size_t end = text_len;  // the content type is the last byte before the zero padding
    while (end > 0 && text[end - 1] == 0) --end;
    if (end == 0) {
      pending_.clear();
      fail(SSL_R_UNEXPECTED_RECORD, "TLS record without a content type");
      break;
    }
    const uint8_t type = text[end - 1];
    const size_t content = end - 1;
    if (type == kApplicationData) {
      if (direct) {
        step.produced += content;
      } else {
        pending_.resize(content);
      }
      continue;
    }
    bool keep_going = true;
    if (type == kHandshake) {
      keep_going = take_handshake(text, content, &step);
    } else if (type == kAlert && content == 2 && text[1] == 0) {
      final_ = Status::kClosed;  // close_notify
    } else if (type == kAlert && content == 2 && text[1] == 90) {
      // user_canceled: a close_notify follows.
    } else if (type == kAlert) {
      if (content == 2) {
        fail(SSL_AD_REASON_OFFSET + text[1],
             "TLS alert " + std::to_string(text[1]) + " from the server");
      } else {
        fail(SSL_R_BAD_LENGTH, "malformed TLS alert");
      }
    } else {
      fail(SSL_R_UNEXPECTED_RECORD, "unexpected TLS content type " + std::to_string(type));
    }
    if (!direct) pending_.clear();
    if (!keep_going) break;
  }
  if (step.produced > 0) {
    step.status = Status::kOk;
  } else {
    step.status = final_ != Status::kOk ? final_ : Status::kNeedMore;
  }
  return step;
}

}  // namespace mmapurl::net
