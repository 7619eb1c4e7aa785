#include "dataplane/discovery/json_log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

namespace sluice::discovery {

void LogJson(std::string_view level, std::string_view msg, const nlohmann::ordered_json& fields) {
  const auto now = std::chrono::system_clock::now();
  const auto seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char ts[40];
  const size_t length = std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(ts + length, sizeof ts - length, ".%03dZ", static_cast<int>(millis));

  nlohmann::ordered_json line;
  line["ts"] = ts;
  line["level"] = level;
  line["msg"] = msg;
  if (fields.is_object()) {
    for (const auto& [key, value] : fields.items()) line[key] = value;
  }
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text.push_back('\n');
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

}  // namespace sluice::discovery
