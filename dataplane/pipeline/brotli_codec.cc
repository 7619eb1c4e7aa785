// brotli with libbrotlienc's streaming API: BROTLI_OPERATION_FLUSH per
// chunk, BROTLI_OPERATION_FINISH at the end.
#include <brotli/encode.h>

#include <algorithm>

#include "dataplane/pipeline/compression_codec.h"

namespace sluice::pipeline {
namespace {

class BrotliEncoder final : public BodyTransform {
 public:
  bool Init(int level) {
    state_ = BrotliEncoderCreateInstance(nullptr, nullptr, nullptr);
    if (state_ == nullptr) return false;
    BrotliEncoderSetParameter(state_, BROTLI_PARAM_QUALITY, static_cast<uint32_t>(std::clamp(level, 0, 11)));
    // A 1 MiB window (not the 4 MiB default): bounded memory per response
    // at a small cost in ratio for very large bodies.
    BrotliEncoderSetParameter(state_, BROTLI_PARAM_LGWIN, 20);
    return true;
  }
  ~BrotliEncoder() override {
    if (state_ != nullptr) BrotliEncoderDestroyInstance(state_);
  }

  bool Transform(std::string_view in, bool end, std::string& out) override {
    if (BrotliEncoderIsFinished(state_)) return in.empty();
    if (in.empty() && !end) return true;
    const BrotliEncoderOperation op = end ? BROTLI_OPERATION_FINISH : BROTLI_OPERATION_FLUSH;
    size_t available_in = in.size();
    const uint8_t* next_in = reinterpret_cast<const uint8_t*>(in.data());
    uint8_t buffer[16 * 1024];
    for (;;) {
      size_t available_out = sizeof buffer;
      uint8_t* next_out = buffer;
      if (!BrotliEncoderCompressStream(state_, op, &available_in, &next_in, &available_out, &next_out, nullptr)) {
        return false;
      }
      out.append(reinterpret_cast<const char*>(buffer), sizeof buffer - available_out);
      if (available_in == 0 && !BrotliEncoderHasMoreOutput(state_) && (!end || BrotliEncoderIsFinished(state_))) {
        return true;
      }
    }
  }

 private:
  BrotliEncoderState* state_ = nullptr;
};

}  // namespace

std::unique_ptr<BodyTransform> MakeBrotliEncoder(int level) {
  auto encoder = std::make_unique<BrotliEncoder>();
  if (!encoder->Init(level)) return nullptr;
  return encoder;
}

}  // namespace sluice::pipeline
