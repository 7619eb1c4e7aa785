// gzip with zlib: deflateInit2 with windowBits 15 + 16 (a gzip header and
// trailer), Z_SYNC_FLUSH per chunk, Z_FINISH at the end.
#include <zlib.h>

#include <algorithm>

#include "dataplane/pipeline/compression_codec.h"

namespace sluice::pipeline {
namespace {

class GzipEncoder final : public BodyTransform {
 public:
  bool Init(int level) {
    level = std::clamp(level, 1, 9);
    // memLevel 8 (zlib's default): about 256 KiB per stream with the window.
    ok_ = deflateInit2(&stream_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
    return ok_;
  }
  ~GzipEncoder() override {
    if (ok_) deflateEnd(&stream_);
  }

  bool Transform(std::string_view in, bool end, std::string& out) override {
    if (finished_) return in.empty();
    if (in.empty() && !end) return true;  // nothing new to flush
    stream_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    stream_.avail_in = static_cast<uInt>(in.size());
    const int flush = end ? Z_FINISH : Z_SYNC_FLUSH;
    unsigned char buffer[16 * 1024];
    for (;;) {
      stream_.next_out = buffer;
      stream_.avail_out = sizeof buffer;
      int result = deflate(&stream_, flush);
      if (result == Z_STREAM_ERROR) return false;
      out.append(reinterpret_cast<const char*>(buffer), sizeof buffer - stream_.avail_out);
      if (result == Z_STREAM_END) {
        finished_ = true;
        return true;
      }
      // Z_SYNC_FLUSH is complete when deflate left room in the buffer (and
      // took all the input); Z_FINISH when it says Z_STREAM_END.
      if (!end && stream_.avail_out != 0 && stream_.avail_in == 0) return true;
      if (result == Z_BUF_ERROR && stream_.avail_out != 0) return false;  // no progress possible
    }
  }

 private:
  z_stream stream_{};
  bool ok_ = false;
  bool finished_ = false;
};

}  // namespace

std::unique_ptr<BodyTransform> MakeGzipEncoder(int level) {
  auto encoder = std::make_unique<GzipEncoder>();
  if (!encoder->Init(level)) return nullptr;
  return encoder;
}

}  // namespace sluice::pipeline
