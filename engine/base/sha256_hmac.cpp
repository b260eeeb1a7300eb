// SHA-256 and HMAC-SHA256 via OpenSSL's one-shot EVP_Digest and HMAC() calls.
// One-shot calls keep no state between requests, so the signer is safe on any thread.
#include "base/sha256_hmac.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace mmapurl::base {

std::optional<Sha256Digest> sha256(std::string_view data) {
  Sha256Digest out{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr) != 1 ||
      len != out.size()) {
    return std::nullopt;
  }
  return out;
}

std::optional<Sha256Digest> hmac_sha256(std::string_view key, std::string_view data) {
  Sha256Digest out{};
  unsigned int len = 0;
  const unsigned char* result =
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
  if (result == nullptr || len != out.size()) return std::nullopt;
  return out;
}

std::string to_hex(const Sha256Digest& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(digest.size() * 2);
  for (uint8_t byte : digest) {
    out.push_back(kHex[byte >> 4]);
    out.push_back(kHex[byte & 0x0f]);
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  auto digest = sha256(data);
  return digest ? to_hex(*digest) : std::string();
}

}  // namespace mmapurl::base
