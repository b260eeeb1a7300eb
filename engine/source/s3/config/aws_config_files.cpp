// INI parsing with the shared-config conventions of the AWS SDKs (botocore's configparser in
// particular): '#'/';' comments, "[profile x]" sections in config, indented sub-properties.
#include "source/s3/config/aws_config_files.hpp"

#include <vector>

namespace mmapurl::s3 {
namespace {

std::string_view trim(std::string_view text) {
  size_t begin = 0;
  while (begin < text.size() && (text[begin] == ' ' || text[begin] == '\t')) ++begin;
  size_t end = text.size();
  while (end > begin && (text[end - 1] == ' ' || text[end - 1] == '\t')) --end;
  return text.substr(begin, end - begin);
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// A '#' or ';' preceded by whitespace starts a comment inside a value.
std::string_view strip_inline_comment(std::string_view value) {
  for (size_t i = 1; i < value.size(); ++i) {
    if ((value[i] == '#' || value[i] == ';') && (value[i - 1] == ' ' || value[i - 1] == '\t')) {
      return trim(value.substr(0, i));
    }
  }
  return value;
}

// The profile a section header names, or std::nullopt for sections this kind ignores.
std::optional<std::string> section_profile(std::string_view header, AwsIniKind kind) {
  std::string_view name = trim(header);
  if (kind == AwsIniKind::kCredentials) {
    if (name.empty()) return std::nullopt;
    return std::string(name);
  }
  if (name == "default") return std::string(name);
  constexpr std::string_view kPrefix = "profile";
  if (name.size() > kPrefix.size() && name.substr(0, kPrefix.size()) == kPrefix &&
      (name[kPrefix.size()] == ' ' || name[kPrefix.size()] == '\t')) {
    std::string_view profile = trim(name.substr(kPrefix.size()));
    if (!profile.empty()) return std::string(profile);
  }
  return std::nullopt;  // [sso-session x], [services x], or a bare [x] in the config file
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

}  // namespace

AwsProfiles parse_aws_ini(std::string_view text, AwsIniKind kind) {
  AwsProfiles profiles;
  AwsProfile* current = nullptr;
  std::string last_key;  // the last top-level property, for indented lines that follow it
  for (std::string_view raw : split_lines(text)) {
    std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      size_t close = line.find(']');
      current = nullptr;
      last_key.clear();
      if (close == std::string_view::npos) continue;
      if (auto name = section_profile(line.substr(1, close - 1), kind)) {
        current = &profiles[*name];
      }
      continue;
    }
    if (current == nullptr) continue;
    bool indented = raw.front() == ' ' || raw.front() == '\t';
    size_t eq = line.find('=');
    if (indented && !last_key.empty()) {
      auto parent = current->find(last_key);
      if (parent != current->end() && parent->second.empty() && eq != std::string_view::npos) {
        std::string sub_key = lower(trim(line.substr(0, eq)));
        (*current)[last_key + "." + sub_key] =
            std::string(strip_inline_comment(trim(line.substr(eq + 1))));
      } else if (parent != current->end() && !parent->second.empty()) {
        parent->second += "\n" + std::string(line);  // continuation of a multi-line value
      }
      continue;
    }
    if (eq == std::string_view::npos) continue;
    std::string key = lower(trim(line.substr(0, eq)));
    if (key.empty()) continue;
    (*current)[key] = std::string(strip_inline_comment(trim(line.substr(eq + 1))));
    last_key = key;
  }
  return profiles;
}

std::optional<std::string> ActiveProfile::get(const std::string& property) const {
  if (from_credentials) {
    auto it = from_credentials->find(property);
    if (it != from_credentials->end() && !it->second.empty()) return it->second;
  }
  if (from_config) {
    auto it = from_config->find(property);
    if (it != from_config->end() && !it->second.empty()) return it->second;
  }
  return std::nullopt;
}

ActiveProfile load_active_profile(const AwsEnvironment& environment) {
  ActiveProfile profile;
  if (auto name = environment.get("AWS_PROFILE")) {
    profile.name = *name;
    profile.named_explicitly = true;
  } else if (auto legacy = environment.get("AWS_DEFAULT_PROFILE")) {
    profile.name = *legacy;
    profile.named_explicitly = true;
  } else {
    profile.name = "default";
  }
  // A path that needs a home directory when there is none is not read: no file is found.
  const std::string credentials_file =
      environment.get("AWS_SHARED_CREDENTIALS_FILE").value_or("~/.aws/credentials");
  const std::string config_file = environment.get("AWS_CONFIG_FILE").value_or("~/.aws/config");
  std::optional<std::string> credentials_path = expand_home(credentials_file, environment);
  std::optional<std::string> config_path = expand_home(config_file, environment);
  profile.credentials_path = credentials_path.value_or(credentials_file + " (no home directory)");
  profile.config_path = config_path.value_or(config_file + " (no home directory)");
  if (environment.read_file) {
    std::optional<std::string> text;
    if (credentials_path) text = environment.read_file(*credentials_path);
    if (text) {
      auto profiles = parse_aws_ini(*text, AwsIniKind::kCredentials);
      if (auto it = profiles.find(profile.name); it != profiles.end()) {
        profile.from_credentials = it->second;
      }
    }
    text.reset();
    if (config_path) text = environment.read_file(*config_path);
    if (text) {
      auto profiles = parse_aws_ini(*text, AwsIniKind::kConfig);
      if (auto it = profiles.find(profile.name); it != profiles.end()) {
        profile.from_config = it->second;
      }
    }
  }
  return profile;
}

}  // namespace mmapurl::s3
