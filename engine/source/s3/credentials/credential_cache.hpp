// Process-wide cache of resolved AWS credentials. Temporary credentials are refreshed on a
// background thread before they expire and swapped in, so a mapping outlives a session token;
// signing (on the engine thread) only ever copies the current ones under a mutex.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "source/s3/config/aws_environment.hpp"
#include "source/s3/credentials/credentials.hpp"
#include "source/s3/credentials/provider_protocol.hpp"

namespace mmapurl::s3 {

// Fetches fresh credentials (the provider that gave the first ones); blocking, any thread.
using CredentialFetcher = std::function<CredentialsParse()>;

class RefreshingCredentials : public std::enable_shared_from_this<RefreshingCredentials> {
 public:
  using SystemClock = std::chrono::system_clock;

  RefreshingCredentials(Credentials initial, std::string provider, CredentialFetcher fetcher);

  // The credentials to sign with now. Starts a background refresh when they are close to
  // expiry (within 5 minutes, or half their lifetime when that is shorter); never blocks on it.
  Credentials current();
  // S3 said ExpiredToken: refresh now (in the background). True if a retry may succeed.
  bool on_expired_token();
  // S3 said InvalidToken: true while a refresh runs or just after a swap (the rejected request
  // was probably signed with the old credentials), so a retry may succeed.
  bool changing_credentials() const;
  // Blocks until a running refresh finishes (tests, and a clean exit).
  void wait_for_refresh(std::chrono::milliseconds timeout) const;

  const std::string& provider() const { return provider_; }
  bool refreshable() const { return static_cast<bool>(fetcher_); }
  uint64_t generation() const;

 private:
  bool refresh_due(SystemClock::time_point now) const;  // mutex held
  void start_refresh(SystemClock::time_point now);      // mutex held
  void finish_refresh(CredentialsParse fetched);

  mutable std::mutex mutex_;
  mutable std::condition_variable refreshed_;
  Credentials credentials_;
  SystemClock::time_point fetched_at_;
  SystemClock::time_point swapped_at_{};
  SystemClock::time_point next_attempt_{};
  bool refreshing_ = false;
  int failed_refreshes_ = 0;
  uint64_t generation_ = 0;
  const std::string provider_;
  const CredentialFetcher fetcher_;
};

struct CredentialLookup {
  std::shared_ptr<RefreshingCredentials> credentials;  // null with `error` set
  std::string error;                                   // names the chain tried; no secrets
};

// The credentials for this environment. Static keys from the environment or the shared files
// are read afresh each time (cheap, and edits take effect); credentials from credential_process
// or the network are cached per configuration (the AWS_* variables that select them) and
// shared by every mapping that uses that configuration.
CredentialLookup credentials_for(const AwsEnvironment& environment);

// How many configurations the process-wide cache holds now (at most 64).
size_t cached_credential_configurations();

}  // namespace mmapurl::s3
