// Seals TLS records as a server would, for testing TlsRecordReader: TLS 1.3 and TLS 1.2 AEAD
// records (AES-GCM with its explicit nonce, ChaCha20-Poly1305) under given write keys. Used by
// the fuzz target fuzz_tls_records and the unit tests' crafted records.
#pragma once

#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "net/tls_record_reader.hpp"

namespace mmapurl::tlsseal {

using Bytes = std::vector<uint8_t>;

struct SealKeys {
  bool tls12 = false;
  int nid = NID_aes_128_gcm;
  const EVP_CIPHER* cipher = nullptr;
  Bytes key, iv;  // the server's write key and IV (TLS 1.2 GCM: the 4-byte salt)
};

inline const EVP_CIPHER* cipher_of(int nid) {
  return nid == NID_aes_128_gcm   ? EVP_aes_128_gcm()
         : nid == NID_aes_256_gcm ? EVP_aes_256_gcm()
                                  : EVP_chacha20_poly1305();
}
inline size_t key_bytes_of(int nid) { return nid == NID_aes_128_gcm ? 16 : 32; }

// The server's write keys from its TLS 1.3 application traffic secret.
inline SealKeys tls13_keys(int nid, const EVP_MD* digest, std::span<const uint8_t> secret) {
  SealKeys k{false, nid, cipher_of(nid), {}, {}};
  k.key = net::TlsRecordReader::expand_label(digest, secret, "key", key_bytes_of(nid));
  k.iv = net::TlsRecordReader::expand_label(digest, secret, "iv", 12);
  return k;
}

// The server's write keys from a TLS 1.2 master secret and both randoms.
inline SealKeys tls12_keys(int nid, const EVP_MD* digest, std::span<const uint8_t> master,
                           std::span<const uint8_t> client_random,
                           std::span<const uint8_t> server_random) {
  SealKeys k{true, nid, cipher_of(nid), {}, {}};
  const size_t key_len = key_bytes_of(nid);
  const size_t iv_len = nid == NID_chacha20_poly1305 ? 12 : 4;
  const Bytes block = net::TlsRecordReader::tls12_key_block(
      digest, master, client_random, server_random, 2 * key_len + 2 * iv_len);
  if (block.empty()) return k;
  k.key.assign(block.begin() + key_len, block.begin() + 2 * key_len);
  k.iv.assign(block.begin() + 2 * key_len + iv_len, block.end());
  return k;
}

// Record number `seq` of type `type` holding `content`; empty if OpenSSL fails.
inline Bytes seal(const SealKeys& k, uint64_t seq, uint8_t type, const Bytes& content) {
  const bool explicit_nonce = k.tls12 && k.nid != NID_chacha20_poly1305;
  Bytes text = content;
  if (!k.tls12) text.push_back(type);  // TLS 1.3: the inner content type
  uint8_t nonce[12];
  uint8_t explicit_bytes[8];
  for (int i = 0; i < 8; ++i) explicit_bytes[i] = static_cast<uint8_t>(seq >> (56 - 8 * i));
  if (explicit_nonce) {
    std::memcpy(nonce, k.iv.data(), 4);
    std::memcpy(nonce + 4, explicit_bytes, 8);
  } else {
    std::memcpy(nonce, k.iv.data(), 12);
    for (int i = 0; i < 8; ++i) nonce[4 + i] ^= explicit_bytes[i];
  }
  const size_t body = (explicit_nonce ? 8 : 0) + text.size() + 16;
  const size_t at = 5 + (explicit_nonce ? 8 : 0);  // where the ciphertext starts
  Bytes rec(at + text.size() + 16);
  rec[0] = k.tls12 ? type : uint8_t{23};  // TLS 1.3: application_data on the wire
  rec[1] = rec[2] = 3;
  rec[3] = static_cast<uint8_t>(body >> 8);
  rec[4] = static_cast<uint8_t>(body);
  uint8_t aad[13];
  size_t aad_len = 5;
  if (k.tls12) {
    std::memcpy(aad, explicit_bytes, 8);
    std::memcpy(aad + 8, rec.data(), 3);
    aad[11] = static_cast<uint8_t>(text.size() >> 8);
    aad[12] = static_cast<uint8_t>(text.size());
    aad_len = 13;
  } else {
    std::memcpy(aad, rec.data(), 5);
  }
  if (explicit_nonce) std::memcpy(rec.data() + 5, explicit_bytes, 8);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int n = 0;
  int last = 0;
  const bool ok =
      ctx != nullptr && EVP_EncryptInit_ex(ctx, k.cipher, nullptr, k.key.data(), nonce) == 1 &&
      EVP_EncryptUpdate(ctx, nullptr, &n, aad, static_cast<int>(aad_len)) == 1 &&
      EVP_EncryptUpdate(ctx, rec.data() + at, &n, text.data(), static_cast<int>(text.size())) ==
          1 &&
      EVP_EncryptFinal_ex(ctx, rec.data() + at + n, &last) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, rec.data() + at + text.size()) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok) rec.clear();
  return rec;
}

}  // namespace mmapurl::tlsseal
