// zstd with libzstd's streaming API: ZSTD_compressStream2 with ZSTD_e_flush
// per chunk, ZSTD_e_end at the end (frame epilogue with a checksum).
#include <zstd.h>

#include <algorithm>

#include "dataplane/pipeline/compression_codec.h"

namespace sluice::pipeline {
namespace {

class ZstdEncoder final : public BodyTransform {
 public:
  bool Init(int level) {
    context_ = ZSTD_createCCtx();
    if (context_ == nullptr) return false;
    level = std::clamp(level, 1, ZSTD_maxCLevel());
    if (ZSTD_isError(ZSTD_CCtx_setParameter(context_, ZSTD_c_compressionLevel, level))) return false;
    ZSTD_CCtx_setParameter(context_, ZSTD_c_checksumFlag, 1);
    // At most an 8 MiB window whatever the level: what RFC 8878 asks
    // HTTP decoders to support (larger windows may be refused). Levels up
    // to 19 stay within it by themselves (level 3: 2 MiB), and are left
    // their own smaller windows; 20 to 22 are capped.
    if (level > 19) ZSTD_CCtx_setParameter(context_, ZSTD_c_windowLog, 23);
    return true;
  }
  ~ZstdEncoder() override {
    if (context_ != nullptr) ZSTD_freeCCtx(context_);
  }

  bool Transform(std::string_view in, bool end, std::string& out) override {
    if (finished_) return in.empty();
    if (in.empty() && !end) return true;
    ZSTD_inBuffer input{in.data(), in.size(), 0};
    const ZSTD_EndDirective mode = end ? ZSTD_e_end : ZSTD_e_flush;
    char buffer[16 * 1024];
    for (;;) {
      ZSTD_outBuffer output{buffer, sizeof buffer, 0};
      size_t remaining = ZSTD_compressStream2(context_, &output, &input, mode);
      if (ZSTD_isError(remaining)) return false;
      out.append(buffer, output.pos);
      if (remaining == 0) {  // input taken and flushed (or the frame ended)
        finished_ = end;
        return true;
      }
    }
  }

 private:
  ZSTD_CCtx* context_ = nullptr;
  bool finished_ = false;
};

}  // namespace

std::unique_ptr<BodyTransform> MakeZstdEncoder(int level) {
  auto encoder = std::make_unique<ZstdEncoder>();
  if (!encoder->Init(level)) return nullptr;
  return encoder;
}

}  // namespace sluice::pipeline
