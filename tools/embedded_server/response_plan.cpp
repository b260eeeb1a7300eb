// The embedded server's HTTP semantics: preconditions, ranges, redirects and every injected
// fault are decided here, as data, so the connection loop only executes a plan.
#include "embedded_server/response_plan.hpp"

#include "embedded_server/http_date.hpp"

namespace mmapurl::testserver {
namespace {

constexpr uint64_t kMoreBytesExtra = 4096;
constexpr uint64_t kWrongContentRangeShift = 8;
constexpr uint64_t kWrongTotalDelta = 4096;
constexpr const char* kAbsurdContentLength = "1000000000000000";  // 1 PB

const char* reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 206:
      return "Partial Content";
    case 302:
      return "Found";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 412:
      return "Precondition Failed";
    case 416:
      return "Range Not Satisfiable";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

std::string status_line(int status) {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\n";
}

// A complete answer with a small fixed body; keeps the connection usable.
ResponsePlan literal(const RequestHead* req, int status, std::string body,
                     const std::string& content_type, const std::string& extra_headers = "") {
  ResponsePlan p;
  p.status = status;
  p.head = status_line(status) + "Server: mmapurl-testserver\r\n" + extra_headers +
           "Content-Type: " + content_type + "\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n";
  p.literal_body = std::move(body);
  p.send_body = req == nullptr || req->method != "HEAD";
  return p;
}

std::string s3_error(const std::string& code, const std::string& message) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + code + "</Code><Message>" +
         message + "</Message><RequestId>0000000000000000</RequestId></Error>";
}

// Preconditions are evaluated before the range, as RFC 9110 section 13.2.2 orders them.
bool precondition_failed(const RequestHead& req, const ObjectSnapshot& obj) {
  if (req.if_match) return !if_match_satisfied(*req.if_match, obj.etag);
  if (req.if_unmodified_since && !obj.last_modified.empty()) {
    const auto since = parse_http_date(*req.if_unmodified_since);
    const auto modified = parse_http_date(obj.last_modified);
    if (since && modified) return *modified > *since;
  }
  return false;
}

void finish_head(ResponsePlan& p, const RequestHead& req) {
  if (req.wants_close || p.close_after) p.head += "Connection: close\r\n";
  p.head += "\r\n";
  if (req.wants_close) p.close_after = true;
}

}  // namespace

std::string changed_etag(const std::string& etag) {
  if (etag.size() >= 2 && etag.back() == '"') return etag.substr(0, etag.size() - 1) + "-c\"";
  return "\"changed\"";
}

uint64_t changed_seed(uint64_t seed) { return seed ^ 0x6a09e667f3bcc908ULL; }

ResponsePlan plan_bad_request(int status) {
  ResponsePlan p = literal(nullptr, status, std::string(reason(status)) + "\n", "text/plain");
  p.close_after = true;
  p.head += "Connection: close\r\n\r\n";
  return p;
}

