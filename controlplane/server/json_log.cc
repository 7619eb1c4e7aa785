#include "controlplane/server/json_log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

namespace sluice::server {

std::string Rfc3339(std::chrono::system_clock::time_point now) {
  if (now.time_since_epoch().count() == 0) return "";
  const auto seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[40];
  const size_t length = std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(buffer + length, sizeof buffer - length, ".%03dZ", static_cast<int>(millis));
  return buffer;
}

void LogJson(std::string_view level, std::string_view msg, const nlohmann::ordered_json& fields) {
  nlohmann::ordered_json line;
  line["ts"] = Rfc3339(std::chrono::system_clock::now());
  line["level"] = level;
  line["msg"] = msg;
  if (fields.is_object()) {
    for (const auto& [key, value] : fields.items()) line[key] = value;
  }
  // replace: invalid UTF-8 in an error text must not throw out of a logger.
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text.push_back('\n');
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

}  // namespace sluice::server
