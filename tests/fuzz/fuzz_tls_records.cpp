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
#include "tls_record_sealer.hpp"

using mmapurl::net::TlsRecordReader;
using mmapurl::tlsseal::Bytes;
using mmapurl::tlsseal::SealKeys;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const uint8_t pick = data[0] % 6;
  const size_t out_chunk = 1 + data[1] * 97u;  // 1 .. 24736
  const size_t in_chunk = 1 + data[2] * 131u;
  static const int kNids[] = {NID_aes_128_gcm, NID_aes_256_gcm, NID_chacha20_poly1305};
  const bool tls12 = pick >= 3;
  const int nid = kNids[pick % 3];
  std::string why;
  std::unique_ptr<TlsRecordReader> reader;
  SealKeys k;
  const Bytes secret(nid == NID_aes_256_gcm ? 48 : 32, 0x5a);
  const EVP_MD* digest = nid == NID_aes_256_gcm ? EVP_sha384() : EVP_sha256();
  uint64_t seq = 0;
  if (!tls12) {
    reader = TlsRecordReader::create_tls13(nid, digest, secret, &why);
    k = mmapurl::tlsseal::tls13_keys(nid, digest, secret);
  } else {
    const Bytes master(48, 0x11), client_random(32, 0x22), server_random(32, 0x33);
    reader =
        TlsRecordReader::create_tls12(nid, digest, master, client_random, server_random, 1, &why);
    k = mmapurl::tlsseal::tls12_keys(nid, digest, master, client_random, server_random);
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
      const Bytes rec = mmapurl::tlsseal::seal(k, seq++, 23, content);
      FUZZ_CHECK(!rec.empty());
      wire.insert(wire.end(), rec.begin(), rec.end());
      expected.insert(expected.end(), content.begin(), content.end());
    } else if (op == 3) {
      wire.insert(wire.end(), piece.begin(), piece.end());
      only_data = false;
    } else {
      const Bytes rec = mmapurl::tlsseal::seal(k, seq++, op == 1 ? 22 : 21, piece);
      FUZZ_CHECK(!rec.empty());
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
