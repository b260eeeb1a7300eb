// Credential cache and refresher: one RefreshingCredentials per credential configuration, a
// detached refresher thread per refresh (it holds the object alive), swaps under a mutex.
#include "source/s3/credentials/credential_cache.hpp"

#include <map>
#include <thread>

#include "base/sha256_hmac.hpp"
#include "source/s3/credentials/credential_provider_io.hpp"

namespace mmapurl::s3 {

using base::sha256_hex;

namespace {

constexpr std::chrono::seconds kRefreshMargin{300};
constexpr std::chrono::seconds kRetryAfterFailedRefresh{1};
constexpr std::chrono::seconds kSwapGrace{15};

// The variables that select where credentials come from; their values (secrets included) are
// hashed, never kept in clear.
constexpr const char* kSelectingVariables[] = {"AWS_ACCESS_KEY_ID",
                                               "AWS_SECRET_ACCESS_KEY",
                                               "AWS_SESSION_TOKEN",
                                               "AWS_SECURITY_TOKEN",
                                               "AWS_PROFILE",
                                               "AWS_SHARED_CREDENTIALS_FILE",
                                               "AWS_CONFIG_FILE",
                                               "HOME",
                                               "AWS_WEB_IDENTITY_TOKEN_FILE",
                                               "AWS_ROLE_ARN",
                                               "AWS_ROLE_SESSION_NAME",
                                               "AWS_ENDPOINT_URL_STS",
                                               "AWS_REGION",
                                               "AWS_DEFAULT_REGION",
                                               "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                                               "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                               "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                                               "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                                               "AWS_EC2_METADATA_DISABLED",
                                               "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                                               "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
                                               "AWS_CA_BUNDLE"};

std::string configuration_key(const AwsEnvironment& environment) {
  std::string text;
  for (const char* name : kSelectingVariables) {
    auto value = environment.get(name);
    text += name;
    text += value ? "=" + *value : std::string("-");
    text.push_back('\0');
  }
  return sha256_hex(text);
}

// One entry per AWS configuration that got credentials from the network or a process. A
// service that switches configurations all day (a profile per tenant) must not grow without end:
// past kMaxCachedConfigurations the least recently used is forgotten (its mappings keep their
// credentials; a later lookup resolves it again).
constexpr size_t kMaxCachedConfigurations = 64;
struct CachedCredentials {
  std::shared_ptr<RefreshingCredentials> credentials;
  uint64_t last_use = 0;
};
std::mutex g_cache_mutex;
std::map<std::string, CachedCredentials> g_cache;
uint64_t g_cache_uses = 0;

void forget_least_recently_used() {
  auto oldest = g_cache.begin();
  for (auto it = g_cache.begin(); it != g_cache.end(); ++it) {
    if (it->second.last_use < oldest->second.last_use) oldest = it;
  }
  if (oldest != g_cache.end()) g_cache.erase(oldest);
}

}  // namespace

RefreshingCredentials::RefreshingCredentials(Credentials initial, std::string provider,
                                             CredentialFetcher fetcher)
    : credentials_(std::move(initial)),
      fetched_at_(SystemClock::now()),
      provider_(std::move(provider)),
      fetcher_(std::move(fetcher)) {}

bool RefreshingCredentials::refresh_due(SystemClock::time_point now) const {
  if (!fetcher_ || !credentials_.expiration) return false;
  auto lifetime = *credentials_.expiration - fetched_at_;
  auto margin = std::min<SystemClock::duration>(kRefreshMargin, lifetime / 2);
  return now + margin >= *credentials_.expiration;
}

void RefreshingCredentials::start_refresh(SystemClock::time_point now) {
  if (refreshing_ || !fetcher_ || now < next_attempt_) return;
  refreshing_ = true;
  auto self = shared_from_this();
  try {
    std::thread([self] { self->finish_refresh(self->fetcher_()); }).detach();
  } catch (...) {
    refreshing_ = false;  // no thread today: the next request tries again
    next_attempt_ = now + kRetryAfterFailedRefresh;
  }
}

void RefreshingCredentials::finish_refresh(CredentialsParse fetched) {
  std::lock_guard lock(mutex_);
  auto now = SystemClock::now();
  refreshing_ = false;
  bool usable = fetched.credentials &&
                (!fetched.credentials->expiration || *fetched.credentials->expiration > now);
  if (usable) {
    credentials_ = std::move(*fetched.credentials);
    fetched_at_ = now;
    swapped_at_ = now;
    ++generation_;
    failed_refreshes_ = 0;
  } else {
    ++failed_refreshes_;
    next_attempt_ = now + kRetryAfterFailedRefresh;
  }
  refreshed_.notify_all();
}

Credentials RefreshingCredentials::current() {
  std::lock_guard lock(mutex_);
  auto now = SystemClock::now();
  if (refresh_due(now)) start_refresh(now);
  return credentials_;
}

bool RefreshingCredentials::on_expired_token() {
  std::lock_guard lock(mutex_);
  if (!fetcher_) return false;
  auto now = SystemClock::now();
  if (now - swapped_at_ < kSwapGrace) return true;  // already replaced: retry with the new ones
  if (failed_refreshes_ >= 3) return false;
  if (!refreshing_) next_attempt_ = {};  // S3 knows best: refresh whatever the clock says
  start_refresh(now);
  return true;
}

bool RefreshingCredentials::changing_credentials() const {
  std::lock_guard lock(mutex_);
  return refreshing_ || (generation_ > 0 && SystemClock::now() - swapped_at_ < kSwapGrace);
}

void RefreshingCredentials::wait_for_refresh(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  refreshed_.wait_for(lock, timeout, [this] { return !refreshing_; });
}

uint64_t RefreshingCredentials::generation() const {
  std::lock_guard lock(mutex_);
  return generation_;
}

CredentialLookup credentials_for(const AwsEnvironment& environment) {
  CredentialLookup out;
  std::string key = configuration_key(environment);
  {
    std::lock_guard lock(g_cache_mutex);
    auto it = g_cache.find(key);
    if (it != g_cache.end()) {
      Credentials creds = it->second.credentials->current();
      bool expired = creds.expiration && *creds.expiration <= std::chrono::system_clock::now();
      if (!expired) {
        it->second.last_use = ++g_cache_uses;
        out.credentials = it->second.credentials;
        return out;
      }
      g_cache.erase(it);  // expired and not refreshed: resolve from scratch below
    }
  }
  ResolvedCredentials resolved = resolve_credentials_with_network(environment);
  if (!resolved.credentials) {
    out.error = resolved.error;
    return out;
  }
  CredentialFetcher fetcher;
  if (resolved.from_network_or_process) {
    // Refresh by walking the chain again in the process environment (the provider may have
    // rotated files or tokens meanwhile, as the SDKs allow).
    fetcher = [] {
      ResolvedCredentials again = resolve_credentials_with_network(process_aws_environment());
      return CredentialsParse{std::move(again.credentials), again.error};
    };
  }
  out.credentials = std::make_shared<RefreshingCredentials>(std::move(*resolved.credentials),
                                                            resolved.provider, std::move(fetcher));
  if (resolved.from_network_or_process) {
    std::lock_guard lock(g_cache_mutex);
    if (!g_cache.count(key) && g_cache.size() >= kMaxCachedConfigurations) {
      forget_least_recently_used();
    }
    g_cache[key] = CachedCredentials{out.credentials, ++g_cache_uses};
  }
  return out;
}

size_t cached_credential_configurations() {
  std::lock_guard lock(g_cache_mutex);
  return g_cache.size();
}

}  // namespace mmapurl::s3
