#include "client/remote/coordinator_client.h"

#include <grpcpp/grpcpp.h>

#include "accel/v1/coordinator.grpc.pb.h"
#include "common/strings.h"
#include "proto/convert/channel_security.h"
#include "proto/convert/convert.h"

namespace accel::client {
namespace {

constexpr auto kUnaryTimeout = std::chrono::seconds(10);

std::unique_ptr<grpc::ClientContext> UnaryContext() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + kUnaryTimeout);
  return context;
}

}  // namespace

CoordinatorClient::CoordinatorClient(std::string address, const SecurityFiles& security) : address_(std::move(address)) {
  auto loaded = wire::LoadChannelSecurity(
      {.ca = security.tls_ca, .cert = security.tls_cert, .key = security.tls_key, .token = security.token_file});
  if (!loaded.ok()) {
    load_error_ = loaded.status();
    loaded = wire::ChannelSecurity{};
  }
  channel_ = wire::CreateSecureChannel(address_, *loaded);
}

CoordinatorClient::SecurityFiles CoordinatorClient::SecurityFilesFromEnvironment(const common::Environment& env) {
  return SecurityFiles{.tls_ca = env.GetNonEmpty("ACCEL_TLS_CA").value_or(""),
                       .tls_cert = env.GetNonEmpty("ACCEL_TLS_CERT").value_or(""),
                       .tls_key = env.GetNonEmpty("ACCEL_TLS_KEY").value_or(""),
                       .token_file = env.GetNonEmpty("ACCEL_TOKEN_FILE").value_or("")};
}

CoordinatorClient::~CoordinatorClient() = default;

absl::Status CoordinatorClient::Error(const std::string& what, int code, const std::string& message) const {
  const auto status_code = static_cast<absl::StatusCode>(code);
  if (status_code == absl::StatusCode::kUnavailable || status_code == absl::StatusCode::kDeadlineExceeded) {
    return absl::UnavailableError(common::StrCat("cannot reach the coordinator at ", address_, " (", message, ")"));
  }
  return absl::Status(status_code, message.empty() ? what : message);
}

absl::StatusOr<std::vector<common::JobRecord>> CoordinatorClient::ListJobs() {
  if (!load_error_.ok()) return load_error_;
  auto stub = v1::CoordinatorService::NewStub(channel_);
  v1::ListJobsResponse response;
  auto context = UnaryContext();
  const grpc::Status status = stub->ListJobs(context.get(), v1::ListJobsRequest(), &response);
  if (!status.ok()) return Error("ListJobs", status.error_code(), status.error_message());
  std::vector<common::JobRecord> jobs;
  for (const auto& job : response.jobs()) {
    auto record = wire::FromProto(job);
    if (record.ok()) jobs.push_back(*std::move(record));
  }
  return jobs;
}

absl::StatusOr<common::JobRecord> CoordinatorClient::GetJob(const std::string& job_id) {
  if (!load_error_.ok()) return load_error_;
  auto stub = v1::CoordinatorService::NewStub(channel_);
  v1::GetJobRequest request;
  request.set_job_id(job_id);
  v1::Job response;
  auto context = UnaryContext();
  const grpc::Status status = stub->GetJob(context.get(), request, &response);
  if (!status.ok()) return Error("GetJob", status.error_code(), status.error_message());
  return wire::FromProto(response);
}

absl::StatusOr<common::JobRecord> CoordinatorClient::CancelJob(const std::string& job_id) {
  if (!load_error_.ok()) return load_error_;
  auto stub = v1::CoordinatorService::NewStub(channel_);
  v1::CancelJobRequest request;
  request.set_job_id(job_id);
  v1::CancelJobResponse response;
  auto context = UnaryContext();
  const grpc::Status status = stub->CancelJob(context.get(), request, &response);
  if (!status.ok()) return Error("CancelJob", status.error_code(), status.error_message());
  return wire::FromProto(response.job());
}

absl::StatusOr<std::vector<common::NodeInfo>> CoordinatorClient::ListNodes() {
  if (!load_error_.ok()) return load_error_;
  auto stub = v1::CoordinatorService::NewStub(channel_);
  v1::ListNodesResponse response;
  auto context = UnaryContext();
  const grpc::Status status = stub->ListNodes(context.get(), v1::ListNodesRequest(), &response);
  if (!status.ok()) return Error("ListNodes", status.error_code(), status.error_message());
  std::vector<common::NodeInfo> nodes;
  for (const auto& node : response.nodes()) {
    auto info = wire::FromProto(node);
    if (info.ok()) nodes.push_back(*std::move(info));
  }
  return nodes;
}

template <typename Message, typename Domain>
absl::Status CoordinatorClient::Drain(const std::string& what, grpc::ClientContext& context,
                                      grpc::ClientReader<Message>& reader,
                                      const std::function<void(const Domain&)>& on_item) {
  Message message;
  while (reader.Read(&message)) on_item(wire::FromProto(message));
  const grpc::Status status = reader.Finish();
  {
    absl::MutexLock lock(&mu_);
    if (active_ == &context) active_ = nullptr;
  }
  if (!status.ok()) return Error(what, status.error_code(), status.error_message());
  return absl::OkStatus();
}

std::unique_ptr<grpc::ClientContext> CoordinatorClient::NewStreamContext() {
  auto context = std::make_unique<grpc::ClientContext>();
  absl::MutexLock lock(&mu_);
  active_ = context.get();
  if (cancelled_) context->TryCancel();
  return context;
}

void CoordinatorClient::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  if (active_ != nullptr) active_->TryCancel();
}

absl::Status CoordinatorClient::SubmitJob(const common::JobSpec& spec,
                                          const std::function<void(const common::JobEvent&)>& on_event) {
  if (!load_error_.ok()) return load_error_;
  auto stub = v1::CoordinatorService::NewStub(channel_);
  v1::SubmitJobRequest request;
  *request.mutable_spec() = wire::ToProto(spec);
  auto context = NewStreamContext();
  auto reader = stub->SubmitJob(context.get(), request);
  return Drain<v1::JobEvent, common::JobEvent>("SubmitJob", *context, *reader, on_event);
}

absl::Status CoordinatorClient::WatchJob(const std::string& job_id, bool logs, int rank,
                                         const std::function<void(const common::JobEvent&)>& on_event) {
  if (!load_error_.ok()) return load_error_;
  auto stub = v1::CoordinatorService::NewStub(channel_);
  v1::WatchJobRequest request;
  request.set_job_id(job_id);
  request.set_logs(logs);
  request.set_rank(rank);
  auto context = NewStreamContext();
  auto reader = stub->WatchJob(context.get(), request);
  return Drain<v1::JobEvent, common::JobEvent>("WatchJob", *context, *reader, on_event);
}

absl::Status CoordinatorClient::StreamLogs(const std::string& job_id, bool follow, int rank,
                                           const std::function<void(const common::LogLine&)>& on_line) {
  if (!load_error_.ok()) return load_error_;
  auto stub = v1::CoordinatorService::NewStub(channel_);
  v1::StreamLogsRequest request;
  request.set_job_id(job_id);
  request.set_follow(follow);
  request.set_rank(rank);
  auto context = NewStreamContext();
  auto reader = stub->StreamLogs(context.get(), request);
  return Drain<v1::LogLine, common::LogLine>("StreamLogs", *context, *reader, on_line);
}

}  // namespace accel::client
