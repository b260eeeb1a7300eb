// TlsRecordReader: decrypts the records a TLS server sends after the handshake straight from the
// receive buffer into the caller's buffer. Through OpenSSL every body byte was copied twice more
// (out of the receive buffer into OpenSSL's record buffer, then out of that into the staging
// ring): 11% of all CPU samples of a loopback HTTPS scan, a fifth of the engine's share. Only the
// read side: requests still go out through OpenSSL, which keeps its own write keys.
//
// Pure logic over OpenSSL's crypto: no socket. TLS 1.3 and TLS 1.2 with the AEADs servers offer
// (AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305); other suites are not created and the stream
// stays on OpenSSL. TLS 1.3 handshake records after the handshake: NewSessionTicket is dropped
// (the engine does not resume sessions), KeyUpdate re-keys and, when the server asks, says so
// (the caller then has OpenSSL send ours). TLS 1.2 renegotiation is refused. A record that fails
// authentication, an alert or anything unexpected is an error, and no byte of a record that
// failed reaches the caller.
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace mmapurl::net {

class TlsRecordReader {
 public:
  enum class Status {
    kOk,        // `produced` bytes of application data (more may follow)
    kNeedMore,  // nothing produced: the next record is not complete in the input
    kClosed,    // the server's close_notify, after every byte before it was produced
    kError,     // see error(); sticky, like kClosed
  };
  struct Step {
    size_t consumed = 0;  // input bytes taken (whole records only)
    size_t produced = 0;  // plaintext bytes written to the output
    Status status = Status::kOk;
    bool key_update_requested = false;  // TLS 1.3: the server asked for our KeyUpdate
  };

  // TLS 1.3. `cipher_nid` is the suite's AEAD (SSL_CIPHER_get_cipher_nid), `digest` its hash
  // (SSL_CIPHER_get_handshake_digest), `secret` the server's application traffic secret. Null
  // (and `error`) for an AEAD this reader lacks.
  static std::unique_ptr<TlsRecordReader> create_tls13(int cipher_nid, const EVP_MD* digest,
                                                       std::span<const uint8_t> secret,
                                                       std::string* error);
  // TLS 1.2: the keys come from the session's master secret and both hello randoms through the
  // PRF of `prf_digest`; `next_sequence` is the number of the next record the server sends
  // (1 after a handshake: its Finished was record 0).
  static std::unique_ptr<TlsRecordReader> create_tls12(int cipher_nid, const EVP_MD* prf_digest,
                                                       std::span<const uint8_t> master_secret,
                                                       std::span<const uint8_t> client_random,
                                                       std::span<const uint8_t> server_random,
                                                       uint64_t next_sequence, std::string* error);
  ~TlsRecordReader();
  TlsRecordReader(const TlsRecordReader&) = delete;
  TlsRecordReader& operator=(const TlsRecordReader&) = delete;

  // Decrypts whole records of `in` into `out` until `out` is full or `in` holds no complete
  // record. A record whose plaintext does not fit in what is left of `out` is decrypted aside
  // and handed out over the next calls. An empty `out` takes nothing (kOk, nothing produced).
  Step read(const uint8_t* in, size_t in_len, uint8_t* out, size_t out_len);

  // Application data decrypted and not yet handed out.
  size_t pending() const { return pending_.size() - pending_offset_; }
  // The server closed or the stream failed: nothing more will come.
  bool finished() const { return final_ != Status::kOk; }
  const std::string& error() const { return error_; }
  // OpenSSL's reason code for the error (SSL_R_*, or SSL_AD_REASON_OFFSET + an alert), so it
  // reads like the same failure inside OpenSSL.
  int error_reason() const { return error_reason_; }

  // HKDF-Expand-Label(secret, label, "", length) of RFC 8446 section 7.1. Empty on failure.
  static std::vector<uint8_t> expand_label(const EVP_MD* digest, std::span<const uint8_t> secret,
                                           const std::string& label, size_t length);
  // The TLS 1.2 key block (RFC 5246 section 6.3). Empty on failure.
  static std::vector<uint8_t> tls12_key_block(const EVP_MD* digest,
                                              std::span<const uint8_t> master_secret,
                                              std::span<const uint8_t> client_random,
                                              std::span<const uint8_t> server_random,
                                              size_t length);

 private:
  TlsRecordReader(const EVP_CIPHER* cipher, const EVP_MD* digest, size_t key_bytes);
  bool install_keys(std::span<const uint8_t> secret);  // TLS 1.3
  // Decrypts one record body into `out` (room for its plaintext); false if it fails
  // authentication.
  bool open_record(const uint8_t* header, const uint8_t* body, size_t body_len, uint8_t* out);
  // TLS 1.3: the content of a decrypted handshake record, NewSessionTicket or KeyUpdate; fails
  // the stream on anything else.
  void take_handshake(const uint8_t* data, size_t len, Step* step);
  void fail(int reason, std::string why);

  const EVP_CIPHER* cipher_;
  const EVP_MD* digest_;  // TLS 1.3 only
  size_t key_bytes_;
  bool tls12_ = false;
  bool explicit_nonce_ = false;  // TLS 1.2 GCM: each record carries 8 bytes of its nonce
  EVP_CIPHER_CTX* ctx_ = nullptr;
  std::vector<uint8_t> secret_;  // TLS 1.3: current traffic secret (KeyUpdate derives the next)
  uint8_t iv_[12] = {};          // TLS 1.2 GCM: the first 4 bytes (the salt)
  uint64_t sequence_ = 0;
  std::vector<uint8_t> pending_;  // a decrypted record that did not fit
  size_t pending_offset_ = 0;
  std::vector<uint8_t> handshake_;  // handshake bytes of a message split across records
  Status final_ = Status::kOk;      // kClosed or kError once reached
  std::string error_;
  int error_reason_ = 0;
};

}  // namespace mmapurl::net
