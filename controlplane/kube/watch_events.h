#pragma once
// The watch wire format: a chunked HTTP body of newline-delimited JSON
// events {"type": "ADDED|MODIFIED|DELETED|BOOKMARK|ERROR", "object": {...}}.
// Chunk boundaries fall anywhere, inside an event or between two.
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace sluice::kube {

// Reassembles lines from arbitrary chunks. Empty lines are skipped.
class LineSplitter {
 public:
  // Calls on_line for every complete line in buffered + chunk, without the
  // '\n' (and without a trailing '\r').
  void Feed(std::string_view chunk, const std::function<void(std::string_view line)>& on_line);
  // Bytes of an incomplete last line kept for the next Feed.
  size_t buffered() const { return partial_.size(); }
  void Clear() { partial_.clear(); }

 private:
  std::string partial_;
};

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark, kError };
  Type type = Type::kAdded;
  nlohmann::json object;  // the object, or a metav1.Status for kError
};

Result<WatchEvent> ParseWatchEvent(std::string_view line);

// Whether a metav1.Status (an ERROR event's object) says 410 Gone: the
// resourceVersion we watch from is too old, only a relist helps.
bool IsGoneStatus(const nlohmann::json& status);

// The "message" of a metav1.Status body, else the body itself (shortened),
// for one-line logs.
std::string StatusMessage(std::string_view body);

// metadata.resourceVersion ("" when absent); opaque, never compared.
std::string ResourceVersionOf(const nlohmann::json& object);

}  // namespace sluice::kube
