// The one place engine failures become the public MMAP_S3_* codes.
#pragma once

#include "net/http_types.hpp"
#include "source/object_source.hpp"

namespace mmapurl::core {

// A source's verdict on an answer, or why no source could be made for a URL: NOT_FOUND,
// PERMISSION_ERROR, CONTENT_LENGTH_NOT_RETURNED, INVALID_S3URL or IOERROR.
int code_for(source::SourceError e);
// The code for a probe answer the engine did not take: why on_head refused it (the verdict it
// recorded), else why the transport did (a 2xx body framed without Content-Length).
int refused_probe_code(source::SourceError refusal, const net::ResponseHead& head);

}  // namespace mmapurl::core
