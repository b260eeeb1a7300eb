// The open state machine: a probe GET of the first range pins the object's identity (size,
// validators) and brings its first bytes; redirects are followed, a 416 for an empty object
// asks a HEAD, failures are retried as control/retry_policy says, and the caller of mmap_s3 is
// answered once.
#include <boost/asio/steady_timer.hpp>
#include <cerrno>

#include "base/log.hpp"
#include "core/engine_impl.hpp"
#include "core/outcome_codes.hpp"
#include "mmapurl.h"

namespace mmapurl::core {

namespace asio = boost::asio;
using control::AttemptFailure;

namespace {
constexpr int kMaxRedirects = 10;

MapOutcome failed(int code, std::string message, int sys_errno = 0) {
  MapOutcome out;
  out.code = code;
  out.sys_errno = sys_errno;
  out.message = std::move(message);
  return out;
}
}  // namespace

OpenJob::~OpenJob() {
  if (answered) return;
  try {
    promise.set_value(failed(MMAP_S3_UNKNOWN, "internal error: the open was dropped unanswered"));
  } catch (...) {
  }
}

void EngineImpl::run_open(std::shared_ptr<OpenJob> job) {
  contain(
      "opening a mapping", [&] { begin_open(job); },
      [&](Contained failure) { fail_open(job, failure); });
}

void EngineImpl::fail_open(const std::shared_ptr<OpenJob>& job, Contained failure) {
  finish_open(job, failed(failure.out_of_memory ? MMAP_S3_ERRNO : MMAP_S3_UNKNOWN,
                          std::string("internal error: ") + failure.why,
                          failure.out_of_memory ? ENOMEM : 0));
}

void EngineImpl::begin_open(std::shared_ptr<OpenJob> job) {
  if (!job->probe) job->probe = take_staging(config.probe_bytes);
  if (!job->probe) {
    return finish_open(
        job, failed(MMAP_S3_ERRNO, "no memory for the first range's staging buffer", ENOMEM));
  }
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
  pool_for(job->source->origin())->submit(std::move(exchange));
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
  const std::string what = job->source->describe() + ": ";
  const unsigned status = r.head.status;
  if (r.error == net::NetError::kProtocol) {
    // Refused in on_head, or a malformed answer: the server's fault, not the network's.
    return finish_open(job, failed(refused_probe_code(refusal, r.head), what + r.message));
  }
  if (r.error == net::NetError::kTlsVerify) {
    return finish_open(job, failed(MMAP_S3_IOERROR, what + r.message));
  }
  if (r.error != net::NetError::kNone) {
    return retry_open_or_fail(job, AttemptFailure::kNetwork, r.message);
  }
  if (status / 100 != 2 && job->source->adapt_to(r.head, r.small_body) &&
      ++job->redirects <= kMaxRedirects) {
    return begin_open(job);
  }
  if (status >= 300 && status < 400 && status != 304) return follow_redirect(job, r.head);
  if (status == 416) return on_range_not_satisfiable(job, r.head);
  if (status / 100 != 2) {
    auto verdict = job->source->classify_status(r.head, r.small_body);
    if (verdict.error == source::SourceError::kTransient) {
      return retry_open_or_fail(job, AttemptFailure::kStatusTransient, verdict.message);
    }
    return finish_open(job, failed(code_for(verdict.error), what + verdict.message));
  }
  if (r.body_bytes != job->probe_len) {
    return finish_open(job, failed(MMAP_S3_NO_BODY_RETURNED, what + "no body returned"));
  }
  create_mapping(job);
}

// A 3xx: the source says where it leads and whether it may be followed.
void EngineImpl::follow_redirect(const std::shared_ptr<OpenJob>& job,
                                 const net::ResponseHead& head) {
  if (++job->redirects > kMaxRedirects) {
    return finish_open(
        job, failed(MMAP_S3_IOERROR, job->source->describe() + ": bad or too many redirects"));
  }
  std::string why;
  auto next = job->source->redirected(head, config.allow_tls_downgrade, &why);
  if (!next) return finish_open(job, failed(MMAP_S3_IOERROR, why));
  MMAPURL_LOG(LogLevel::kInfo, "redirect " + job->source->describe() + " -> " + next->describe());
  job->source = std::move(next);
  begin_open(job);
}

// 416 to the first range: an empty object. Its size comes from Content-Range, or where the
// answer has none (S3's InvalidRange), from a HEAD.
void EngineImpl::on_range_not_satisfiable(const std::shared_ptr<OpenJob>& job,
                                          const net::ResponseHead& head) {
  source::ObjectIdentity id;
  auto verdict = source::identity_from_probe(head, &id);
  if (verdict.error != source::SourceError::kNone && !job->asked_size) {
    if (auto head_request = job->source->size_request()) {
      job->asked_size = true;
      return ask_size(job, std::move(*head_request));
    }
  }
  if (verdict.error != source::SourceError::kNone) {
    return finish_open(job,
                       failed(MMAP_S3_IOERROR, job->source->describe() + ": " + verdict.message));
  }
  job->source->set_identity(id);
  job->probe_len = 0;
  create_mapping(job);
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
  const std::string what = job->source->describe() + ": range refused (416), then HEAD: ";
  if (r.error == net::NetError::kProtocol || r.error == net::NetError::kTlsVerify) {
    return finish_open(job, failed(MMAP_S3_IOERROR, what + r.message));
  }
  if (r.error != net::NetError::kNone) {
    return retry_open_or_fail(job, AttemptFailure::kNetwork, "HEAD: " + r.message);
  }
  if (r.head.status / 100 != 2) {
    auto verdict = job->source->classify_status(r.head, r.small_body);
    if (verdict.error == source::SourceError::kTransient) {
      return retry_open_or_fail(job, AttemptFailure::kStatusTransient, "HEAD: " + verdict.message);
    }
    return finish_open(job, failed(code_for(verdict.error), what + verdict.message));
  }
  source::ObjectIdentity id;
  auto verdict = source::identity_from_head(r.head, &id);
  if (verdict.error != source::SourceError::kNone) {
    return finish_open(job, failed(code_for(verdict.error), what + verdict.message));
  }
  if (id.size != 0) {
    // Not empty, yet its first bytes were refused: replaced between the two requests?
    return retry_open_or_fail(
        job, AttemptFailure::kStatusTransient,
        "416 to the first range of a " + std::to_string(id.size) + "-byte object");
  }
  job->source->set_identity(id);
  job->probe_len = 0;
  create_mapping(job);
}

void EngineImpl::retry_open_or_fail(const std::shared_ptr<OpenJob>& job, AttemptFailure failure,
                                    const std::string& why) {
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  const auto decision = retry_policy.decide(control::RetryPhase::kOpen, failure, job->attempts,
                                            Clock::now() - job->started, jitter(retry_jitter));
  ++job->attempts;
  if (!decision.retry) {
    return finish_open(job, failed(MMAP_S3_IOERROR, job->source->describe() + ": " + why));
  }
  totals.retries.fetch_add(1, std::memory_order_relaxed);
  MMAPURL_LOG(LogLevel::kInfo, "retrying " + job->source->describe() + ": " + why);
  auto timer = std::make_shared<asio::steady_timer>(*io, decision.delay);
  timer->async_wait([this, job, timer](boost::system::error_code) {
    job->asked_size = false;  // a new probe may need a new size request
    run_open(job);
  });
}

void EngineImpl::finish_open(std::shared_ptr<OpenJob> job, MapOutcome outcome) {
  if (job->answered) return;
  job->answered = true;
  if (job->probe) give_staging(job->probe, config.probe_bytes);
  job->probe = nullptr;
  if (outcome.code != MMAP_S3_OK)
    MMAPURL_LOG(LogLevel::kInfo, "mapping failed: " + outcome.message);
  job->promise.set_value(std::move(outcome));
}

}  // namespace mmapurl::core
