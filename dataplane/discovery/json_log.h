#pragma once
// JSON log lines on stderr for the discovery client (same shape as the
// controller's: {"ts":..., "level":..., "msg":..., ...}).
#include <string_view>

#include <nlohmann/json.hpp>

namespace sluice::discovery {

void LogJson(std::string_view level, std::string_view msg,
             const nlohmann::ordered_json& fields = nlohmann::ordered_json::object());

}  // namespace sluice::discovery
