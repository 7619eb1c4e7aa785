#include "dataplane/pipeline/custom_errors_stage.h"

#include <utility>

#include "dataplane/pipeline/body_source.h"
#include "dataplane/pipeline/hop_by_hop.h"
#include "dataplane/subrequest/subrequest.h"

namespace sluice::pipeline {
namespace {

constexpr size_t kMaxPage = 1024 * 1024;

struct CustomErrorsData final : StageData {
  std::unique_ptr<subrequest::Handle> pending;  // destroyed with the exchange: cancels
  bool answered = false;                        // the default backend's page is here
  subrequest::Response page;
};

}  // namespace

void CustomErrorsStage::AddStages(const v1::CustomErrorsPolicy& policy,
                                  std::vector<std::unique_ptr<const Stage>>& stages) {
  stages.push_back(std::make_unique<CustomErrorsStage>(policy));
  stages.push_back(std::make_unique<CustomErrorsVerdictStage>());
}

Verdict CustomErrorsStage::OnResponseHead(ExchangeState& state, http::ResponseHead& head, bool local) const {
  if (local || state.subrequests == nullptr || state.resumer == nullptr || head.status == 101) {
    return Verdict::kContinue;
  }
  bool listed = false;
  for (uint32_t status : policy_.statuses()) listed |= static_cast<int>(status) == head.status;
  if (!listed) return Verdict::kContinue;

  const http::RequestHead& request = state.request;
  subrequest::Request page;
  page.cluster = policy_.cluster();
  page.method = request.method == "HEAD" ? "HEAD" : "GET";
  page.path = "/";  // ingress-nginx: rewrite (.*) / break
  page.authority = request.authority;
  page.timeout = std::chrono::milliseconds(policy_.timeout_ms() != 0 ? policy_.timeout_ms() : 5000);
  page.max_body_bytes = kMaxPage;
  const std::string* accept = request.headers.Get("accept");
  const std::string* request_id = request.headers.Get("x-request-id");
  page.headers.Add("x-code", std::to_string(head.status));
  page.headers.Add("x-format", accept != nullptr ? *accept : "");
  page.headers.Add("x-original-uri", request.path);
  page.headers.Add("x-namespace", policy_.ingress_namespace());
  page.headers.Add("x-ingress-name", policy_.ingress_name());
  page.headers.Add("x-service-name", policy_.service_name());
  page.headers.Add("x-service-port", policy_.service_port());
  page.headers.Add("x-request-id", request_id != nullptr ? *request_id : "");
  if (state.client != nullptr) page.headers.Add("x-forwarded-for", state.client->ip);
  if (accept != nullptr) page.headers.Add("accept", *accept);

  auto data = std::make_unique<CustomErrorsData>();
  CustomErrorsData* raw = data.get();
  state.set_data(kCustomErrorsData, std::move(data));
  raw->pending = state.subrequests->Send(std::move(page), [raw, resumer = state.resumer](subrequest::Response&& answer) {
    raw->answered = answer.status != 0 && !answer.truncated;
    raw->page = std::move(answer);
    resumer->Resume();  // may end the exchange (and destroy `raw`): last
  });
  return Verdict::kPause;
}

Verdict CustomErrorsVerdictStage::OnResponseHead(ExchangeState& state, http::ResponseHead& head, bool local) const {
  auto* data = static_cast<CustomErrorsData*>(state.data(kCustomErrorsData));
  if (local || data == nullptr || !data->answered) return Verdict::kContinue;
  data->answered = false;  // once
  subrequest::Response& page = data->page;
  LocalReply& reply = state.reply;
  reply.status = page.status;
  for (const http::Header& field : page.headers.entries()) {
    if (IsHopByHopName(field.name) || field.name == "content-length" || field.name == "transfer-encoding") continue;
    reply.headers.Add(field.name, field.value);
  }
  reply.head_only = state.request.method == "HEAD";
  reply.source = std::make_shared<MemoryBodySource>(std::move(page.body));
  (void)head;  // replaced: the exchange drops the upstream's response
  return Verdict::kReply;
}

}  // namespace sluice::pipeline
