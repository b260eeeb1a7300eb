// Engine lifecycle and the calls that cross from application threads: start on first use, the
// engine thread, and posting map, unmap, hints and statistics to it.
#include "core/engine.hpp"

#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <future>
#include <mutex>

#include "base/log.hpp"
#include "core/cgroup_memory_reader.hpp"
#include "core/engine_impl.hpp"
#include "core/outcome_codes.hpp"
#include "core/test_hooks.hpp"
#include "mmapurl.h"
#include "net/tls_stream.hpp"
#include "source/source_factory.hpp"

namespace mmapurl::core {

namespace asio = boost::asio;

namespace {
std::mutex g_engine_mutex;
Engine* g_engine = nullptr;

// At exit, static destructors (Asio's, OpenSSL's, the C++ runtime's) run while the engine
// thread could still be using them. Park the engine first: threads still faulting then sleep
// in the kernel (never reading zeros) until exit_group ends the process.
void freeze_engine_at_exit() {
  Engine* engine = g_engine;
  if (!engine) return;  // a forked child's engine has no thread
  auto started = std::make_shared<std::promise<void>>();
  auto parked = std::make_shared<std::promise<void>>();
  auto running = started->get_future();
  auto ready = parked->get_future();
  engine->post_freeze([started] { started->set_value(); },
                      [parked] {
                        parked->set_value();
                        for (;;) pause();
                      });
  // A stuck engine does not hold up exit for long; one saving its kept caches (an fdatasync of
  // what they wrote) is waited for longer, or the next run would find nothing kept.
  if (running.wait_for(std::chrono::seconds(2)) == std::future_status::ready) {
    ready.wait_for(std::chrono::seconds(60));
  }
}

void atfork_prepare() { g_engine_mutex.lock(); }
void atfork_parent() { g_engine_mutex.unlock(); }
// The child has no engine thread: forget the engine (leaked on purpose) so it can map anew.
void atfork_child() {
  g_engine = nullptr;
  g_engine_mutex.unlock();
}

// The engine's TLS client context: TLS 1.2 and later, the peer verified against SSL_CERT_FILE /
// SSL_CERT_DIR, then the system store.
std::unique_ptr<asio::ssl::context> make_tls_context(bool engine_reads_tls_records) {
  auto tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
  tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1);
  tls->set_default_verify_paths();
  tls->set_verify_mode(asio::ssl::verify_peer);
  if (engine_reads_tls_records) net::TlsStream::take_over_tls_records(tls->native_handle());
  return tls;
}

// Runs `work` on the engine thread and waits for its answer; whatever it throws answers
// `on_failure` instead, so the calling thread never waits for ever.
template <class T, class Work>
T ask_engine(EngineImpl* impl, T on_failure, Work work) {
  std::promise<T> done;
  auto future = done.get_future();
  asio::post(*impl->io, [&] {
    contain(
        "a call from the application", [&] { done.set_value(work()); },
        [&](Contained) { done.set_value(on_failure); });
  });
  return future.get();
}
}  // namespace

void Counters::record_latency(Clock::duration d) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  int bucket = 0;
  while (bucket < 31 && (int64_t{1} << (bucket + 1)) <= us) ++bucket;
  latency[bucket].fetch_add(1, std::memory_order_relaxed);
}

Engine* Engine::running() {
  std::lock_guard lock(g_engine_mutex);
  return g_engine;
}

Engine* Engine::get(MapOutcome* failure) {
  std::lock_guard lock(g_engine_mutex);
  if (g_engine) return g_engine;
  static std::once_flag atfork_once;
  std::call_once(atfork_once, [] { pthread_atfork(atfork_prepare, atfork_parent, atfork_child); });
  auto* impl = new EngineImpl();
  if (!impl->start(failure)) {
    delete impl;
    return nullptr;
  }
  // Never destroyed: closing the userfaultfd at exit would unregister the mappings and a
  // thread still reading would see zeros.
  g_engine = new Engine(impl);
  std::atexit(freeze_engine_at_exit);
  return g_engine;
}

bool EngineImpl::start(MapOutcome* failure) {
  // OpenSSL must not tear itself down at exit while the engine thread may still use it.
  OPENSSL_init_ssl(OPENSSL_INIT_NO_ATEXIT | OPENSSL_INIT_LOAD_SSL_STRINGS, nullptr);
  std::string warnings;
  config = control::load_engine_config_from_environment(&warnings, read_cgroup_memory_limit());
  budget = control::MemoryBudget(config.memory_limit);
  retry_policy = control::RetryPolicy(std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(config.retry_timeout_s)));
  base::log_init(config.log, config.log_file);
  if (!warnings.empty()) MMAPURL_LOG(LogLevel::kError, warnings);
  int err = 0;
  std::string why;
  if (!uffd.open(&err, &why)) {
    failure->code = MMAP_S3_ERRNO;
    failure->sys_errno = err;
    failure->message = why + ": " + std::strerror(err);
    return false;
  }
  try {
    io = std::make_unique<asio::io_context>(1);
    tls = make_tls_context(config.engine_reads_tls_records);
    uffd_reader = std::make_unique<asio::posix::stream_descriptor>(*io, uffd.fd());
  } catch (const boost::system::system_error& e) {
    failure->code = MMAP_S3_ERRNO;
    failure->sys_errno =
        e.code().category() == boost::system::system_category() ? e.code().value() : EIO;
    failure->message =
        std::string("cannot start the I/O engine (io_uring refused? see README): ") + e.what();
    uffd_reader.reset();
    return false;
  } catch (const std::exception& e) {
    failure->code = MMAP_S3_UNKNOWN;
    failure->message = std::string("cannot start the I/O engine: ") + e.what();
    return false;
  }
  MMAPURL_LOG(LogLevel::kInfo, "engine started; userfaultfd via " + uffd.features().opened_via +
                                   (uffd.features().poison ? ", poison" : ", no poison") +
                                   (uffd.features().thread_id ? ", thread ids" : ""));
  read_faults();
  start_idle_reclaim();
  thread = std::thread([this] {
    // Signals are the application's business: the engine thread takes none.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    pthread_setname_np(pthread_self(), "mmapurl-engine");
    engine_tid.store(static_cast<pid_t>(::syscall(SYS_gettid)), std::memory_order_relaxed);
    auto guard = asio::make_work_guard(*io);
    for (;;) {
      try {
        io->run();
        break;
      } catch (const std::exception& e) {
        MMAPURL_LOG(LogLevel::kError, std::string("engine handler threw: ") + e.what());
      }
    }
  });
  thread.detach();
  return true;
}

