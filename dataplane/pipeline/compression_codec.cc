#include "dataplane/pipeline/compression_codec.h"

namespace sluice::pipeline {

std::string_view CodingName(Coding coding) {
  switch (coding) {
    case Coding::kGzip:
      return "gzip";
    case Coding::kBrotli:
      return "br";
    case Coding::kZstd:
      return "zstd";
    case Coding::kIdentity:
      break;
  }
  return "identity";
}

std::unique_ptr<BodyTransform> MakeEncoder(Coding coding, int level) {
  switch (coding) {
    case Coding::kGzip:
      return MakeGzipEncoder(level);
    case Coding::kBrotli:
      return MakeBrotliEncoder(level);
    case Coding::kZstd:
      return MakeZstdEncoder(level);
    case Coding::kIdentity:
      break;
  }
  return nullptr;
}

}  // namespace sluice::pipeline
