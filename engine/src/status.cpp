#include "optout/status.hpp"

namespace optout {

const char* error_code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kOk: return "ok";
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kIoError: return "i/o error";
    case ErrorCode::kCorruption: return "corruption";
    case ErrorCode::kUnsupportedVersion: return "unsupported version";
    case ErrorCode::kNotFound: return "not found";
    case ErrorCode::kInvalidInput: return "invalid input";
    case ErrorCode::kLimitExceeded: return "limit exceeded";
    case ErrorCode::kBrokenPipe: return "broken pipe";
    case ErrorCode::kStaleRegistry: return "stale registry";
    case ErrorCode::kDataQuality: return "data quality";
    case ErrorCode::kInternal: return "internal error";
  }
  return "unknown error";
}

}  // namespace optout
