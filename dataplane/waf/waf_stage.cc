#include "dataplane/waf/waf_stage.h"

#include <modsecurity/intervention.h>
#include <modsecurity/modsecurity.h>
#include <modsecurity/rule_message.h>
#include <modsecurity/rules_set.h>
#include <modsecurity/transaction.h>

#include <cstdlib>
#include <exception>
#include <random>

#include "dataplane/common/log.h"

namespace sluice::waf {
namespace {

using pipeline::ExchangeState;
using pipeline::Verdict;

// CRS 3.3's anomaly score evaluations (inbound, outbound) and the body
// parser checks above: what blocks in block mode, so what a detect-mode
// request "would have been blocked" by.
bool IsBlockingRule(int64_t id) { return id == 949110 || id == 959100 || id == 200002 || id == 200003; }

// The request's transaction and what the stages know of it.
struct WafData final : pipeline::StageData {
  ~WafData() override = default;
  std::unique_ptr<modsecurity::Transaction> transaction;
  std::string id;
  std::string early_body;   // body bytes that came while an earlier stage's head hook waited
  uint64_t request_fed = 0;
  bool request_decided = false;  // phase 2 ran, or the body passed uninspected (over the limit)
  // Rule messages of the transaction already looked at by Decide, and
  // already written in an audit line.
  size_t messages_scanned = 0;
  size_t messages_reported = 0;
  uint64_t response_fed = 0;
  bool failed = false;  // ModSecurity threw: nothing more is asked of it
};

WafData* DataOf(ExchangeState& state) { return static_cast<WafData*>(state.data(pipeline::kWafData)); }

// A transaction ID: the request's header when the route names one and its
// value is a plain token, else 16 hex digits from a per-thread generator.
std::string TransactionId(const RouteFirewall& firewall, const ExchangeState& state) {
  if (!firewall.transaction_id_header.empty()) {
    if (const std::string* value = state.request.headers.Get(firewall.transaction_id_header)) {
      bool plain = !value->empty() && value->size() <= 128;
      for (char c : *value) plain = plain && c > 0x20 && c < 0x7f && c != '"' && c != '\\';
      if (plain) return *value;
    }
  }
  thread_local std::mt19937_64 generator{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  uint64_t bits = generator();
  std::string id(16, '0');
  for (int i = 15; i >= 0; --i, bits >>= 4) id[static_cast<size_t>(i)] = kHex[bits & 0xf];
  return id;
}

// Runs `call` (ModSecurity work) and turns an exception into false.
template <typename Call>
bool Guarded(WafData& data, const RouteFirewall& firewall, Call call) {
  if (data.failed) return false;
  try {
    call();
    return true;
  } catch (const std::exception& e) {
    log::Error("ModSecurity failed", {{"route", firewall.route}, {"transaction_id", data.id}, {"error", e.what()}});
  } catch (...) {
    log::Error("ModSecurity failed", {{"route", firewall.route}, {"transaction_id", data.id}});
  }
  data.failed = true;
  return false;
}

Verdict Failed(const RouteFirewall& firewall, ExchangeState& state) {
  if (!firewall.block) return Verdict::kContinue;
  state.reply.status = 500;
  state.reply.body = "the application firewall could not examine this request\n";
  state.error = pipeline::ProxyError::Proxy(pipeline::ErrorCode::kRefused, "waf error");
  return Verdict::kReply;
}

// After a phase: the status to answer with (block mode, a disruptive rule),
// else 0; writes the audit line and counts once per side of the exchange.
int Decide(const RouteFirewall& firewall, WafData& data, ExchangeState& state, bool response_side) {
  modsecurity::ModSecurityIntervention intervention;
  modsecurity::intervention::clean(&intervention);
  bool disruptive = false;
  if (!Guarded(data, firewall, [&] { disruptive = data.transaction->intervention(&intervention); })) return 0;
  int status = 0;
  if (disruptive && intervention.disruptive) {
    status = intervention.status >= 400 && intervention.status <= 599 ? intervention.status : 403;
  }
  if (intervention.url != nullptr) std::free(intervention.url);
  if (intervention.log != nullptr) std::free(intervention.log);
  // Only messages of this phase decide whether it would have blocked
  // (detect mode); the audit line names every rule since the last line.
  const auto& messages = data.transaction->m_rulesMessages;
  bool would_block = status != 0;
  std::vector<RuleMatch> rules;
  size_t index = 0;
  for (const modsecurity::RuleMessage& message : messages) {
    size_t position = index++;
    if (message.m_ruleId <= 0) continue;
    if (position >= data.messages_scanned) would_block = would_block || IsBlockingRule(message.m_ruleId);
    if (position < data.messages_reported) continue;
    rules.push_back(RuleMatch{static_cast<uint32_t>(message.m_ruleId), message.m_message,
                              message.m_data.size() > kMaxMatchedData ? message.m_data.substr(0, kMaxMatchedData)
                                                                      : message.m_data});
  }
  data.messages_scanned = messages.size();
  if (!firewall.block) status = 0;
  if (!would_block) return status;
  data.messages_reported = messages.size();
  if (firewall.counters != nullptr) {
    if (status != 0) {
      firewall.counters->CountBlocked();
    } else {
      firewall.counters->CountDetected();
    }
    for (const RuleMatch& rule : rules) firewall.counters->CountRule(rule.rule_id);
  }
  if (firewall.audit != nullptr) {
    AuditRecord record;
    record.transaction_id = data.id;
    record.route = firewall.route;
    record.client = state.client != nullptr ? std::string_view(state.client->ip) : std::string_view();
    record.method = state.request.method;
    record.uri = state.request.path;
    record.mode = firewall.block ? "block" : "detect";
    record.phase = response_side ? "response" : "request";
    record.status = status;
    record.rules = &rules;
    firewall.audit->WriteLine(AuditLine(record));
  }
  return status;
}

Verdict Blocked(const RouteFirewall& firewall, WafData& data, ExchangeState& state, int status) {
  state.reply.status = status;
  state.reply.owned_body = (status == 400 ? "request body could not be parsed; transaction ID: "
                                          : "request blocked by the application firewall; transaction ID: ") +
                           data.id + "\n";
  state.error = pipeline::ProxyError::Proxy(pipeline::ErrorCode::kRefused, "blocked by the application firewall");
  return Verdict::kReply;
}

Verdict TooLarge(ExchangeState& state) {
  state.reply.status = 413;
  state.reply.body = "request body too large for the application firewall\n";
  state.error = pipeline::ProxyError::Proxy(pipeline::ErrorCode::kBodyTooLarge, "request body over the waf limit");
  return Verdict::kReply;
}

// Phase 2: the body so far, every phase-2 rule, the decision.
Verdict RunRequestBodyPhase(const RouteFirewall& firewall, WafData& data, ExchangeState& state) {
  data.request_decided = true;
  if (!Guarded(data, firewall, [&] { data.transaction->processRequestBody(); })) return Failed(firewall, state);
  int status = Decide(firewall, data, state, /*response_side=*/false);
  return status != 0 ? Blocked(firewall, data, state, status) : Verdict::kContinue;
}

// Feeds `chunk` up to the limit. Over it: 413, or the first bytes decide
// and the rest passes uninspected (buffering ends).
Verdict FeedRequestBody(const RouteFirewall& firewall, WafData& data, ExchangeState& state, std::string_view chunk) {
  uint64_t room = firewall.body_limit - std::min(firewall.body_limit, data.request_fed);
  if (chunk.size() > room && !firewall.pass_over_body_limit) return TooLarge(state);
  std::string_view inspected = chunk.substr(0, static_cast<size_t>(std::min<uint64_t>(room, chunk.size())));
  data.request_fed += inspected.size();
  if (!inspected.empty() &&
      !Guarded(data, firewall, [&] {
        data.transaction->appendRequestBody(reinterpret_cast<const unsigned char*>(inspected.data()), inspected.size());
      })) {
    return Failed(firewall, state);
  }
  if (inspected.size() == chunk.size()) return Verdict::kContinue;
  Verdict verdict = RunRequestBodyPhase(firewall, data, state);
  state.buffer_request_body = 0;  // the rest streams to the upstream uninspected
  return verdict;
}

std::string_view HttpVersion(const http::RequestHead& request) {
  if (request.version_major == 2) return "2.0";
  return request.version_minor == 0 ? "1.0" : "1.1";
}

}  // namespace

std::shared_ptr<const RouteFirewall> RouteFirewall::From(const v1::WafPolicy& policy,
                                                         std::shared_ptr<const CompiledRules> rules, std::string route,
                                                         const AuditLog* audit,
                                                         std::shared_ptr<RouteCounters> counters) {
  auto firewall = std::make_shared<RouteFirewall>();
  firewall->rules = std::move(rules);
  firewall->block = policy.mode() == v1::WafPolicy::BLOCK;
  firewall->body_limit = RequestBodyLimit(policy);
  firewall->pass_over_body_limit = policy.pass_over_body_limit();
  firewall->inspect_response_body = policy.inspect_response_body();
  firewall->transaction_id_header = policy.transaction_id_header();
  for (char& c : firewall->transaction_id_header) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  firewall->route = std::move(route);
  firewall->audit = audit;
  firewall->counters = std::move(counters);
  return firewall;
}

Verdict WafRequestStage::OnRequestHead(ExchangeState& state) const {
  const RouteFirewall& firewall = *firewall_;
  auto owned = std::make_unique<WafData>();
  WafData& data = *owned;
  if (WafData* early = DataOf(state)) data.early_body = std::move(early->early_body);
  data.id = TransactionId(firewall, state);
  const http::RequestHead& request = state.request;
  bool started = Guarded(data, firewall, [&] {
    data.transaction = std::make_unique<modsecurity::Transaction>(Engine(), firewall.rules->rules(),
                                                                  const_cast<char*>(data.id.c_str()), nullptr);
    const std::string& client = state.client != nullptr ? state.client->ip : std::string();
    data.transaction->processConnection(client.c_str(), 0, "0.0.0.0", 0);
    std::string method = request.method;
    std::string version(HttpVersion(request));
    data.transaction->processURI(request.path.c_str(), method.c_str(), version.c_str());
    bool has_host = false;
    for (const http::Header& field : request.headers.entries()) {
      has_host = has_host || field.name == "host";
      data.transaction->addRequestHeader(reinterpret_cast<const unsigned char*>(field.name.data()), field.name.size(),
                                         reinterpret_cast<const unsigned char*>(field.value.data()),
                                         field.value.size());
    }
    // HTTP/2 carries the host as :authority (the CRS expects a Host).
    if (!has_host && !request.authority.empty()) data.transaction->addRequestHeader("host", request.authority);
    data.transaction->processRequestHeaders();
  });
  state.set_data(pipeline::kWafData, std::move(owned));
  if (!started) return Failed(firewall, state);
  if (int status = Decide(firewall, data, state, /*response_side=*/false); status != 0) {
    return Blocked(firewall, data, state, status);
  }
  if (state.request_content_length > 0 && static_cast<uint64_t>(state.request_content_length) > firewall.body_limit &&
      !firewall.pass_over_body_limit) {
    return TooLarge(state);
  }
  // No body byte goes upstream before phase 2 decided (the end hook).
  state.buffer_request_body = firewall.body_limit;
  if (!data.early_body.empty()) {
    std::string early = std::move(data.early_body);
    return FeedRequestBody(firewall, data, state, early);
  }
  return Verdict::kContinue;
}

Verdict WafRequestStage::OnRequestBody(ExchangeState& state, std::string_view chunk) const {
  WafData* data = DataOf(state);
  if (data == nullptr || data->transaction == nullptr) {
    // An earlier stage's head hook is still waiting: kept for ours (bounded
    // by the exchange's high watermark while no try is under way).
    if (data == nullptr) {
      state.set_data(pipeline::kWafData, std::make_unique<WafData>());
      data = DataOf(state);
    }
    if (!data->failed) data->early_body.append(chunk);
    return Verdict::kContinue;
  }
  if (data->request_decided || data->failed) return Verdict::kContinue;
  return FeedRequestBody(*firewall_, *data, state, chunk);
}

Verdict WafRequestStage::OnRequestEnd(ExchangeState& state, http::HeaderMap*) const {
  WafData* data = DataOf(state);
  if (data == nullptr || data->request_decided) return Verdict::kContinue;
  if (data->failed) return Failed(*firewall_, state);
  return RunRequestBodyPhase(*firewall_, *data, state);
}

uint32_t WafResponseStage::hooks() const {
  return pipeline::kResponseHead |
         (firewall_->inspect_response_body ? pipeline::kResponseBody | pipeline::kResponseEnd : 0u);
}

Verdict WafResponseStage::OnResponseHead(ExchangeState& state, http::ResponseHead& head, bool local) const {
  if (local) return Verdict::kContinue;  // the proxy's own answers (a 403 of ours among them)
  WafData* data = DataOf(state);
  if (data == nullptr || data->transaction == nullptr || data->failed) return Verdict::kContinue;
  const RouteFirewall& firewall = *firewall_;
  bool ran = Guarded(*data, firewall, [&] {
    for (const http::Header& field : head.headers.entries()) {
      data->transaction->addResponseHeader(reinterpret_cast<const unsigned char*>(field.name.data()),
                                           field.name.size(),
                                           reinterpret_cast<const unsigned char*>(field.value.data()),
                                           field.value.size());
    }
    data->transaction->processResponseHeaders(head.status, head.version_major == 2 ? "HTTP 2.0" : "HTTP 1.1");
  });
  if (!ran) return Verdict::kContinue;  // the response is the upstream's: nothing of the client's to protect
  int status = Decide(firewall, *data, state, /*response_side=*/true);
  if (status == 0) return Verdict::kContinue;
  state.reply.status = 403;
  state.reply.owned_body = "response blocked by the application firewall; transaction ID: " + data->id + "\n";
  state.error = pipeline::ProxyError::Proxy(pipeline::ErrorCode::kRefused, "response blocked by the application firewall");
  return Verdict::kReply;
}

namespace {
constexpr uint64_t kResponseBodyLimit = 512 * 1024;  // as SecResponseBodyLimit in RulesText
}  // namespace

bool WafResponseStage::WantsResponseBody(const ExchangeState& state) const {
  const auto* data = static_cast<const WafData*>(state.data(pipeline::kWafData));
  return data != nullptr && data->transaction != nullptr && !data->failed && data->response_fed < kResponseBodyLimit;
}

Verdict WafResponseStage::OnResponseBody(ExchangeState& state, std::string_view& chunk) const {
  WafData* data = DataOf(state);
  if (data == nullptr || data->transaction == nullptr || data->failed) return Verdict::kContinue;
  uint64_t room = kResponseBodyLimit - std::min(kResponseBodyLimit, data->response_fed);
  size_t take = static_cast<size_t>(std::min<uint64_t>(room, chunk.size()));
  if (take == 0) return Verdict::kContinue;
  data->response_fed += take;
  Guarded(*data, *firewall_, [&] {
    data->transaction->appendResponseBody(reinterpret_cast<const unsigned char*>(chunk.data()), take);
  });
  return Verdict::kContinue;
}

Verdict WafResponseStage::OnResponseEnd(ExchangeState& state, std::string_view&) const {
  WafData* data = DataOf(state);
  if (data == nullptr || data->transaction == nullptr || data->failed) return Verdict::kContinue;
  if (!Guarded(*data, *firewall_, [&] { data->transaction->processResponseBody(); })) return Verdict::kContinue;
  // The head left already: a block cuts the response short.
  if (Decide(*firewall_, *data, state, /*response_side=*/true) == 0) return Verdict::kContinue;
  state.error = pipeline::ProxyError::Proxy(pipeline::ErrorCode::kRefused, "response blocked by the application firewall");
  state.reply.status = 403;
  return Verdict::kReply;
}

Verdict WafUnavailableStage::OnRequestHead(ExchangeState& state) const {
  state.reply.status = 503;
  state.reply.body = "the application firewall configuration of this route was rejected\n";
  state.error = pipeline::ProxyError::Proxy(pipeline::ErrorCode::kRefused, "waf configuration rejected");
  return Verdict::kReply;
}

}  // namespace sluice::waf
