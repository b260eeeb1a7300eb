// The process-backed AwsEnvironment: getenv and bounded whole-file reads.
// Everything above it stays pure and is tested with fakes.
#include "source/s3/aws_environment.hpp"

#include <cstdlib>
#include <fstream>

namespace mmapurl::s3 {

std::optional<std::string> AwsEnvironment::get(const char* name) const {
  if (!env) return std::nullopt;
  auto value = env(name);
  if (!value || value->empty()) return std::nullopt;
  return value;
}

AwsEnvironment process_aws_environment() {
  AwsEnvironment environment;
  environment.env = [](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
  environment.read_file = [](const std::string& path) -> std::optional<std::string> {
    constexpr size_t kMaxBytes = 1 << 20;
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::string data(kMaxBytes + 1, '\0');
    in.read(data.data(), static_cast<std::streamsize>(data.size()));
    if (in.bad()) return std::nullopt;
    data.resize(static_cast<size_t>(in.gcount()));
    if (data.size() > kMaxBytes) return std::nullopt;
    return data;
  };
  return environment;
}

std::string expand_home(const std::string& path, const AwsEnvironment& environment) {
  if (path == "~" || path.rfind("~/", 0) == 0) {
    if (auto home = environment.get("HOME")) return *home + path.substr(1);
  }
  return path;
}

}  // namespace mmapurl::s3