ResponsePlan plan_response(const RequestHead& req, const ObjectSnapshot* object, Fault fault,
                           const PlanContext& ctx) {
  ResponsePlan p;
  switch (fault) {
    case Fault::kStatus500:
      p = literal(&req, 500, "internal error\n", "text/plain");
      break;
    case Fault::kStatus503:
      p = literal(&req, 503, "unavailable\n", "text/plain", "Retry-After: 0\r\n");
      break;
    case Fault::kStatus503SlowDown:
      p = literal(&req, 503, s3_error("SlowDown", "Please reduce your request rate."),
                  "application/xml");
      break;
    case Fault::kStatus404:
      p = literal(&req, 404, s3_error("NoSuchKey", "The specified key does not exist."),
                  "application/xml");
      break;
    case Fault::kStatus403:
      p = literal(&req, 403, s3_error("AccessDenied", "Access Denied"), "application/xml");
      break;
    default:
      break;
  }
  if (!p.head.empty()) {
    finish_head(p, req);
    return p;
  }

  if (req.method != "GET" && req.method != "HEAD") {
    p = literal(&req, 405, "method not allowed\n", "text/plain", "Allow: GET, HEAD\r\n");
  } else if (!ctx.redirect_from.empty() && req.path == ctx.redirect_from) {
    p = literal(&req, 302, "", "text/plain", "Location: " + ctx.redirect_to + "\r\n");
  } else if (object == nullptr) {
    p = literal(&req, 404, s3_error("NoSuchKey", "The specified key does not exist."),
                "application/xml");
  }
  if (!p.head.empty()) {
    finish_head(p, req);
    return p;
  }

  ObjectSnapshot obj = *object;
  if (fault == Fault::kChangeEtag) {
    obj.etag = changed_etag(obj.etag);
    obj.seed = changed_seed(obj.seed);
    // Also newer, so a client pinning with If-Unmodified-Since sees the change too.
    if (const auto modified = parse_http_date(obj.last_modified)) {
      obj.last_modified = format_http_date(*modified + 3600);
    }
  }
  const std::string validators =
      (obj.etag.empty() ? "" : "ETag: " + obj.etag + "\r\n") +
      (obj.last_modified.empty() ? "" : "Last-Modified: " + obj.last_modified + "\r\n");
  if (!ctx.ignore_if_match && precondition_failed(req, obj)) {
    p = literal(&req, 412,
                s3_error("PreconditionFailed",
                         "At least one of the preconditions "
                         "you specified did not hold."),
                "application/xml");
    finish_head(p, req);
    return p;
  }

  const std::optional<std::string> no_range;
  const ResolvedRange range =
      resolve_range(fault == Fault::kIgnoreRange ? no_range : req.range, obj.size);
  if (range.kind == ResolvedRange::Kind::kUnsatisfiable) {
    p = literal(&req, 416, "", "text/plain",
                "Content-Range: bytes */" + std::to_string(obj.size) + "\r\n" + validators);
    finish_head(p, req);
    return p;
  }

  const bool partial = range.kind == ResolvedRange::Kind::kPartial ||
                       fault == Fault::kWrongContentRange || fault == Fault::kWrongTotal;
  uint64_t first = range.kind == ResolvedRange::Kind::kPartial ? range.first : 0;
  const uint64_t len =
      range.kind == ResolvedRange::Kind::kPartial ? range.last - first + 1 : obj.size;
  if (fault == Fault::kWrongContentRange) {
    // Shift by a word so both header and bytes are self-consistent but not what was asked.
    first = first >= kWrongContentRangeShift ? first - kWrongContentRangeShift
                                             : first + kWrongContentRangeShift;
  }
  uint64_t total = obj.size;
  if (fault == Fault::kWrongTotal) total += kWrongTotalDelta;

  p.status = partial ? 206 : 200;
  p.synthetic_body = true;
  p.body_seed = obj.seed;
  p.body_offset = first;
  p.body_len = len + (fault == Fault::kMoreBytes ? kMoreBytesExtra : 0);
  p.send_body = req.method != "HEAD";
  p.head = status_line(p.status) + "Server: mmapurl-testserver\r\n";
  if (fault == Fault::kEndlessHeaders) {
    p.endless_headers = true;
    p.close_after = true;
    return p;
  }
  p.head += "Content-Type: application/octet-stream\r\nAccept-Ranges: bytes\r\n" + validators;
  if (partial && len > 0) {
    p.head += "Content-Range: bytes " + std::to_string(first) + "-" +
              std::to_string(first + len - 1) + "/" + std::to_string(total) + "\r\n";
  }
  if (fault == Fault::kGzip) p.head += "Content-Encoding: gzip\r\n";
  if (fault == Fault::kChunked) {
    p.chunked = true;
    p.head += "Transfer-Encoding: chunked\r\n";
  } else if (fault == Fault::kAbsurdContentLength) {
    p.head += std::string("Content-Length: ") + kAbsurdContentLength + "\r\n";
    p.close_after = true;  // the framing is a lie: nothing after it can be parsed
  } else {
    p.head += "Content-Length: " + std::to_string(p.body_len) + "\r\n";
  }
  if (fault == Fault::kTruncate) p.cut = BodyCut::kCloseAtHalf;
  if (fault == Fault::kReset) p.cut = BodyCut::kResetAtHalf;
  if (fault == Fault::kStall) p.cut = BodyCut::kStallAtHalf;
  if (p.cut != BodyCut::kNone) p.close_after = true;
  finish_head(p, req);
  return p;
}

const char* fault_name(Fault f) {
  switch (f) {
    case Fault::kNone:
      return "none";
    case Fault::kStatus500:
      return "status500";
    case Fault::kStatus503:
      return "status503";
    case Fault::kStatus503SlowDown:
      return "status503_slowdown";
    case Fault::kStatus404:
      return "status404";
    case Fault::kStatus403:
      return "status403";
    case Fault::kIgnoreRange:
      return "ignore_range";
    case Fault::kWrongContentRange:
      return "wrong_content_range";
    case Fault::kWrongTotal:
      return "wrong_total";
    case Fault::kMoreBytes:
      return "more_bytes";
    case Fault::kTruncate:
      return "truncate";
    case Fault::kReset:
      return "reset";
    case Fault::kStall:
      return "stall";
    case Fault::kChunked:
      return "chunked";
    case Fault::kGzip:
      return "gzip";
    case Fault::kAbsurdContentLength:
      return "absurd_content_length";
    case Fault::kEndlessHeaders:
      return "endless_headers";
    case Fault::kChangeEtag:
      return "change_etag";
  }
  return "unknown";
}

}  // namespace mmapurl::testserver
