// Executes response plans on a blocking socket. Bodies are generated in large chunks and written
// with one SSL_write each (the head rides in the first one), which is what makes >1 GB/s possible.
#include "embedded_server/connection_session.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "embedded_server/connection_transport.hpp"
#include "embedded_server/http_request.hpp"
#include "embedded_server/response_plan.hpp"
#include "embedded_server/send_pacer.hpp"
#include "embedded_server/synthetic_content.hpp"

namespace mmapurl::testserver {
namespace {

constexpr size_t kMaxRequestHead = 16 * 1024;
constexpr size_t kMaxRequestBody = 1024 * 1024;
constexpr size_t kWriteChunk = 256 * 1024;
constexpr uint64_t kEndlessHeadersCap = 256ull * 1024 * 1024;

class Session {
 public:
  Session(ServerCore& core, int fd)
      : core_(core),
        transport_(fd, core.ssl_ctx(), core.options().tls_key_update_bytes),
        pacer_(core.options().conn_mbps) {}

  void run() {
    if (!transport_.handshake()) return;
    out_.resize(kWriteChunk);
    while (!core_.stopping()) {
      std::string head;
      const HeadStatus status = read_head(&head);
      if (status == HeadStatus::kClosed) return;
      if (status == HeadStatus::kTooLarge) {
        finish_with(plan_bad_request(431));
        return;
      }
      const std::optional<RequestHead> req = parse_request_head(head);
      if (!req) {
        finish_with(plan_bad_request(400));
        return;
      }
      if (!discard_request_body(req->content_length)) return;
      core_.requests.fetch_add(1, std::memory_order_relaxed);

      const ServerCore::TakenFault fault = core_.take_fault(req->path);
      const std::optional<ObjectSnapshot> object = core_.find_object(req->path);
      const ResponsePlan plan =
          plan_response(*req, object ? &*object : nullptr, fault.fault, core_.plan_context());
      const auto latency =
          std::chrono::nanoseconds(static_cast<long long>(core_.options().latency_ms * 1e6));
      if (!core_.sleep_for(latency)) return;
      if (!execute(plan, fault.epoch)) return;
      if (plan.close_after) return;
    }
  }

 private:
  enum class HeadStatus { kOk, kClosed, kTooLarge };

  // Bounded: a head that does not end within kMaxRequestHead bytes is refused with 431.
  HeadStatus read_head(std::string* head) {
    for (;;) {
      const size_t end = inbuf_.find("\r\n\r\n");
      if (end != std::string::npos) {
        if (end + 4 > kMaxRequestHead) return HeadStatus::kTooLarge;
        *head = inbuf_.substr(0, end);
        inbuf_.erase(0, end + 4);
        return HeadStatus::kOk;
      }
      if (inbuf_.size() >= kMaxRequestHead) return HeadStatus::kTooLarge;
      char buf[kMaxRequestHead];
      const long n = transport_.read_some(buf, sizeof(buf));
      if (n <= 0) return HeadStatus::kClosed;
      inbuf_.append(buf, static_cast<size_t>(n));
    }
  }

  bool discard_request_body(uint64_t len) {
    if (len > kMaxRequestBody) return false;
    while (len > 0) {
      if (inbuf_.empty()) {
        char buf[16 * 1024];
        const long n = transport_.read_some(buf, sizeof(buf));
        if (n <= 0) return false;
        inbuf_.append(buf, static_cast<size_t>(n));
      }
      const size_t take = static_cast<size_t>(std::min<uint64_t>(len, inbuf_.size()));
      inbuf_.erase(0, take);
      len -= take;
    }
    return true;
  }

  // Paced, counted write. False when the peer is gone or the server stops.
  bool send(const char* data, size_t n) {
    while (n > 0) {
      const size_t piece = pacer_.enabled() ? std::min(n, pacer_.max_piece()) : n;
      if (!core_.sleep_for(pacer_.reserve(piece))) return false;
      // Counted before the write, so a client that has read a byte sees it counted.
      core_.bytes_sent.fetch_add(piece, std::memory_order_relaxed);
      if (!transport_.write_all(data, piece)) return false;
      data += piece;
      n -= piece;
    }
    return true;
  }

  void finish_with(const ResponsePlan& plan) {
    if (execute(plan, 0)) transport_.close_gracefully();
  }

