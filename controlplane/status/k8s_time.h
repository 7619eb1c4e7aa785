#pragma once
// Kubernetes timestamps: metav1.Time ("2024-05-01T12:00:00Z") and
// metav1.MicroTime ("2024-05-01T12:00:00.123456Z"), always UTC when we write.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::status {

using Clock = std::chrono::system_clock;

std::string FormatTime(Clock::time_point time);       // seconds precision
std::string FormatMicroTime(Clock::time_point time);  // microseconds
// Accepts both forms, with "Z" or a "+hh:mm"/"-hh:mm" offset.
std::optional<Clock::time_point> ParseTime(std::string_view text);

}  // namespace sluice::status
