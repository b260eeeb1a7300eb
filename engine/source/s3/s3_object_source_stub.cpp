// Placeholder until the S3 source lands: s3:// URLs are validated but not yet served.
#include "mmapurl.h"
#include "source/source_factory.hpp"

namespace mmapurl::source {

SourceOrError make_s3_object_source(const std::string&) {
  SourceOrError out;
  out.code = MMAP_S3_INVALID_S3URL;
  out.message = "s3:// URLs are not supported by this build yet";
  return out;
}

}  // namespace mmapurl::source