  // Writes the plan; returns false when the connection must end without more ceremony.
  bool execute(const ResponsePlan& plan, uint64_t fault_epoch) {
    if (plan.endless_headers) return send_endless_headers(plan.head);
    const uint64_t full = !plan.send_body       ? 0
                          : plan.synthetic_body ? plan.body_len
                                                : plan.literal_body.size();
    const uint64_t to_send = plan.cut == BodyCut::kNone ? full : full / 2;
    bool ok = plan.chunked ? send_chunked(plan, to_send) : send_identity(plan, to_send);
    if (!ok) return false;
    switch (plan.cut) {
      case BodyCut::kNone:
        if (plan.close_after) transport_.close_gracefully();
        return true;
      case BodyCut::kCloseAtHalf:
        transport_.close_gracefully();
        return false;
      case BodyCut::kResetAtHalf:
        transport_.arm_reset();
        return false;
      case BodyCut::kStallAtHalf:
        core_.wait_for_fault_epoch_after(fault_epoch);
        return false;
    }
    return false;
  }

  // Head and body in kWriteChunk writes; the head shares the first one.
  bool send_identity(const ResponsePlan& plan, uint64_t body_bytes) {
    if (!plan.synthetic_body) {
      std::string all = plan.head;
      all.append(plan.literal_body, 0, static_cast<size_t>(body_bytes));
      return send(all.data(), all.size());
    }
    size_t used = std::min(plan.head.size(), out_.size());
    std::copy_n(plan.head.data(), used, out_.data());
    if (used < plan.head.size()) {  // a head larger than a chunk: send it alone
      if (!send(plan.head.data(), plan.head.size())) return false;
      used = 0;
    }
    uint64_t offset = plan.body_offset;
    uint64_t left = body_bytes;
    do {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(left, out_.size() - used));
      fill_synthetic(plan.body_seed, offset, reinterpret_cast<uint8_t*>(out_.data() + used), n);
      if (!send(out_.data(), used + n)) return false;
      offset += n;
      left -= n;
      used = 0;
    } while (left > 0);
    return true;
  }

  bool send_chunked(const ResponsePlan& plan, uint64_t body_bytes) {
    if (!send(plan.head.data(), plan.head.size())) return false;
    uint64_t offset = plan.body_offset;
    uint64_t left = body_bytes;
    constexpr size_t kChunk = 64 * 1024;  // several chunks even for modest ranges
    while (left > 0) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(left, kChunk));
      char size_line[32];
      const int len = std::snprintf(size_line, sizeof(size_line), "%zx\r\n", n);
      std::copy_n(size_line, len, out_.data());
      fill_synthetic(plan.body_seed, offset, reinterpret_cast<uint8_t*>(out_.data() + len), n);
      std::copy_n("\r\n", 2, out_.data() + len + n);
      if (!send(out_.data(), len + n + 2)) return false;
      offset += n;
      left -= n;
    }
    if (plan.cut != BodyCut::kNone) return true;
    return send("0\r\n\r\n", 5);
  }

  // Header lines until the client gives up (or a cap, so a client without a limit fails a test
  // instead of hanging it).
  bool send_endless_headers(const std::string& status_line) {
    if (!send(status_line.data(), status_line.size())) return false;
    std::string batch;
    uint64_t sent = 0;
    for (int line = 0; sent < kEndlessHeadersCap && !core_.stopping();) {
      batch.clear();
      while (batch.size() < 16 * 1024) {
        batch += "X-Padding-" + std::to_string(line++) +
                 ": aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
      }
      if (!send(batch.data(), batch.size())) return false;
      sent += batch.size();
    }
    return false;
  }

  ServerCore& core_;
  ConnectionTransport transport_;
  SendPacer pacer_;
  std::string inbuf_;
  std::vector<char> out_;
};

}  // namespace

void serve_connection(ServerCore& core, int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  // A receive timeout ends a read that waits longer than the keep-alive timeout: read_head then
  // sees a failed read and the session closes the connection, as nginx does to an idle client.
  if (const double ms = core.options().keepalive_timeout_ms; ms > 0) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms - static_cast<double>(tv.tv_sec) * 1000) * 1000);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  {
    Session session(core, fd);
    session.run();
  }  // the SSL object goes before its descriptor
  core.close_socket(fd);
}

}  // namespace mmapurl::testserver
