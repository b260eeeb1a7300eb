// S3ObjectSource: an object named by s3://bucket/key, read by SigV4-signed ranged GETs against
// the endpoint and region the AWS configuration names, learning the bucket's region when AWS
// says it lives elsewhere.
#pragma once

#include <memory>
#include <string>

#include "source/object_source.hpp"
#include "source/s3/addressing/s3_endpoint.hpp"
#include "source/s3/addressing/s3_settings.hpp"
#include "source/s3/addressing/s3_url.hpp"
#include "source/s3/credentials/credential_cache.hpp"
#include "source/source_factory.hpp"

namespace mmapurl::source {

class S3ObjectSource : public ObjectSource {
 public:
  // `credentials` null: anonymous, unsigned requests (AWS_NO_SIGN_REQUEST=true).
  S3ObjectSource(s3::S3Location location, s3::S3Settings settings, s3::S3Endpoint endpoint,
                 std::shared_ptr<s3::RefreshingCredentials> credentials);

  const net::Origin& origin() const override { return origin_; }
  net::RequestSpec range_request(uint64_t first, uint64_t last, bool pinned) override;
  std::string describe() const override { return "s3://" + location_.bucket + "/" + location_.key; }
  SourceVerdict classify_status(const net::ResponseHead& head,
                                const std::string& body) const override;
  std::optional<net::RequestSpec> size_request() override;
  bool adapt_to(const net::ResponseHead& head, const std::string& body) override;

  const s3::S3Endpoint& endpoint() const { return endpoint_; }

 private:
  // A signed request for the object (versionId added once the mapping pinned one).
  net::RequestSpec object_request(const std::string& method, std::vector<net::HttpHeader> headers,
                                  bool pinned);
  void set_endpoint(s3::S3Endpoint endpoint);

  s3::S3Location location_;
  s3::S3Settings settings_;
  s3::S3Endpoint endpoint_;
  net::Origin origin_;
  std::shared_ptr<s3::RefreshingCredentials> credentials_;
  int region_switches_ = 0;
};

// s3:// URL -> source, with settings, endpoint and credentials from the environment and the
// active profile. Runs on the application thread: credential providers may block briefly.
SourceOrError make_s3_object_source(const std::string& url);

}  // namespace mmapurl::source