net::ConnectionPool* EngineImpl::pool_for(const net::Origin& origin) {
  std::string key =
      origin.key() + "|" + origin.proxy_host + ":" + std::to_string(origin.proxy_port);
  auto& slot = pools[key];
  if (!slot) {
    net::TransportSettings settings;
    settings.io_timeout_s = config.io_timeout_s;
    slot = std::make_unique<net::ConnectionPool>(*io, *tls, origin, settings, config.connections);
  }
  return slot.get();
}

MapOutcome Engine::map(const std::string& url) {
  MapOutcome out;
  auto made = source::make_object_source(url);
  if (!made.source) {
    out.code = code_for(made.error);
    out.message = made.message;
    return out;
  }
  auto job = std::make_shared<OpenJob>();
  job->url = url;
  job->source = std::move(made.source);
  job->started = Clock::now();
  auto future = job->promise.get_future();
  asio::post(*impl_->io, [impl = impl_, job] { impl->run_open(job); });
  return future.get();
}

int Engine::unmap(const void* addr) {
  return ask_engine(impl_, -1, [impl = impl_, a = reinterpret_cast<uint64_t>(addr)] {
    return impl->unmap_now(a);
  });
}

// Kept caches are saved first: a program that exits without munmap keeps what it downloaded.
void Engine::post_freeze(std::function<void()> started, std::function<void()> park) {
  asio::post(*impl_->io, [impl = impl_, started = std::move(started), park = std::move(park)] {
    started();
    contain(
        "saving kept caches at exit",
        [&] {
          bool saved = false;
          for (auto& [id, mapping] : impl->registry.all()) {
            saved = impl->save_kept_cache(*mapping) || saved;
          }
          if (saved) impl->prune_kept_caches();
        },
        [](Contained) {});
    park();
  });
}

int Engine::advise(const void* addr, size_t len, int advice) {
  return ask_engine(impl_, -1, [impl = impl_, a = reinterpret_cast<uint64_t>(addr), len, advice] {
    return impl->advise_now(a, len, advice);
  });
}

namespace {
void copy_counters(const Counters& c, Stats* out) {
  out->faults = c.faults.load();
  out->bytes_fetched = c.bytes_fetched.load();
  out->requests = c.requests.load();
  out->retries = c.retries.load();
  out->prefetch_hits = c.prefetch_hits.load();
  out->evictions = c.evictions.load();
  out->resident_bytes = c.resident_bytes.load();
  out->in_flight_bytes = c.in_flight_bytes.load();
  out->failed_pages = c.failed_pages.load();
  out->max_requests_in_flight = c.max_requests_in_flight.load();
  out->connections = c.connections.load();
  out->staging_buffers_mapped = c.staging_buffers_mapped.load();
  for (size_t i = 0; i < 32; ++i) out->fault_latency_us_log2[i] = c.latency[i].load();
  out->cache_filled_pages = c.cache_filled_pages.load();
}

uint64_t cached_bytes(const Mapping& m) {
  return m.cache ? m.cache->held_pages() * cache::DiskCache::kPageSize : 0;
}
}  // namespace

bool Engine::stats(const void* addr, Stats* out) {
  return ask_engine(impl_, false, [impl = impl_, addr, out] {
    if (!addr) {
      copy_counters(impl->totals, out);
      uint64_t conns = 0;
      for (auto& [key, pool] : impl->pools) conns += pool->connections();
      out->connections = conns;
      for (auto& [id, mapping] : impl->registry.all()) out->cached_bytes += cached_bytes(*mapping);
      return true;
    }
    Mapping* m = impl->registry.find(reinterpret_cast<uint64_t>(addr));
    if (m) {
      copy_counters(m->counters, out);
      out->cached_bytes = cached_bytes(*m);
    }
    return m != nullptr;
  });
}

long test_held_marker_pages(const void* addr) {
  Engine* engine = nullptr;
  {
    std::lock_guard lock(g_engine_mutex);
    engine = g_engine;
  }
  if (!engine) return -1;
  return ask_engine(engine->impl_, -1L, [impl = engine->impl_, addr] {
    Mapping* m = impl->registry.find(reinterpret_cast<uint64_t>(addr));
    return m ? static_cast<long>(m->markers.size()) : -1L;
  });
}

}  // namespace mmapurl::core
