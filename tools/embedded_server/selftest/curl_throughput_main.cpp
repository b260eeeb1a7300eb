// Throughput sanity check: serves a 1 GiB synthetic object over HTTPS (or HTTP with --http) and
// times `curl --cacert` downloading it to /dev/null. Not built by CMake (the library globs only
// embedded_server/*.cpp); selftest/build_and_run.sh builds and runs it.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "embedded_server/embedded_server.hpp"

int main(int argc, char** argv) {
  using mmapurl::testserver::EmbeddedServer;
  using mmapurl::testserver::ServerOptions;
  bool tls = true;
  uint64_t size = 1ull << 30;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--http") == 0) tls = false;
    if (std::strncmp(argv[i], "--size=", 7) == 0) size = std::strtoull(argv[i] + 7, nullptr, 10);
  }
  ServerOptions opts;
  opts.tls = tls;
  opts.objects.push_back({"/big", size, 1, "\"big-1\"", "Sun, 06 Nov 1994 08:49:37 GMT"});
  EmbeddedServer server(opts);
  std::string error;
  if (!server.start(&error)) {
    std::fprintf(stderr, "start: %s\n", error.c_str());
    return 1;
  }
  const std::string ca = "/tmp/mmapurl-testserver-ca.pem";
  if (tls && !server.write_ca_file(ca, &error)) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  const std::string cmd = "curl -sS -o /dev/null -w '%{size_download} %{speed_download}\\n' " +
                          (tls ? "--cacert " + ca + " " : std::string()) + server.url("/big");
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = std::system(cmd.c_str());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto c = server.counters();
  // CPU seconds per side: on a shared machine wall time is noisy, CPU cost per GB is not.
  auto cpu = [](int who) {
    rusage ru{};
    getrusage(who, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
           1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
  };
  std::printf("cpu: server %.3f s, curl %.3f s\n", cpu(RUSAGE_SELF), cpu(RUSAGE_CHILDREN));
  std::printf("curl rc=%d  %.3f s  %.2f GB/s  (server: %llu requests, %llu bytes sent)\n", rc, secs,
              static_cast<double>(size) / secs / 1e9, static_cast<unsigned long long>(c.requests),
              static_cast<unsigned long long>(c.bytes_sent));
  return rc == 0 ? 0 : 1;
}
