// Fuzz target: the HTTP response header parse as the engine does it (Beast's response_parser
// with a 16 KiB header limit, fed through put()), then HttpConnection's ResponseHead
// extraction and identity_from_probe. Beast and Asio compile header-only in this one file.
#include <algorithm>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.hpp"
#include "net/http_types.hpp"
#include "source/object_source.hpp"

namespace beast = boost::beast;
namespace http = beast::http;
using mmapurl::net::ResponseHead;

namespace {

constexpr uint32_t kHeaderLimit = 16 * 1024;  // as engine/net/http_connection.cpp

// Copy of HttpConnection::Impl::on_header()'s extraction of the head.
ResponseHead extract_head(const http::response_parser<http::empty_body>& parser) {
  const auto& msg = parser.get();
  ResponseHead head;
  head.status = msg.result_int();
  head.keep_alive = msg.keep_alive();
  head.chunked = parser.chunked();
  if (auto len = parser.content_length()) head.content_length = *len;
  for (const auto& field : msg) {
    std::string name(field.name_string());
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    head.headers.push_back({std::move(name), std::string(field.value())});
  }
  return head;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The first byte chooses how the bytes arrive (split in two reads or in one), as the socket
  // may deliver them.
  if (size < 1) return 0;
  size_t split = data[0];
  const char* bytes = reinterpret_cast<const char*>(data + 1);
  size_t n = size - 1;
  split = std::min(split, n);

  http::response_parser<http::empty_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.eager(false);
  boost::system::error_code ec;
  size_t used = 0;
  // Feed like async_read_header: what has arrived so far, until the header is done.
  for (size_t avail : {split, n}) {
    while (!parser.is_header_done() && used < avail) {
      size_t k = parser.put(boost::asio::buffer(bytes + used, avail - used), ec);
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (ec) break;
      used += k;
      if (k == 0) break;
    }
    if (ec) break;
  }
  if (ec || !parser.is_header_done()) return 0;
  FUZZ_CHECK(used <= n);

  ResponseHead head = extract_head(parser);
  FUZZ_CHECK(head.status <= 999);
  for (const auto& h : head.headers) {
    FUZZ_CHECK(!h.name.empty());
    for (char c : h.name) FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
    // Beast refuses bare control bytes in values (obs-fold is unfolded into spaces).
    for (unsigned char c : h.value) FUZZ_CHECK(c == '\t' || c >= 0x20);
  }
  mmapurl::source::ObjectIdentity identity;
  mmapurl::source::SourceVerdict verdict = mmapurl::source::identity_from_probe(head, &identity);
  if (verdict.error == mmapurl::source::SourceError::kNone) {
    FUZZ_CHECK(head.status == 206 || head.status == 416);
  }
  if (verdict.error == mmapurl::source::SourceError::kRangeIgnored) {
    FUZZ_CHECK(head.content_length && identity.size == *head.content_length);
  }
  // The extracted head must also be acceptable input to the range check.
  uint64_t last = identity.size ? identity.size - 1 : 0;
  (void)mmapurl::source::check_range_response(head, identity, 0, last);
  return 0;
}
