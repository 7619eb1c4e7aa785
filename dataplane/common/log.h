#pragma once
// JSON log lines on stderr: {"ts":"...","level":"info","msg":"...",...}.
// One write(2) per line so lines from threads never interleave. Not for the
// per-request path (the access log has its own non-blocking writer).
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace sluice::log {

using Field = std::pair<std::string_view, std::string>;

void Write(std::string_view level, std::string_view message, std::initializer_list<Field> fields = {});
inline void Info(std::string_view m, std::initializer_list<Field> f = {}) { Write("info", m, f); }
inline void Warn(std::string_view m, std::initializer_list<Field> f = {}) { Write("warn", m, f); }
inline void Error(std::string_view m, std::initializer_list<Field> f = {}) { Write("error", m, f); }

// JSON string escaping (quotes included).
std::string Quote(std::string_view text);

}  // namespace sluice::log
