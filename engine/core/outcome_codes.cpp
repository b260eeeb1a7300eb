#include "core/outcome_codes.hpp"

#include "mmapurl.h"

namespace mmapurl::core {

int code_for(source::SourceError e) {
  switch (e) {
    case source::SourceError::kNotFound:
      return MMAP_S3_NOT_FOUND;
    case source::SourceError::kPermission:
      return MMAP_S3_PERMISSION_ERROR;
    case source::SourceError::kNoLength:
      return MMAP_S3_CONTENT_LENGTH_NOT_RETURNED;
    // An unusable proxy is a configuration error found before any I/O, as a malformed URL or
    // AWS_ENDPOINT_URL is.
    case source::SourceError::kInvalidUrl:
    case source::SourceError::kUnusableProxy:
      return MMAP_S3_INVALID_S3URL;
    default:
      return MMAP_S3_IOERROR;
  }
}

int refused_probe_code(source::SourceError refusal, const net::ResponseHead& head) {
  if (refusal != source::SourceError::kNone) return code_for(refusal);
  if (head.status / 100 == 2 && (head.chunked || !head.content_length)) {
    return MMAP_S3_CONTENT_LENGTH_NOT_RETURNED;
  }
  return MMAP_S3_IOERROR;
}

}  // namespace mmapurl::core
