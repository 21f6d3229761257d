#include "daemon/metrics/rpc_metrics.h"

#include <chrono>

namespace accel::daemon {
namespace {

using grpc::experimental::InterceptionHookPoints;

class RpcMetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  RpcMetricsInterceptor(RpcMetrics& metrics, std::string method) : metrics_(metrics), method_(std::move(method)) {}
  ~RpcMetricsInterceptor() override {
    // A call that ended without sending a status (the client went away) counts as cancelled.
    if (!recorded_) metrics_.Record(method_, grpc::StatusCode::CANCELLED, Elapsed());
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS) && !recorded_) {
      recorded_ = true;
      metrics_.Record(method_, methods->GetSendStatus().error_code(), Elapsed());
    }
    methods->Proceed();
  }

 private:
  double Elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  }

  RpcMetrics& metrics_;
  const std::string method_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  bool recorded_ = false;
};

class RpcMetricsFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcMetricsFactory(RpcMetrics& metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return new RpcMetricsInterceptor(metrics_, info->method() != nullptr ? info->method() : "unknown");
  }

 private:
  RpcMetrics& metrics_;
};

}  // namespace

const char* GrpcCodeName(int code) {
  static const char* const kNames[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
                                       "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
                                       "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  return code >= 0 && code < static_cast<int>(std::size(kNames)) ? kNames[code] : "UNKNOWN";
}

RpcMetrics::RpcMetrics(prometheus::Registry& registry)
    : requests_(prometheus::BuildCounter()
                    .Name("accel_rpc_requests_total")
                    .Help("gRPC calls served, by method and status code.")
                    .Register(registry)),
      duration_(prometheus::BuildHistogram()
                    .Name("accel_rpc_duration_seconds")
                    .Help("Latency of gRPC calls served (for streams, how long they stayed open).")
                    .Register(registry)) {}

void RpcMetrics::Record(const std::string& method, int code, double seconds) {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {0.0005, 0.001, 0.005, 0.01, 0.05, 0.1,
                                                                   0.5,    1,     5,     30,   300};
  requests_.Add({{"method", method}, {"code", GrpcCodeName(code)}}).Increment();
  duration_.Add({{"method", method}}, kBuckets).Observe(seconds);
}

std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> RpcMetrics::InterceptorCreators() {
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  creators.push_back(std::make_unique<RpcMetricsFactory>(*this));
  return creators;
}

}  // namespace accel::daemon
