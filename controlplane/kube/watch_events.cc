#include "controlplane/kube/watch_events.h"

namespace sluice::kube {

using nlohmann::json;

void LineSplitter::Feed(std::string_view chunk, const std::function<void(std::string_view line)>& on_line) {
  while (!chunk.empty()) {
    size_t newline = chunk.find('\n');
    if (newline == std::string_view::npos) {
      partial_.append(chunk);
      return;
    }
    std::string_view line;
    if (partial_.empty()) {
      line = chunk.substr(0, newline);
    } else {
      partial_.append(chunk.substr(0, newline));
      line = partial_;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) on_line(line);
    partial_.clear();
    chunk.remove_prefix(newline + 1);
  }
}

Result<WatchEvent> ParseWatchEvent(std::string_view line) {
  json parsed = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return Status::Error("watch event is not a JSON object");
  auto type = parsed.find("type");
  auto object = parsed.find("object");
  if (type == parsed.end() || !type->is_string()) return Status::Error("watch event without a type");
  if (object == parsed.end() || !object->is_object()) return Status::Error("watch event without an object");
  WatchEvent event;
  const std::string& name = type->get_ref<const std::string&>();
  if (name == "ADDED") event.type = WatchEvent::Type::kAdded;
  else if (name == "MODIFIED") event.type = WatchEvent::Type::kModified;
  else if (name == "DELETED") event.type = WatchEvent::Type::kDeleted;
  else if (name == "BOOKMARK") event.type = WatchEvent::Type::kBookmark;
  else if (name == "ERROR") event.type = WatchEvent::Type::kError;
  else return Status::Error("unknown watch event type \"" + name + "\"");
  event.object = std::move(*object);
  return event;
}

bool IsGoneStatus(const json& status) {
  if (!status.is_object()) return false;
  auto code = status.find("code");
  if (code != status.end() && code->is_number_integer() && code->get<int>() == 410) return true;
  auto reason = status.find("reason");
  return reason != status.end() && reason->is_string() &&
         (reason->get<std::string>() == "Expired" || reason->get<std::string>() == "Gone");
}

std::string StatusMessage(std::string_view body) {
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object()) {
    auto message = parsed.find("message");
    if (message != parsed.end() && message->is_string()) return message->get<std::string>();
  }
  std::string text(body.substr(0, 200));
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

std::string ResourceVersionOf(const json& object) {
  if (!object.is_object()) return "";
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return "";
  auto version = metadata->find("resourceVersion");
  return version != metadata->end() && version->is_string() ? version->get<std::string>() : "";
}

}  // namespace sluice::kube
