// Blocking HTTP/1.1 for the credential services (STS, container agent, IMDS): connect with a
// deadline, write the request, read to the end. Small on purpose: these answers are tiny.
#include "source/s3/credentials/credential_provider_io.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>

#include "source/s3/credentials/credential_endpoint_rules.hpp"
#include "source/s3/redact.hpp"

namespace mmapurl::s3 {
namespace {

namespace http = boost::beast::http;

using Clock = std::chrono::steady_clock;
constexpr size_t kMaxResponseBytes = 1 << 20;
constexpr uint32_t kHeaderLimit = 16 * 1024;

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(left.count());
}

boost::asio::ip::address address_of(const addrinfo& ai) {
  if (ai.ai_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(ai.ai_addr);
    boost::asio::ip::address_v6::bytes_type bytes;
    std::memcpy(bytes.data(), &in6->sin6_addr, bytes.size());
    return boost::asio::ip::address_v6(bytes, in6->sin6_scope_id);
  }
  const auto* in4 = reinterpret_cast<const sockaddr_in*>(ai.ai_addr);
  return boost::asio::ip::address_v4(ntohl(in4->sin_addr.s_addr));
}

// "" when `check` (if any) lets a connection use every address the name resolved to.
std::string judge_addresses(const addrinfo* list, const AddressCheck& check) {
  if (!check) return "";
  std::vector<boost::asio::ip::address> resolved;
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6) resolved.push_back(address_of(*ai));
  }
  return check(resolved);
}

// A non-blocking connect to one address, waited for until `deadline`; the socket or -1.
int connect_one(const addrinfo& ai, Clock::time_point deadline, std::string* error) {
  int s = ::socket(ai.ai_family, ai.ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s < 0) return -1;
  if (::connect(s, ai.ai_addr, ai.ai_addrlen) == 0) return s;
  if (errno == EINPROGRESS) {
    pollfd p{s, POLLOUT, 0};
    if (::poll(&p, 1, remaining_ms(deadline)) == 1) {
      int so_error = 0;
      socklen_t len = sizeof(so_error);
      ::getsockopt(s, SOL_SOCKET, SO_ERROR, &so_error, &len);
      if (so_error == 0) return s;
      *error = std::string("connect: ") + std::strerror(so_error);
    } else {
      *error = "connect timed out";
    }
  } else {
    *error = std::string("connect: ") + std::strerror(errno);
  }
  ::close(s);
  return -1;
}

// Connects to the first address that answers before `deadline`; -1 on failure. With a
// `check`, every address the name resolved to is judged first, and the connection is made
// only to those very addresses (no second resolution that could answer differently).
int connect_with_deadline(const std::string& host, uint16_t port, Clock::time_point deadline,
                          const AddressCheck& check, std::string* error) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = AF_UNSPEC;
  addrinfo* list = nullptr;
  std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
  if (rc != 0) {
    *error = "cannot resolve " + host + ": " + ::gai_strerror(rc);
    return -1;
  }
  if (std::string problem = judge_addresses(list, check); !problem.empty()) {
    ::freeaddrinfo(list);
    *error = host + ": " + problem;
    return -1;
  }
  int fd = -1;
  for (addrinfo* ai = list; ai != nullptr && fd < 0; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;  // never checked
    fd = connect_one(*ai, deadline, error);
  }
  ::freeaddrinfo(list);
  if (fd >= 0) {
    // Blocking from here on, with per-call timeouts bounded by the deadline.
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  }
  return fd;
}

