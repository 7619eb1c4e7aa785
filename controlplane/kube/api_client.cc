#include "controlplane/kube/api_client.h"

#include <algorithm>
#include <atomic>
#include <future>
#include <vector>

#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cpprest/http_client.h>
#include <pplx/threadpool.h>

#include "base/percent_encoding.h"
#include "controlplane/kube/watch_events.h"

namespace sluice::kube {
namespace {

namespace http = web::http;
using http::client::http_client;
using http::client::http_client_config;

constexpr size_t kMaxRead = 64 * 1024;

// Calls a user callback from a pool thread: nothing may escape into pplx,
// whose unobserved exceptions terminate the process.
template <typename F, typename... Args>
void CallQuietly(F& callback, Args&&... args) {
  try {
    callback(std::forward<Args>(args)...);
  } catch (...) {
  }
}

// Callers may hold a lock while they start a request, so a callback never
// runs on the caller's stack, even for an immediate failure.
void Post(std::function<void()> task) {
  crossplat::threadpool::shared_instance().service().post([task = std::move(task)]() mutable { CallQuietly(task); });
}

Status LoadPem(boost::asio::ssl::context& context, const Credentials& credentials) {
  boost::system::error_code error;
  if (!credentials.ca_pem.empty()) {
    context.add_certificate_authority(boost::asio::buffer(credentials.ca_pem), error);
    if (error) return Status::Error("certificate authority: " + error.message());
  }
  if (!credentials.client_cert_pem.empty()) {
    context.use_certificate_chain(boost::asio::buffer(credentials.client_cert_pem), error);
    if (error) return Status::Error("client certificate: " + error.message());
    context.use_private_key(boost::asio::buffer(credentials.client_key_pem), boost::asio::ssl::context::pem,
                            error);
    if (error) return Status::Error("client key: " + error.message());
  }
  return Status::Ok();
}

http_client_config MakeConfig(const Credentials& credentials, std::chrono::seconds timeout) {
  http_client_config config;
  config.set_timeout(timeout);
  config.set_validate_certificates(!credentials.insecure_skip_tls_verify);
  Credentials pem = credentials;  // the callback outlives this frame
  config.set_ssl_context_callback([pem](boost::asio::ssl::context& context) { (void)LoadPem(context, pem); });
  return config;
}

}  // namespace

struct ApiClient::Impl {
  Impl(Credentials c, ApiClientOptions o)
      : credentials(std::move(c)),
        options(std::move(o)),
        tokens(credentials.token, credentials.token_file),
        client(web::uri(credentials.server), MakeConfig(credentials, options.request_timeout)),
        stream_client(web::uri(credentials.server), MakeConfig(credentials, options.stream_timeout)) {}

  http::http_request Build(const ApiRequest& request) {
    http::http_request built(request.method);
    built.set_request_uri(web::uri(request.path));
    built.headers().add("Accept", "application/json");
    built.headers().add("User-Agent", options.user_agent);
    std::string token = tokens.Get();
    if (!token.empty()) built.headers().add("Authorization", "Bearer " + token);
    if (!request.body.empty() || request.method == "POST" || request.method == "PUT" || request.method == "PATCH") {
      built.set_body(request.body, request.content_type);
    }
    return built;
  }

  // Status line and headers of a response, body not read yet.
  ApiResponse Head(const http::http_response& response) {
    ApiResponse head;
    head.status = response.status_code();
    auto retry = response.headers().find("Retry-After");
    if (retry != response.headers().end()) head.retry_after = retry->second;
    if (head.status == 401) tokens.Invalidate();
    return head;
  }

  Credentials credentials;
  ApiClientOptions options;
  TokenSource tokens;
  http_client client;
  http_client stream_client;
};

namespace {

struct StreamState : StreamHandle, std::enable_shared_from_this<StreamState> {
  void Cancel() override {
    cancelled = true;
    cancel_source.cancel();
  }
  void Finish(ApiResponse response) {
    if (finished.exchange(true)) return;
    auto callback = std::move(done);
    CallQuietly(callback, std::move(response));
  }

