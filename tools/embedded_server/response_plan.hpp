// What the server will answer to one request, decided without I/O: status and head bytes, which
// synthetic bytes form the body, and how a fault bends the delivery (cut, stall, chunked...).
#pragma once

#include <cstdint>
#include <string>

#include "embedded_server/http_request.hpp"
#include "embedded_server/server_options.hpp"

namespace mmapurl::testserver {

// The object as it is when the request arrives (replace_object may change it later).
struct ObjectSnapshot {
  uint64_t size = 0;
  uint64_t seed = 0;
  std::string etag;
  std::string last_modified;
};

enum class BodyCut {
  kNone,
  kCloseAtHalf,  // graceful close after half the body
  kResetAtHalf,  // RST after half the body
  kStallAtHalf,  // stop sending after half the body until the fault is cleared
};

struct ResponsePlan {
  int status = 200;
  std::string head;          // status line + headers + blank line (just the status line if endless)
  std::string literal_body;  // small fixed bodies (errors); used when !synthetic_body
  bool synthetic_body = false;  // body = bytes [body_offset, +body_len) of object body_seed
  uint64_t body_seed = 0;
  uint64_t body_offset = 0;
  uint64_t body_len = 0;
  bool send_body = true;         // false for HEAD
  bool chunked = false;          // body framed with Transfer-Encoding: chunked
  bool endless_headers = false;  // after the status line, header lines until the peer leaves
  BodyCut cut = BodyCut::kNone;
  bool close_after = false;  // the connection cannot be reused after this answer
};

struct PlanContext {
  bool ignore_if_match = false;
  std::string redirect_from;
  std::string redirect_to;
};

// `object` is null when nothing is served at the request's path.
ResponsePlan plan_response(const RequestHead& req, const ObjectSnapshot* object, Fault fault,
                           const PlanContext& ctx);

// The answer when the request head exceeded the server's buffer (431) or did not parse (400).
ResponsePlan plan_bad_request(int status);

// How kChangeEtag and replace_object derive a changed object's identity.
std::string changed_etag(const std::string& etag);
uint64_t changed_seed(uint64_t seed);

}  // namespace mmapurl::testserver
