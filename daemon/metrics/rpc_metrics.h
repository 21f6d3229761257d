// RPC metrics for acceld's gRPC server: a server interceptor that counts every call by method and
// status code and observes its latency (first byte to status; for streams, the stream's lifetime).
//
//   accel_rpc_requests_total{method,code}   counter
//   accel_rpc_duration_seconds{method}      histogram
//
// Labels are bounded: `method` is one of the registered service methods, `code` a gRPC status name.
// Thread-safe (prometheus-cpp families are); interceptors run on gRPC's threads.
#pragma once

#include <memory>
#include <vector>

#include "grpcpp/support/server_interceptor.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace accel::daemon {

class RpcMetrics {
 public:
  /// Registers the families in `registry`, which must outlive this object.
  explicit RpcMetrics(prometheus::Registry& registry);

  /// Records one finished call.
  void Record(const std::string& method, int code, double seconds);

  /// The interceptor factory for grpc::ServerBuilder::experimental().SetInterceptorCreators(). This
  /// object must outlive the server.
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> InterceptorCreators();

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& duration_;
};

/// "OK", "CANCELLED", ... for a grpc::StatusCode value.
const char* GrpcCodeName(int code);

}  // namespace accel::daemon
