#pragma once
// JSON access that never throws, whatever shape a manifest has (shared by
// the translator and its parts).
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace sluice::translate {

inline const nlohmann::json* Get(const nlohmann::json* object, std::string_view key) {
  if (object == nullptr || !object->is_object()) return nullptr;
  auto it = object->find(key);
  return it == object->end() ? nullptr : &*it;
}

inline std::string String(const nlohmann::json* object, std::string_view key) {
  const nlohmann::json* value = Get(object, key);
  return value != nullptr && value->is_string() ? value->get<std::string>() : "";
}

}  // namespace sluice::translate
