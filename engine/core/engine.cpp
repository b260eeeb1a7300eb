// Engine lifecycle and the calls that cross from application threads: start on first use,
// open (probe, redirects, retries), map, unmap, hints and statistics.
#include "core/engine.hpp"

#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <future>
#include <mutex>

#include "cache/disk_cache.hpp"
#include "cache/kept_cache_pruning.hpp"
#include "control/part_sizing.hpp"
#include "core/cgroup_memory_reader.hpp"
#include "core/engine_impl.hpp"
#include "core/log.hpp"
#include "mmapurl.h"
#include "net/tls_stream.hpp"
#include "source/http/http_object_source.hpp"
#include "source/http/http_url.hpp"
#include "source/source_factory.hpp"

namespace mmapurl::core {

namespace asio = boost::asio;

namespace {
std::mutex g_engine_mutex;
Engine* g_engine = nullptr;
constexpr int kMaxRedirects = 10;
constexpr int kMaxOpenAttempts = 4;

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

int code_for(source::SourceError e) {
  switch (e) {
    case source::SourceError::kNotFound:
      return MMAP_S3_NOT_FOUND;
    case source::SourceError::kPermission:
      return MMAP_S3_PERMISSION_ERROR;
    case source::SourceError::kNoLength:
      return MMAP_S3_CONTENT_LENGTH_NOT_RETURNED;
    default:
      return MMAP_S3_IOERROR;
  }
}

// The code for a probe answer the engine did not take: why on_head refused it (the verdict it
// recorded), else why the transport did (a 2xx body framed without Content-Length).
int refused_probe_code(source::SourceError refusal, const net::ResponseHead& head) {
  if (refusal != source::SourceError::kNone) return code_for(refusal);
  if (head.status / 100 == 2 && (head.chunked || !head.content_length)) {
    return MMAP_S3_CONTENT_LENGTH_NOT_RETURNED;
  }
  return MMAP_S3_IOERROR;
}

// Opens again after a backoff while attempts and the retry budget last; else fails the open.
void retry_open_or_fail(EngineImpl* engine, const std::shared_ptr<OpenJob>& job,
                        const std::string& why) {
  const auto budget = std::chrono::duration<double>(engine->config.retry_timeout_s);
  if (++job->attempts < kMaxOpenAttempts && Clock::now() - job->started < budget) {
    engine->totals.retries.fetch_add(1, std::memory_order_relaxed);
    MMAPURL_LOG(LogLevel::kInfo, "retrying " + job->source->describe() + ": " + why);
    auto timer = std::make_shared<asio::steady_timer>(*engine->io, engine->backoff(job->attempts));
    timer->async_wait([engine, job, timer](boost::system::error_code) {
      job->asked_size = false;  // a new probe may need a new size request
      engine->run_open(job);
    });
    return;
  }
  MapOutcome out;
  out.code = MMAP_S3_IOERROR;
  out.message = job->source->describe() + ": " + why;
  engine->finish_open(job, std::move(out));
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
  memory_limit = control::MemoryLimitGovernor(config.memory_limit);
  log_init(config.log, config.log_file);
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
    tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                     asio::ssl::context::no_tlsv1_1);
    // Honours SSL_CERT_FILE / SSL_CERT_DIR, then the system store.
    tls->set_default_verify_paths();
    tls->set_verify_mode(asio::ssl::verify_peer);
    if (config.engine_reads_tls_records) {
      net::TlsStream::take_over_tls_records(tls->native_handle());
    }
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

Mapping* EngineImpl::find_mapping(uint64_t addr) {
  auto it = by_address.upper_bound(addr);
  if (it == by_address.begin()) return nullptr;
  --it;
  auto m = mappings.find(it->second);
  if (m == mappings.end()) return nullptr;
  Mapping* mp = m->second.get();
  uint64_t span = std::max<uint64_t>(mp->length, kPageSize);
  return addr < mp->base + span ? mp : nullptr;
}

OpenJob::~OpenJob() {
  if (answered) return;
  try {
    MapOutcome out;
    out.code = MMAP_S3_UNKNOWN;
    out.message = "internal error: the open was dropped unanswered";
    promise.set_value(std::move(out));
  } catch (...) {
  }
}

void EngineImpl::run_open(std::shared_ptr<OpenJob> job) {
  contain(
      "opening a mapping", [&] { begin_open(job); },
      [&](Contained failure) { fail_open(job, failure); });
}

void EngineImpl::fail_open(const std::shared_ptr<OpenJob>& job, Contained failure) {
  MapOutcome out;
  out.code = failure.out_of_memory ? MMAP_S3_ERRNO : MMAP_S3_UNKNOWN;
  out.sys_errno = failure.out_of_memory ? ENOMEM : 0;
  out.message = std::string("internal error: ") + failure.why;
  finish_open(job, std::move(out));
}

void EngineImpl::begin_open(std::shared_ptr<OpenJob> job) {
  if (!job->probe) job->probe = take_buffer(config.probe_bytes);
  if (!job->probe) {
    MapOutcome out;
    out.code = MMAP_S3_ERRNO;
    out.sys_errno = ENOMEM;
    out.message = "no memory for the first range's staging buffer";
    return finish_open(job, std::move(out));
  }
  net::ConnectionPool* pool = pool_for(job->source->origin());
  auto exchange = std::make_shared<net::Exchange>();
  exchange->urgent = true;
  exchange->request = job->source->range_request(0, config.probe_bytes - 1, false);
  // Why on_head refused the probe, if it did: the error code is chosen from it.
  auto refusal = std::make_shared<source::SourceError>(source::SourceError::kNone);
  exchange->on_head = [this, job, refusal](const net::ResponseHead& head,
                                           std::string* reject) -> std::optional<net::BodyTarget> {
    std::optional<net::BodyTarget> target;
    contain(
        "judging the first range's answer",
        [&] { target = take_probe_answer(*job, head, reject, refusal.get()); },
        [&](Contained failure) { *reject = std::string("internal error: ") + failure.why; });
    return target;
  };
  exchange->on_complete = [this, job, refusal](net::ExchangeResult&& r) {
    contain(
        "opening a mapping", [&] { on_probe_complete(job, *refusal, std::move(r)); },
        [&](Contained failure) { fail_open(job, failure); });
  };
  pool->submit(std::move(exchange));
}

// The probe's head: the object's identity (size, validators), and where its first bytes go.
std::optional<net::BodyTarget> EngineImpl::take_probe_answer(OpenJob& job,
                                                             const net::ResponseHead& head,
                                                             std::string* reject,
                                                             source::SourceError* refusal) {
  source::ObjectIdentity id;
  auto verdict = source::identity_from_probe(head, &id);
  if (verdict.error == source::SourceError::kRangeIgnored && id.size <= config.probe_bytes) {
    job.whole_object = true;  // the whole object fits: correct bytes whatever Range did
  } else if (verdict.error != source::SourceError::kNone) {
    *refusal = verdict.error;
    *reject = verdict.message;
    return std::nullopt;
  }
  auto pinning = source::judge_pinning(id, config.probe_bytes, config.allow_unpinned);
  if (pinning.error != source::SourceError::kNone) {
    *refusal = pinning.error;
    *reject = pinning.message;
    return std::nullopt;
  }
  if (!pinning.message.empty()) {
    MMAPURL_LOG(LogLevel::kInfo, job.source->describe() + ": " + pinning.message);
  }
  job.source->set_identity(id);
  job.probe_len = std::min<uint64_t>(id.size, config.probe_bytes);
  return net::BodyTarget{job.probe, job.probe_len};
}

void EngineImpl::on_probe_complete(const std::shared_ptr<OpenJob>& job, source::SourceError refusal,
                                   net::ExchangeResult&& r) {
  totals.requests.fetch_add(1, std::memory_order_relaxed);
  totals.bytes_fetched.fetch_add(r.body_bytes, std::memory_order_relaxed);
  MapOutcome out;
  const unsigned status = r.head.status;
  if (r.error != net::NetError::kNone) {
    if (r.error == net::NetError::kProtocol) {
      // Refused in on_head, or a malformed answer: the server's fault, not the network's.
      out.code = refused_probe_code(refusal, r.head);
      out.message = job->source->describe() + ": " + r.message;
      return finish_open(job, std::move(out));
    }
    if (r.error == net::NetError::kTlsVerify) {
      out.code = MMAP_S3_IOERROR;
      out.message = job->source->describe() + ": " + r.message;
      return finish_open(job, std::move(out));
    }
    return retry_open_or_fail(this, job, r.message);
  }
  if (status / 100 != 2 && job->source->adapt_to(r.head, r.small_body) &&
      ++job->redirects <= kMaxRedirects) {
    return begin_open(job);
  }
  if (status >= 300 && status < 400 && status != 304) {
    const std::string* location = r.head.find("location");
    auto* http = dynamic_cast<source::HttpObjectSource*>(job->source.get());
    std::optional<source::HttpUrl> next;
    if (location && http) next = source::resolve_location(http->url(), *location);
    if (!next || ++job->redirects > kMaxRedirects) {
      out.code = MMAP_S3_IOERROR;
      out.message = job->source->describe() + ": bad or too many redirects";
      return finish_open(job, std::move(out));
    }
    // Every range would travel in clear, and the ETag and Content-Range checks that pin the
    // snapshot could be forged on the way.
    if (http->url().tls && !next->tls && !config.allow_tls_downgrade) {
      out.code = MMAP_S3_IOERROR;
      out.message = job->source->describe() + ": refused a redirect from https:// to http:// (" +
                    next->redacted() + "); MMAPURL_ALLOW_TLS_DOWNGRADE=1 allows it";
      return finish_open(job, std::move(out));
    }
    MMAPURL_LOG(LogLevel::kInfo, "redirect " + job->source->describe() + " -> " + next->redacted());
    auto made = source::make_http_source(std::string(next->tls ? "https://" : "http://") +
                                         next->host_header() + next->target);
    if (!made.source) {
      out.code = MMAP_S3_IOERROR;
      out.message = "redirect to an unusable URL: " + made.message;
      return finish_open(job, std::move(out));
    }
    job->source = std::move(made.source);
    return begin_open(job);
  }
  if (status == 416) {
    source::ObjectIdentity id;
    auto verdict = source::identity_from_probe(r.head, &id);
    if (verdict.error != source::SourceError::kNone && !job->asked_size) {
      if (auto head_request = job->source->size_request()) {
        job->asked_size = true;
        return ask_size(job, std::move(*head_request));
      }
    }
    if (verdict.error != source::SourceError::kNone) {
      out.code = MMAP_S3_IOERROR;
      out.message = job->source->describe() + ": " + verdict.message;
      return finish_open(job, std::move(out));
    }
    job->source->set_identity(id);
    job->probe_len = 0;
    return create_mapping(job);
  }
  if (status / 100 != 2) {
    auto verdict = job->source->classify_status(r.head, r.small_body);
    if (verdict.error == source::SourceError::kTransient) {
      return retry_open_or_fail(this, job, verdict.message);
    }
    out.code = code_for(verdict.error);
    out.message = job->source->describe() + ": " + verdict.message;
    return finish_open(job, std::move(out));
  }
  if (r.body_bytes != job->probe_len) {
    out.code = MMAP_S3_NO_BODY_RETURNED;
    out.message = job->source->describe() + ": no body returned";
    return finish_open(job, std::move(out));
  }
  create_mapping(job);
}

void EngineImpl::finish_open(std::shared_ptr<OpenJob> job, MapOutcome outcome) {
  if (job->answered) return;
  job->answered = true;
  if (job->probe) give_buffer(job->probe, config.probe_bytes);
  job->probe = nullptr;
  if (outcome.code != MMAP_S3_OK)
    MMAPURL_LOG(LogLevel::kInfo, "mapping failed: " + outcome.message);
  job->promise.set_value(std::move(outcome));
}

void EngineImpl::create_mapping(std::shared_ptr<OpenJob> job) {
  MapOutcome out;
  const source::ObjectIdentity& id = job->source->identity();
  if (id.size > config.max_object_bytes) {
    out.code = MMAP_S3_ERRNO;
    out.sys_errno = EFBIG;
    out.message = job->source->describe() + ": the server says the object has " +
                  std::to_string(id.size) + " bytes, more than MMAPURL_MAX_OBJECT_SIZE (" +
                  std::to_string(config.max_object_bytes) + ")";
    return finish_open(job, std::move(out));
  }
  const uint64_t pages = (id.size + kPageSize - 1) / kPageSize;
  const uint64_t length = pages * kPageSize;
  // A 0-byte object still gets a valid (inaccessible-beyond-nothing) read-only page.
  const uint64_t reserve = std::max<uint64_t>(length, kPageSize);
  void* addr =
      ::mmap(nullptr, reserve, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (addr == MAP_FAILED) {
    out.code = MMAP_S3_ERRNO;
    out.sys_errno = errno;
    out.message = std::string("mmap: ") + std::strerror(errno);
    return finish_open(job, std::move(out));
  }
  const uint64_t base = reinterpret_cast<uint64_t>(addr);
  // A forked child must never read zeros from an inherited mapping: it gets SIGSEGV.
  ::madvise(addr, reserve, MADV_DONTFORK);
  if (length > 0) {
    if (int e = uffd.register_missing(base, length)) {
      ::munmap(addr, reserve);
      out.code = MMAP_S3_ERRNO;
      out.sys_errno = e;
      out.message = std::string("UFFDIO_REGISTER: ") + std::strerror(e);
      return finish_open(job, std::move(out));
    }
  }
  Mapping* m = nullptr;
  try {
    m = add_mapping(*job, base, length, pages);
  } catch (const std::bad_alloc&) {
    // The page table of a huge object: one failed mapping, never a stranded caller.
    if (length > 0) uffd.unregister(base, length);
    ::munmap(addr, reserve);
    out.code = MMAP_S3_ERRNO;
    out.sys_errno = ENOMEM;
    out.message = job->source->describe() + ": no memory for the state of " +
                  std::to_string(pages) + " pages";
    return finish_open(job, std::move(out));
  }
  Mapping& ref = *m;
  // The probe's bytes are the object's first pages: fill them now, no fault needed.
  if (job->probe_len > 0) {
    uint64_t probe_pages = (job->probe_len + kPageSize - 1) / kPageSize;
    std::memset(job->probe + job->probe_len, 0, probe_pages * kPageSize - job->probe_len);
    if (ref.cache) ref.cache->store(0, job->probe, probe_pages);
    if (uffd.copy(base, job->probe, probe_pages * kPageSize) == 0) {
      ref.pages.set_range(0, probe_pages, control::PageState::kResident);
      note_resident(ref, 0, probe_pages);
      ref.planner.note_prefilled(0, probe_pages);
    }
  }
  pump_cache_prefetch(ref);
  ref.counters.requests.fetch_add(1, std::memory_order_relaxed);
  ref.counters.bytes_fetched.fetch_add(job->probe_len, std::memory_order_relaxed);
  MMAPURL_LOG(LogLevel::kInfo, "mapped " + ref.source->describe() + " (" + std::to_string(id.size) +
                                   " bytes, etag " + (id.etag.empty() ? "none" : id.etag) + ")");
  out.addr = addr;
  out.size = id.size;
  finish_open(job, std::move(out));
}

control::PlannerConfig EngineImpl::planner_config() const {
  control::PlannerConfig pc;
  pc.random_fetch_pages = config.random_fetch_bytes / kPageSize;
  // From the configured limit, not a lowered one: a lowered limit rises again
  // (MemoryLimitGovernor), and until it has, schedule_range's cap holds readahead under it for
  // every mapping alike.
  pc.max_window_pages =
      control::readahead_window_cap_bytes(memory_limit.configured(), config.max_readahead_bytes) /
      kPageSize;
  pc.initial_window_pages =
      std::min<uint64_t>(pc.max_window_pages, std::max<uint64_t>(64, pc.random_fetch_pages));
  // x4 rather than x2: half the round trips to reach the full window (S3-like profile, 256 MiB
  // scan: 243 -> 270 MB/s; bench/RESULTS.md).
  pc.window_growth = 4;
  return pc;
}

// The mapping's records, in the registry. Throws std::bad_alloc with nothing registered and the
// job's source still the job's.
Mapping* EngineImpl::add_mapping(OpenJob& job, uint64_t base, uint64_t length, uint64_t pages) {
  auto m = std::make_unique<Mapping>(pages, planner_config());
  m->pool = pool_for(job.source->origin());
  if (!config.cache_dir.empty() && pages > 0)
    m->cache = open_cache(*job.source, job.source->identity(), pages);
  const uint64_t id = next_mapping_id;
  auto slot = mappings.emplace(id, nullptr).first;
  try {
    by_address[base] = id;
  } catch (...) {
    mappings.erase(slot);
    throw;
  }
  ++next_mapping_id;
  m->id = id;
  m->base = base;
  m->length = length;
  m->size = job.source->identity().size;
  m->source = std::move(job.source);
  slot->second = std::move(m);
  return slot->second.get();
}

// The size of an object whose first range was refused with no total (S3's answer for an empty
// object: 416 InvalidRange without Content-Range): a HEAD, retried as the probe is.
void EngineImpl::ask_size(std::shared_ptr<OpenJob> job, net::RequestSpec request) {
  auto exchange = std::make_shared<net::Exchange>();
  exchange->urgent = true;
  exchange->request = std::move(request);
  exchange->on_complete = [this, job](net::ExchangeResult&& r) {
    contain(
        "asking an object's size", [&] { on_size_answer(job, std::move(r)); },
        [&](Contained failure) { fail_open(job, failure); });
  };
  pool_for(job->source->origin())->submit(std::move(exchange));
}

void EngineImpl::on_size_answer(const std::shared_ptr<OpenJob>& job, net::ExchangeResult&& r) {
  totals.requests.fetch_add(1, std::memory_order_relaxed);
  MapOutcome out;
  const std::string what = job->source->describe() + ": range refused (416), then HEAD: ";
  if (r.error == net::NetError::kProtocol || r.error == net::NetError::kTlsVerify) {
    out.code = MMAP_S3_IOERROR;
    out.message = what + r.message;
    return finish_open(job, std::move(out));
  }
  if (r.error != net::NetError::kNone) return retry_open_or_fail(this, job, "HEAD: " + r.message);
  if (r.head.status / 100 != 2) {
    auto verdict = job->source->classify_status(r.head, r.small_body);
    if (verdict.error == source::SourceError::kTransient) {
      return retry_open_or_fail(this, job, "HEAD: " + verdict.message);
    }
    out.code = code_for(verdict.error);
    out.message = what + verdict.message;
    return finish_open(job, std::move(out));
  }
  source::ObjectIdentity id;
  auto verdict = source::identity_from_head(r.head, &id);
  if (verdict.error != source::SourceError::kNone) {
    out.code = code_for(verdict.error);
    out.message = what + verdict.message;
    return finish_open(job, std::move(out));
  }
  if (id.size != 0) {
    // Not empty, yet its first bytes were refused: replaced between the two requests?
    std::string why = "416 to the first range of a " + std::to_string(id.size) + "-byte object";
    return retry_open_or_fail(this, job, why);
  }
  job->source->set_identity(id);
  job->probe_len = 0;
  create_mapping(job);
}

MapOutcome Engine::map(const std::string& url) {
  MapOutcome out;
  auto made = source::make_object_source(url);
  if (!made.source) {
    out.code = made.code;
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

namespace {
// What a kept cache file must match to be trusted: the size and a strong validator. A weak ETag
// or a date alone may stand for other bytes; then the cache file is unnamed, as without keep.
std::string kept_cache_validator(const source::ObjectIdentity& id) {
  if (id.etag.find('\n') != std::string::npos || id.version_id.find('\n') != std::string::npos)
    return "";
  const std::string size = "size " + std::to_string(id.size);
  if (!id.version_id.empty()) return size + " version " + id.version_id + " etag " + id.etag;
  if (!id.etag.empty() && !id.etag_weak) return size + " etag " + id.etag;
  return "";
}
}  // namespace

// Without its cache file the mapping still works, from the network alone.
std::unique_ptr<cache::DiskCache> EngineImpl::open_cache(const source::ObjectSource& source,
                                                         const source::ObjectIdentity& id,
                                                         uint64_t pages) {
  std::string why;
  if (config.cache_keep) {
    const std::string validator = kept_cache_validator(id);
    if (validator.empty()) {
      MMAPURL_LOG(LogLevel::kInfo,
                  source.describe() + ": cache not kept: no strong ETag or version");
    } else if (auto kept = cache::DiskCache::open_kept(
                   config.cache_dir, source.origin().key() + " " + source.describe(), validator,
                   pages, &why)) {
      MMAPURL_LOG(LogLevel::kInfo, source.describe() + ": kept cache holds " +
                                       std::to_string(kept->held_pages()) + " of " +
                                       std::to_string(pages) + " pages");
      return kept;
    } else {
      MMAPURL_LOG(LogLevel::kInfo, source.describe() + ": cache not kept: " + why);
    }
  }
  auto unnamed = cache::DiskCache::create(config.cache_dir, pages, &why);
  if (!unnamed) MMAPURL_LOG(LogLevel::kError, source.describe() + ": no disk cache: " + why);
  return unnamed;
}

// A cache larger than MMAPURL_CACHE_KEEP_LIMIT on its own is not kept: the bound holds between
// runs whatever was mapped.
bool EngineImpl::save_kept_cache(Mapping& m) {
  if (!m.cache || !m.cache->kept()) return false;
  const uint64_t limit = config.cache_keep_limit;
  if (const uint64_t bytes = m.cache->disk_bytes(); limit > 0 && bytes > limit) {
    m.cache->discard();
    MMAPURL_LOG(LogLevel::kInfo, m.source->describe() + ": kept cache dropped: its " +
                                     std::to_string(bytes) +
                                     " bytes exceed MMAPURL_CACHE_KEEP_LIMIT");
  } else if (!m.cache->save()) {
    MMAPURL_LOG(LogLevel::kError,
                m.source->describe() + ": kept cache dropped: " + m.cache->error());
  }
  return true;
}

// After a save: the least recently used kept files go until the bounds hold (the one just saved,
// still locked by its mapping, stays).
void EngineImpl::prune_kept_caches() {
  const auto pruned = cache::prune_kept_caches(config.cache_dir, config.cache_keep_limit);
  if (!pruned.error.empty()) {
    MMAPURL_LOG(LogLevel::kError, "pruning kept caches: " + pruned.error);
  } else if (pruned.files_deleted > 0) {
    MMAPURL_LOG(LogLevel::kInfo, "pruning kept caches: deleted " +
                                     std::to_string(pruned.files_deleted) + " files, " +
                                     std::to_string(pruned.bytes_freed) + " bytes");
  }
}

int EngineImpl::unmap_now(uint64_t addr) {
  auto it = by_address.find(addr);
  if (it == by_address.end()) return -1;
  auto mit = mappings.find(it->second);
  Mapping& m = *mit->second;
  // Queued requests are dropped; running ones finish and find no mapping (discarded).
  std::vector<std::shared_ptr<Fetch>> fetches(m.fetches.begin(), m.fetches.end());
  for (const auto& fetch : fetches) {
    if (m.pool->withdraw(fetch->exchange)) {
      --requests_in_flight;  // it will never complete
      release_fetch(&m, fetch);
    }
  }
  settle_reads(m, /*gone=*/true);
  hold_ready_connections(m, false);  // its download ends
  if (save_kept_cache(m)) prune_kept_caches();
  if (m.length > 0) uffd.unregister(m.base, m.length);
  ::munmap(reinterpret_cast<void*>(m.base), std::max<uint64_t>(m.length, kPageSize));
  totals.resident_bytes.fetch_sub(m.counters.resident_bytes.load(), std::memory_order_relaxed);
  fill_order.forget_mapping(m.id);
  by_address.erase(it);
  mappings.erase(mit);
  return 0;
}

namespace {
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
          for (auto& [id, mapping] : impl->mappings) {
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

static void copy_counters(const Counters& c, Stats* out) {
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

static uint64_t cached_bytes(const Mapping& m) {
  return m.cache ? m.cache->held_pages() * cache::DiskCache::kPageSize : 0;
}

bool Engine::stats(const void* addr, Stats* out) {
  return ask_engine(impl_, false, [impl = impl_, addr, out] {
    if (!addr) {
      copy_counters(impl->totals, out);
      uint64_t conns = 0;
      for (auto& [key, pool] : impl->pools) conns += pool->connections();
      out->connections = conns;
      for (auto& [id, mapping] : impl->mappings) out->cached_bytes += cached_bytes(*mapping);
      return true;
    }
    Mapping* m = impl->find_mapping(reinterpret_cast<uint64_t>(addr));
    if (m) {
      copy_counters(m->counters, out);
      out->cached_bytes = cached_bytes(*m);
    }
    return m != nullptr;
  });
}

}  // namespace mmapurl::core
