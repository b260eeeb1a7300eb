// The process-backed AwsEnvironment: getenv, bounded whole-file reads and the passwd entry.
// Everything above it stays pure and is tested with fakes.
#include "source/s3/config/aws_environment.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

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
    // Not std::ifstream: its descriptor would lack O_CLOEXEC, and a program another thread
    // execs meanwhile would inherit it.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::string data;
    char buffer[16384];
    while (data.size() <= kMaxBytes) {
      ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        ::close(fd);
        return std::nullopt;
      }
      if (n == 0) break;
      data.append(buffer, static_cast<size_t>(n));
    }
    ::close(fd);
    if (data.size() > kMaxBytes) return std::nullopt;
    return data;
  };
  environment.passwd_home = []() -> std::optional<std::string> {
    long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
    std::vector<char> buffer(size > 0 ? static_cast<size_t>(size) : 16384);
    passwd entry{};
    passwd* found = nullptr;
    while (::getpwuid_r(::geteuid(), &entry, buffer.data(), buffer.size(), &found) == ERANGE &&
           buffer.size() < (1u << 20)) {
      buffer.resize(buffer.size() * 2);
    }
    if (found == nullptr || found->pw_dir == nullptr || found->pw_dir[0] == '\0') {
      return std::nullopt;
    }
    return std::string(found->pw_dir);
  };
  return environment;
}

std::optional<std::string> home_directory(const AwsEnvironment& environment) {
  if (auto home = environment.get("HOME")) return home;
  if (environment.passwd_home) return environment.passwd_home();
  return std::nullopt;
}

std::optional<std::string> expand_home(const std::string& path, const AwsEnvironment& environment) {
  if (path == "~" || path.rfind("~/", 0) == 0) {
    auto home = home_directory(environment);
    if (!home) return std::nullopt;
    return *home + path.substr(1);
  }
  return path;
}

}  // namespace mmapurl::s3