void set_io_timeout(int fd, Clock::time_point deadline) {
  int ms = std::max(1, remaining_ms(deadline));
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

// A connected socket, with TLS when `ssl` is set; closes itself and leaves no OpenSSL error
// queued on the calling thread.
struct Connection {
  int fd = -1;
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;

  explicit Connection(int socket) : fd(socket) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() {
    ERR_clear_error();
    if (ssl) SSL_free(ssl);
    if (ctx) SSL_CTX_free(ctx);
    if (fd >= 0) ::close(fd);
  }
  long write(const char* data, size_t n) {
    if (ssl) return SSL_write(ssl, data, static_cast<int>(n));
    return ::send(fd, data, n, MSG_NOSIGNAL);
  }
  long read(char* data, size_t n) {
    if (ssl) return SSL_read(ssl, data, static_cast<int>(n));
    return ::recv(fd, data, n, 0);
  }
};

std::string lower(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

SSL_CTX* make_tls_context(const std::optional<std::string>& ca_bundle, std::string* error) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) {
    *error = "TLS context could not be created";
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  bool loaded = ca_bundle ? SSL_CTX_load_verify_locations(ctx, ca_bundle->c_str(), nullptr) == 1
                          : SSL_CTX_set_default_verify_paths(ctx) == 1;
  if (!loaded) {
    *error = "cannot load CA certificates";
    SSL_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

std::mutex g_imds_mutex;
std::set<std::string> g_unreachable_imds;  // endpoints that did not accept a connection

bool imds_known_unreachable(const std::string& endpoint) {
  std::lock_guard lock(g_imds_mutex);
  return g_unreachable_imds.count(endpoint) > 0;
}

// A bounded memory of endpoints: forgetting one costs only a connection attempt to it again.
constexpr size_t kMaxUnreachableImds = 16;

void mark_imds_unreachable(const std::string& endpoint) {
  std::lock_guard lock(g_imds_mutex);
  if (g_unreachable_imds.size() >= kMaxUnreachableImds) g_unreachable_imds.clear();
  g_unreachable_imds.insert(endpoint);
}

// Whatever built the request, no control byte reaches the wire (it would end a header).
bool sendable(const HttpRequestSpec& request) {
  auto unsafe = [](const std::string& text) {
    return std::any_of(text.begin(), text.end(),
                       [](unsigned char c) { return c < 0x20 || c == 0x7f; });
  };
  bool bad = unsafe(request.method) || unsafe(request.url.request_target());
  for (const auto& [name, value] : request.headers) bad = bad || unsafe(name) || unsafe(value);
  return !bad;
}

// The TLS handshake over the connected socket, the certificate verified for the URL's host.
bool start_tls(Connection& connection, const source::HttpUrl& url,
               const std::optional<std::string>& ca_bundle, std::string* error) {
  connection.ctx = make_tls_context(ca_bundle, error);
  if (!connection.ctx) return false;
  connection.ssl = SSL_new(connection.ctx);
  SSL_set_fd(connection.ssl, connection.fd);
  if (!url.ipv6) SSL_set_tlsext_host_name(connection.ssl, url.host.c_str());
  SSL_set1_host(connection.ssl, url.host.c_str());
  if (SSL_connect(connection.ssl) != 1) {
    *error = "TLS handshake with " + url.host + " failed";
    return false;
  }
  return true;
}

// The request as it goes on the wire: its headers (Connection replaced by "close"), Host and
// Content-Length added when missing, then the body.
std::string wire_request(const HttpRequestSpec& request) {
  std::string wire = request.method + " " + request.url.request_target() + " HTTP/1.1\r\n";
  bool has_host = false;
  for (const auto& [name, value] : request.headers) {
    if (lower(name) == "host") has_host = true;
    if (lower(name) == "connection") continue;
    wire += name + ": " + value + "\r\n";
  }
  if (!has_host) wire += "Host: " + request.url.host_header() + "\r\n";
  if (!request.body.empty() || request.method == "POST" || request.method == "PUT") {
    bool has_length = false;
    for (const auto& header : request.headers)
      has_length |= lower(header.first) == "content-length";
    if (!has_length) wire += "Content-Length: " + std::to_string(request.body.size()) + "\r\n";
  }
  return wire + "Connection: close\r\n\r\n" + request.body;
}

bool send_all(Connection& connection, const std::string& wire) {
  size_t sent = 0;
  while (sent < wire.size()) {
    long n = connection.write(wire.data() + sent, wire.size() - sent);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

// Reads the answer to its end. Beast parses it, with limits: a hostile endpoint cannot make it
// hold more than kMaxResponseBytes, whatever sizes its header or its chunks announce.
void read_answer(Connection& connection, Clock::time_point deadline, bool head_request,
                 ProviderHttpResponse* out) {
  http::response_parser<http::string_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(kMaxResponseBytes);
  parser.eager(true);
  if (head_request) parser.skip(true);
  std::string pending;  // received, not yet taken by the parser
  char buffer[8192];
  while (!parser.is_done()) {
    if (remaining_ms(deadline) == 0) {
      out->error = "no complete answer in time";
      break;
    }
    long n = connection.read(buffer, sizeof(buffer));
    boost::system::error_code ec;
    if (n <= 0) {
      parser.put_eof(ec);  // ends an answer delimited by the connection's close
      if (ec || !parser.is_done()) out->error = "connection closed before a complete answer";
      break;
    }
    pending.append(buffer, static_cast<size_t>(n));
    while (!pending.empty() && !parser.is_done()) {
      size_t used = parser.put(boost::asio::buffer(pending), ec);
      pending.erase(0, used);
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (ec || used == 0) break;
    }
    if (ec) {
      out->error = "malformed answer: " + ec.message();
      break;
    }
  }
  if (parser.is_done()) {
    out->complete = true;
    out->status = parser.get().result_int();
    out->body = std::move(parser.get().body());
  }
}

CredentialsParse failed(const NetworkProvider& provider, const std::string& why) {
  return CredentialsParse{std::nullopt, provider.name + ": " + redact(why)};
}

// True for a complete 2xx answer; else `why` says what came instead.
bool answered_ok(const ProviderHttpResponse& r, std::string* why) {
  if (!r.complete) {
    *why = r.error;
    return false;
  }
  if (r.status / 100 != 2) {
    *why = "HTTP " + std::to_string(r.status);
    return false;
  }
  return true;
}

CredentialsParse web_identity_credentials(const NetworkProvider& provider,
                                          const std::optional<std::string>& ca_bundle) {
  if (!provider.request) return failed(provider, "no request");
  auto r = perform_provider_request(
      *provider.request, {std::chrono::milliseconds(3000), std::chrono::milliseconds(10000)},
      ca_bundle);
  if (!r.complete) return failed(provider, r.error);
  // STS answers errors as XML documents: the parser names the error code.
  CredentialsParse parsed = parse_sts_web_identity_response(r.body);
  if (!parsed.credentials && r.status / 100 == 2) return failed(provider, parsed.error);
  if (!parsed.credentials) {
    return failed(provider, "HTTP " + std::to_string(r.status) + ": " + parsed.error);
  }
  return parsed;
}

CredentialsParse container_credentials(const NetworkProvider& provider,
                                       const std::optional<std::string>& ca_bundle) {
  if (!provider.request) return failed(provider, "no request");
  const std::string scheme(provider.request->url.scheme());
  auto r = perform_provider_request(
      *provider.request, {std::chrono::milliseconds(2000), std::chrono::milliseconds(5000)},
      ca_bundle, [&scheme](const std::vector<boost::asio::ip::address>& resolved) {
        return container_endpoint_address_problem(scheme, resolved);
      });
  std::string why;
  if (!answered_ok(r, &why)) return failed(provider, why);
  CredentialsParse parsed = parse_container_credentials(r.body);
  if (!parsed.credentials) return failed(provider, parsed.error);
  return parsed;
}

// IMDSv2: a session token, then the role's name, then the role's credentials.
CredentialsParse instance_metadata_credentials(const NetworkProvider& provider,
                                               const std::optional<std::string>& ca_bundle) {
  const std::string& endpoint = provider.imds_endpoint;
  if (imds_known_unreachable(endpoint)) return failed(provider, "not reachable (earlier attempt)");
  ProviderHttpTimeouts timeouts{std::chrono::milliseconds(1000), std::chrono::milliseconds(2000)};
  std::string error, why;
  auto token_request = imds_token_request(endpoint, error);
  if (!token_request) return failed(provider, error);
  auto token = perform_provider_request(*token_request, timeouts, ca_bundle);
  if (!token.connected) {
    mark_imds_unreachable(endpoint);
    return failed(provider, token.error);
  }
  if (!answered_ok(token, &why)) return failed(provider, "token: " + why);
  std::string token_text = token.body;
  while (!token_text.empty() && (token_text.back() == '\n' || token_text.back() == '\r')) {
    token_text.pop_back();
  }
  auto role_request = imds_role_name_request(endpoint, token_text, error);
  if (!role_request) return failed(provider, error);
  auto role = perform_provider_request(*role_request, timeouts, ca_bundle);
  if (!answered_ok(role, &why)) return failed(provider, "role name: " + why);
  auto role_name = parse_imds_role_name(role.body);
  if (!role_name) return failed(provider, "no IAM role attached to the instance");
  auto credentials_request = imds_credentials_request(endpoint, token_text, *role_name, error);
  if (!credentials_request) return failed(provider, error);
  auto creds = perform_provider_request(*credentials_request, timeouts, ca_bundle);
  if (!answered_ok(creds, &why)) return failed(provider, "credentials: " + why);
  CredentialsParse parsed = parse_imds_credentials(creds.body);
  if (!parsed.credentials) return failed(provider, parsed.error);
  return parsed;
}

}  // namespace

ProviderHttpResponse perform_provider_request(const HttpRequestSpec& request,
                                              const ProviderHttpTimeouts& timeouts,
                                              const std::optional<std::string>& ca_bundle,
                                              const AddressCheck& check) {
  ProviderHttpResponse out;
  if (!sendable(request)) {
    out.error = "refusing to send a request with control characters";
    return out;
  }
  auto start = Clock::now();
  auto deadline = start + timeouts.total;
  auto connect_deadline = std::min(deadline, start + timeouts.connect);
  int fd = connect_with_deadline(request.url.host, request.url.port, connect_deadline, check,
                                 &out.error);
  if (fd < 0) return out;
  out.connected = true;
  Connection connection(fd);
  set_io_timeout(fd, deadline);
  if (request.url.tls && !start_tls(connection, request.url, ca_bundle, &out.error)) return out;
  if (!send_all(connection, wire_request(request))) {
    out.error = "sending the request failed";
    return out;
  }
  read_answer(connection, deadline, request.method == "HEAD", &out);
  return out;
}

CredentialsParse fetch_network_credentials(const NetworkProvider& provider,
                                           const AwsEnvironment& environment) {
  std::optional<std::string> ca_bundle = environment.get("AWS_CA_BUNDLE");
  switch (provider.kind) {
    case NetworkProviderKind::kWebIdentity:
      return web_identity_credentials(provider, ca_bundle);
    case NetworkProviderKind::kContainer:
      return container_credentials(provider, ca_bundle);
    case NetworkProviderKind::kInstanceMetadata:
      return instance_metadata_credentials(provider, ca_bundle);
  }
  return failed(provider, "unknown provider");
}

ResolvedCredentials resolve_credentials_with_network(const AwsEnvironment& environment) {
  ResolvedCredentials out;
  auto runner = [](const std::string& command) { return run_credential_process(command); };
  CredentialChainResult chain =
      resolve_credentials(environment, runner, std::chrono::system_clock::now());
  if (chain.credentials) {
    out.credentials = std::move(chain.credentials);
    out.provider = chain.provider;
    out.from_network_or_process = chain.provider.rfind("credential_process", 0) == 0;
    return out;
  }
  if (!chain.fatal_error.empty()) {
    out.error = chain.fatal_error;
    return out;
  }
  for (const NetworkProvider& provider : chain.network_providers) {
    CredentialsParse parsed = fetch_network_credentials(provider, environment);
    if (parsed.credentials) {
      out.credentials = std::move(parsed.credentials);
      out.provider = provider.name;
      out.from_network_or_process = true;
      return out;
    }
    chain.tried.push_back(parsed.error);
  }
  out.error = chain.describe_failure();
  return out;
}

}  // namespace mmapurl::s3
