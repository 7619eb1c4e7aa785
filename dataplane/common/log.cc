#include "dataplane/common/log.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>

namespace sluice::log {

std::string Quote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back('"');
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
  return out;
}

void Write(std::string_view level, std::string_view message, std::initializer_list<Field> fields) {
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  int millis = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[40];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  std::string line = "{\"ts\":\"";
  line += ts;
  line += "\",\"level\":";
  line += Quote(level);
  line += ",\"msg\":";
  line += Quote(message);
  for (const Field& f : fields) {
    line += ',';
    line += Quote(f.first);
    line += ':';
    line += Quote(f.second);
  }
  line += "}\n";
  (void)!::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace sluice::log