  pplx::cancellation_token_source cancel_source;
  std::atomic<bool> cancelled{false};
  std::atomic<bool> finished{false};
  std::function<bool(std::string_view)> on_chunk;
  std::function<void(ApiResponse)> done;
  concurrency::streams::streambuf<uint8_t> body;
  std::vector<uint8_t> buffer;
  int status = 0;
};

// Reads whatever has arrived (at least one byte: getn(n) on cpprestsdk's
// producer/consumer buffer waits for all n bytes, which would hold back a
// small watch event behind the next one).
void ReadMore(std::shared_ptr<StreamState> state) {
  size_t want = std::clamp<size_t>(state->body.in_avail(), 1, kMaxRead);
  state->buffer.resize(want);
  pplx::task<size_t> read;
  try {
    read = state->body.getn(state->buffer.data(), want);
  } catch (const std::exception& e) {
    state->Finish(ApiResponse{state->status, "", e.what(), ""});
    return;
  }
  read.then([state](pplx::task<size_t> task) {
    size_t got = 0;
    try {
      got = task.get();
    } catch (const std::exception& e) {
      state->Finish(ApiResponse{state->status, "", state->cancelled ? "cancelled" : e.what(), ""});
      return;
    } catch (...) {
      state->Finish(ApiResponse{state->status, "", "read failed", ""});
      return;
    }
    if (got == 0) {
      state->Finish(ApiResponse{state->status, "", state->cancelled ? "cancelled" : "", ""});
      return;
    }
    bool more = false;
    try {
      more = state->on_chunk(std::string_view(reinterpret_cast<const char*>(state->buffer.data()), got));
    } catch (...) {
    }
    if (!more || state->cancelled) {
      state->Cancel();
      state->Finish(ApiResponse{state->status, "", "cancelled", ""});
      return;
    }
    ReadMore(state);
  });
}

}  // namespace

std::string ApiResponse::Describe() const {
  if (status == 0) return "no response: " + (error.empty() ? std::string("unknown error") : error);
  std::string text = "HTTP " + std::to_string(status);
  std::string message = StatusMessage(body);
  if (!message.empty()) text += ": " + message;
  return text;
}

Result<std::shared_ptr<ApiClient>> ApiClient::Create(Credentials credentials, ApiClientOptions options) {
  if (credentials.server.rfind("https://", 0) == 0) {
    boost::asio::ssl::context probe(boost::asio::ssl::context::tls_client);
    if (Status loaded = LoadPem(probe, credentials); !loaded.ok()) return loaded;
  }
  try {
    auto impl = std::make_shared<Impl>(std::move(credentials), std::move(options));
    return std::shared_ptr<ApiClient>(new ApiClient(std::move(impl)));
  } catch (const std::exception& e) {
    return Status::Error("API server URL: " + std::string(e.what()));
  }
}

ApiClient::ApiClient(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
ApiClient::~ApiClient() = default;

const Credentials& ApiClient::credentials() const { return impl_->credentials; }

void ApiClient::Send(ApiRequest request, std::function<void(ApiResponse)> done) {
  std::shared_ptr<Impl> impl = impl_;
  pplx::task<http::http_response> sent;
  try {
    sent = impl->client.request(impl->Build(request));
  } catch (const std::exception& e) {
    Post([done = std::move(done), error = std::string(e.what())]() mutable {
      done(ApiResponse{0, "", error, ""});
    });
    return;
  }
  sent.then([impl, done = std::move(done)](pplx::task<http::http_response> task) mutable {
    http::http_response response;
    try {
      response = task.get();
    } catch (const std::exception& e) {
      CallQuietly(done, ApiResponse{0, "", e.what(), ""});
      return;
    }
    ApiResponse head = impl->Head(response);
    pplx::task<std::string> body;
    try {
      body = response.extract_utf8string(/*ignore_content_type=*/true);
    } catch (const std::exception& e) {
      CallQuietly(done, ApiResponse{0, "", e.what(), ""});
      return;
    }
    body.then([head, done = std::move(done)](pplx::task<std::string> read) mutable {
      try {
        head.body = read.get();
      } catch (const std::exception& e) {
        head.error = e.what();
        head.status = 0;
      }
      CallQuietly(done, std::move(head));
    });
  });
}

ApiResponse ApiClient::SendSync(ApiRequest request) {
  auto promise = std::make_shared<std::promise<ApiResponse>>();
  std::future<ApiResponse> future = promise->get_future();
  Send(std::move(request), [promise](ApiResponse response) { promise->set_value(std::move(response)); });
  return future.get();
}

std::shared_ptr<StreamHandle> ApiClient::Stream(ApiRequest request, std::function<bool(std::string_view)> on_chunk,
                                                std::function<void(ApiResponse)> done) {
  auto state = std::make_shared<StreamState>();
  state->on_chunk = std::move(on_chunk);
  state->done = std::move(done);
  std::shared_ptr<Impl> impl = impl_;
  pplx::task<http::http_response> sent;
  try {
    sent = impl->stream_client.request(impl->Build(request), state->cancel_source.get_token());
  } catch (const std::exception& e) {
    Post([state, error = std::string(e.what())] { state->Finish(ApiResponse{0, "", error, ""}); });
    return state;
  }
  sent.then([impl, state](pplx::task<http::http_response> task) {
    http::http_response response;
    try {
      response = task.get();
    } catch (const std::exception& e) {
      state->Finish(ApiResponse{0, "", state->cancelled ? "cancelled" : e.what(), ""});
      return;
    }
    ApiResponse head = impl->Head(response);
    state->status = head.status;
    if (head.status != 200) {
      try {
        response.extract_utf8string(true).then([state, head](pplx::task<std::string> read) mutable {
          try {
            head.body = read.get();
          } catch (...) {
          }
          state->Finish(std::move(head));
        });
      } catch (const std::exception& e) {
        state->Finish(std::move(head));
      }
      return;
    }
    state->body = response.body().streambuf();
    ReadMore(state);
  });
  return state;
}

void ApiClient::After(std::chrono::milliseconds delay, std::function<void()> task) {
  auto timer = std::make_shared<boost::asio::steady_timer>(crossplat::threadpool::shared_instance().service(), delay);
  timer->async_wait([timer, task = std::move(task)](const boost::system::error_code&) mutable { CallQuietly(task); });
}

std::string UrlEncode(std::string_view text) { return PercentEncode(text); }

}  // namespace sluice::kube
