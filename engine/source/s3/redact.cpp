// Secret scrubbing for messages: one left-to-right scan that recognises the markers AWS uses
// for secrets and blanks what follows them up to the value's natural end.
#include "source/s3/redact.hpp"

#include <array>
#include <cctype>

namespace mmapurl::s3 {
namespace {

struct Marker {
  std::string_view name;
  bool to_end_of_line;  // header lines: the whole value goes
};

// Longer names first, so "X-Amz-Signature=" wins over "Signature=".
constexpr std::array<Marker, 8> kMarkers = {{
    {"x-amz-security-token=", false},
    {"x-amz-credential=", false},
    {"x-amz-signature=", false},
    {"x-amz-security-token:", true},
    {"x-aws-ec2-metadata-token:", true},
    {"authorization:", true},
    {"credential=", false},
    {"signature=", false},
}};

bool starts_with_nocase(std::string_view text, size_t pos, std::string_view lower_word) {
  if (pos + lower_word.size() > text.size()) return false;
  for (size_t i = 0; i < lower_word.size(); ++i) {
    char c = text[pos + i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower_word[i]) return false;
  }
  return true;
}

bool ends_query_value(char c) {
  return c == '&' || c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '"' ||
         c == '\'' || c == '#' || c == ';';
}

void replace_all(std::string& text, std::string_view secret) {
  if (secret.size() < 4) return;  // too short to be a secret; replacing would mangle text
  size_t pos = 0;
  while ((pos = text.find(secret, pos)) != std::string::npos) {
    text.replace(pos, secret.size(), kRedacted);
    pos += kRedacted.size();
  }
}

}  // namespace

std::string redact(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const Marker* hit = nullptr;
    // A marker counts only at a word start, so "MySignature=" is left alone.
    bool word_start = i == 0 || !(std::isalnum(static_cast<unsigned char>(text[i - 1])) ||
                                  text[i - 1] == '-' || text[i - 1] == '_');
    if (word_start) {
      for (const Marker& marker : kMarkers) {
        if (starts_with_nocase(text, i, marker.name)) {
          hit = &marker;
          break;
        }
      }
    }
    if (hit == nullptr) {
      out.push_back(text[i++]);
      continue;
    }
    out.append(text.substr(i, hit->name.size()));
    i += hit->name.size();
    if (hit->to_end_of_line) {
      while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) out.push_back(text[i++]);
      while (i < text.size() && text[i] != '\r' && text[i] != '\n') ++i;
    } else {
      while (i < text.size() && !ends_query_value(text[i])) ++i;
    }
    out.append(kRedacted);
  }
  return out;
}

std::string redact(std::string_view text, const Credentials& credentials) {
  std::string out(text);
  replace_all(out, credentials.secret_access_key);
  replace_all(out, credentials.session_token);
  return redact(out);
}

}  // namespace mmapurl::s3
