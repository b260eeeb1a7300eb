// The embedded test server's HTTP dates (tools/embedded_server/http_date.hpp): IMF-fixdate only.
#include <gtest/gtest.h>

#include "embedded_server/http_date.hpp"

namespace mmapurl::testserver {
namespace {

TEST(HttpDate, RoundTrip) {
  EXPECT_EQ(format_http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  EXPECT_FALSE(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"));
}

}  // namespace
}  // namespace mmapurl::testserver
