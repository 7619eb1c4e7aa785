#pragma once
// Test-only: the request a stage test runs a chain on, and what the stages
// added to the response, shared by the stage tests.
#include <string>
#include <string_view>
#include <utility>

#include "dataplane/pipeline/exchange_state.h"

namespace sluice::pipeline {

// A GET of `path` on `authority` from `client`.
inline ExchangeState GetRequest(const http::ClientInfo* client, std::string authority, std::string path) {
  ExchangeState state;
  state.client = client;
  state.request.method = "GET";
  state.request.authority = std::move(authority);
  state.request.path = std::move(path);
  return state;
}

// The value of the response field `name` a stage added (added_fields), or
// `absent` when none did.
inline std::string AddedField(const ExchangeState& state, std::string_view name, std::string_view absent = "<none>") {
  for (size_t i = 0; i < state.added_field_count; ++i) {
    if (state.added_fields[i].name == name) return std::string(state.added_fields[i].value);
  }
  return std::string(absent);
}

}  // namespace sluice::pipeline
