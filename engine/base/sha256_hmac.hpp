// SHA-256 digests and HMAC-SHA256 through OpenSSL, the only primitives SigV4 needs.
// Failures (which OpenSSL reports only on allocation failure) come back as std::nullopt.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mmapurl::base {

using Sha256Digest = std::array<uint8_t, 32>;

std::optional<Sha256Digest> sha256(std::string_view data);
std::optional<Sha256Digest> hmac_sha256(std::string_view key, std::string_view data);

// Lower-case hexadecimal, as SigV4 writes every hash and signature.
std::string to_hex(const Sha256Digest& digest);

// Hex SHA-256 of `data`; empty string if OpenSSL failed.
std::string sha256_hex(std::string_view data);

// The hex SHA-256 of an empty payload (GET/HEAD bodies), "e3b0c442...b855".
inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

}  // namespace mmapurl::base
