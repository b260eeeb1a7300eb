// Fuzz target: TlsRecordReader on records sealed under known keys (so the fuzzer reaches what
// follows authentication: padding, content types, split handshake messages, alerts) mixed with
// raw bytes, read through random input and output sizes.
// Input: byte 0 picks the version and AEAD, bytes 1-2 the output and input chunk sizes; then
// ops, each a byte (op % 4: 0 application data, 1 handshake, 2 alert, 3 raw unsealed bytes), a
// length byte and that many content bytes (application data repeats them up to 16 KiB).
// Properties: whatever happens, what the reader produces is a prefix of the sealed application
// data in order (a record that is not authentic never yields a byte); with application data
// records only, it produces all of it.
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "net/tls_record_reader.hpp"

using mmapurl::net::TlsRecordReader;
using Bytes = std::vector<uint8_t>;

namespace {

struct Keys {
  bool tls12;
  int nid;
  const EVP_CIPHER* cipher;
  Bytes key, iv;  // the server's write key and IV (TLS 1.2 GCM: the 4-byte salt)
};

Bytes seal(const Keys& k, uint64_t seq, uint8_t type, const Bytes& content) {
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
  rec[0] = k.tls12 ? type : uint8_t{23};
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
  FUZZ_CHECK(EVP_EncryptInit_ex(ctx, k.cipher, nullptr, k.key.data(), nonce) == 1);
  FUZZ_CHECK(EVP_EncryptUpdate(ctx, nullptr, &n, aad, static_cast<int>(aad_len)) == 1);
  FUZZ_CHECK(
      EVP_EncryptUpdate(ctx, rec.data() + at, &n, text.data(), static_cast<int>(text.size())) == 1);
  FUZZ_CHECK(EVP_EncryptFinal_ex(ctx, rec.data() + at + n, &n) == 1);
  FUZZ_CHECK(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, rec.data() + at + text.size()) ==
             1);
  EVP_CIPHER_CTX_free(ctx);
  return rec;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const uint8_t pick = data[0] % 6;
  const size_t out_chunk = 1 + data[1] * 97u;  // 1 .. 24736
  const size_t in_chunk = 1 + data[2] * 131u;
  static const int kNids[] = {NID_aes_128_gcm, NID_aes_256_gcm, NID_chacha20_poly1305};
  Keys k{pick >= 3, kNids[pick % 3], nullptr, {}, {}};
  std::string why;
  std::unique_ptr<TlsRecordReader> reader;
  const Bytes secret(k.nid == NID_aes_256_gcm ? 48 : 32, 0x5a);
  const EVP_MD* digest = k.nid == NID_aes_256_gcm ? EVP_sha384() : EVP_sha256();
  const size_t key_len = k.nid == NID_aes_128_gcm ? 16 : 32;
  k.cipher = k.nid == NID_aes_128_gcm   ? EVP_aes_128_gcm()
             : k.nid == NID_aes_256_gcm ? EVP_aes_256_gcm()
                                        : EVP_chacha20_poly1305();
  uint64_t seq = 0;
  if (!k.tls12) {
    reader = TlsRecordReader::create_tls13(k.nid, digest, secret, &why);
    k.key = TlsRecordReader::expand_label(digest, secret, "key", key_len);
    k.iv = TlsRecordReader::expand_label(digest, secret, "iv", 12);
  } else {
    const Bytes master(48, 0x11), client_random(32, 0x22), server_random(32, 0x33);
    const size_t iv_len = k.nid == NID_chacha20_poly1305 ? 12 : 4;
    reader =
        TlsRecordReader::create_tls12(k.nid, digest, master, client_random, server_random, 1, &why);
    const Bytes block = TlsRecordReader::tls12_key_block(digest, master, client_random,
                                                         server_random, 2 * key_len + 2 * iv_len);
    k.key.assign(block.begin() + key_len, block.begin() + 2 * key_len);
    k.iv.assign(block.begin() + 2 * key_len + iv_len, block.end());
    seq = 1;
  }
  FUZZ_CHECK(reader != nullptr);

  Bytes wire, expected;
  bool only_data = true;
  // Up to 256 KiB of records keeps an input fast when the input arrives a byte at a time.
  for (size_t at = 3; at + 2 <= size && wire.size() < (256u << 10);) {
    const uint8_t op = data[at] % 4;
    const size_t len = std::min<size_t>(data[at + 1], size - at - 2);
    const Bytes piece(data + at + 2, data + at + 2 + len);
    at += 2 + len;
    if (op == 0) {
      Bytes content;
      const size_t want = piece.empty() ? 0 : std::min<size_t>(piece.size() * 64, 16384);
      while (content.size() < want) content.insert(content.end(), piece.begin(), piece.end());
      content.resize(want);
      const Bytes rec = seal(k, seq++, 23, content);
      wire.insert(wire.end(), rec.begin(), rec.end());
      expected.insert(expected.end(), content.begin(), content.end());
    } else if (op == 3) {
      wire.insert(wire.end(), piece.begin(), piece.end());
      only_data = false;
    } else {
      const Bytes rec = seal(k, seq++, op == 1 ? 22 : 21, piece);
      wire.insert(wire.end(), rec.begin(), rec.end());
      only_data = false;
    }
  }

  Bytes got;
  Bytes out(out_chunk);
  size_t begin = 0, end = 0;
  // Ends: every turn consumes, produces, takes more input or stops.
  while (true) {
    const auto step = reader->read(wire.data() + begin, end - begin, out.data(), out.size());
    FUZZ_CHECK(step.consumed <= end - begin && step.produced <= out.size());
    begin += step.consumed;
    got.insert(got.end(), out.begin(), out.begin() + static_cast<ptrdiff_t>(step.produced));
    FUZZ_CHECK(got.size() <= expected.size() &&
               std::equal(got.begin(), got.end(), expected.begin()));
    if (step.status == TlsRecordReader::Status::kNeedMore) {
      if (end == wire.size()) break;
      end = std::min(wire.size(), end + in_chunk);
    } else if (step.status != TlsRecordReader::Status::kOk) {
      break;
    }
  }
  if (only_data) FUZZ_CHECK(got == expected && reader->pending() == 0);
  return 0;
}
