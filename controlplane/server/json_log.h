#pragma once
// One JSON object per line on stderr: {"ts":..., "level":..., "msg":..., ...}.
// Log collectors parse these without a custom grammar; keep every line a
// complete object and write it with a single call so threads do not interleave.
#include <chrono>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace sluice::server {

// `fields` must be a JSON object (or null); its members are appended after
// ts/level/msg.
void LogJson(std::string_view level, std::string_view msg,
             const nlohmann::ordered_json& fields = nlohmann::ordered_json::object());

// RFC 3339 UTC with milliseconds ("2024-05-01T12:00:00.123Z"); "" for the epoch
// (a time that never happened, e.g. "never ACKed").
std::string Rfc3339(std::chrono::system_clock::time_point time);

}  // namespace sluice::server
