// A small strict JSON reader for the few AWS documents we parse (credential_process output,
// container and IMDS credentials): enough JSON to read them right, no more.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mmapurl::s3 {

struct JsonValue {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  std::string text;  // decoded string, or a number's literal text
  std::vector<JsonValue> array;
  // Objects, in document order: member_names[i] names member_values[i]. (Two vectors, because
  // std::vector, unlike std::pair, may hold the still-incomplete JsonValue.)
  std::vector<std::string> member_names;
  std::vector<JsonValue> member_values;

  // The member named `name` (the last one if repeated), or nullptr.
  const JsonValue* find(std::string_view name) const;
  // The member's string value, if it is a string.
  std::optional<std::string> string_member(std::string_view name) const;
};

// Parses a whole document (surrounding whitespace allowed). std::nullopt when malformed or
// nested deeper than 64 levels.
std::optional<JsonValue> parse_json(std::string_view text);

}  // namespace mmapurl::s3
