// Deterministic synthetic object content: every byte of every object is a function of (seed,
// offset), so the server generates bodies and clients verify them without storing the object.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace mmapurl::testserver {

// One step of splitmix64 applied to `x` (the state before the increment).
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The 8-byte aligned word at byte offset word_index*8 of object `seed`.
inline uint64_t synthetic_word(uint64_t seed, uint64_t word_index) {
  return splitmix64(seed ^ word_index);
}

inline void store_le64(uint8_t* dst, uint64_t v) {
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(dst, &v, 8);
  } else {
    for (int i = 0; i < 8; ++i) dst[i] = static_cast<uint8_t>(v >> (8 * i));
  }
}

// Writes bytes [offset, offset+len) of object `seed` to dst. Header-only so pure unit tests and
// hot verification loops need no library.
inline void fill_synthetic(uint64_t seed, uint64_t offset, uint8_t* dst, size_t len) {
  uint8_t word[8];
  const size_t head_skip = static_cast<size_t>(offset % 8);
  uint64_t index = offset / 8;
  if (head_skip != 0 && len > 0) {
    store_le64(word, synthetic_word(seed, index++));
    const size_t n = len < 8 - head_skip ? len : 8 - head_skip;
    std::memcpy(dst, word + head_skip, n);
    dst += n;
    len -= n;
  }
  for (; len >= 8; len -= 8, dst += 8) store_le64(dst, synthetic_word(seed, index++));
  if (len > 0) {
    store_le64(word, synthetic_word(seed, index));
    std::memcpy(dst, word, len);
  }
}

// True when data == bytes [offset, offset+len) of object `seed`; otherwise false and, when
// first_bad_offset is given, the object offset of the first wrong byte.
inline bool check_synthetic(uint64_t seed, uint64_t offset, const uint8_t* data, size_t len,
                            uint64_t* first_bad_offset) {
  constexpr size_t kBlock = 4096;
  uint8_t expected[kBlock];
  size_t done = 0;
  while (done < len) {
    const size_t n = len - done < kBlock ? len - done : kBlock;
    fill_synthetic(seed, offset + done, expected, n);
    if (std::memcmp(expected, data + done, n) != 0) {
      for (size_t i = 0; i < n; ++i) {
        if (expected[i] != data[done + i]) {
          if (first_bad_offset != nullptr) *first_bad_offset = offset + done + i;
          return false;
        }
      }
    }
    done += n;
  }
  return true;
}

}  // namespace mmapurl::testserver
