// MetricsServer: the HTTP endpoint of one process's metrics. GET /metrics renders every registered
// collectable (prometheus-cpp Registry or our own) in text format 0.0.4; GET /healthz answers
// "200 ok" while `health` returns OK, else 503 with its message.
//
// Served by civetweb, the embedded server behind prometheus-cpp's pull Exposer, directly rather than
// through the Exposer: the Exposer cannot serve /healthz with a status code of its own, and its
// TextSerializer alone exceeds the 5 ms scrape budget at 1,000 workers (see text_renderer.h).
//
// Thread-safe: civetweb threads call the collectables (each must be thread-safe) and `health`.
// Lifetime: destroying the server stops the HTTP threads before the collectables go.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

class CivetServer;

namespace accel::metrics {

struct MetricsServerOptions {
  std::string address = "127.0.0.1";  // the interface to bind; loopback unless configured otherwise
  int port = 0;                       // 0: any free port (see port())
  int threads = 2;
};

class MetricsServer {
 public:
  using HealthCheck = std::function<absl::Status()>;

  /// Binds and starts serving. Unavailable when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const MetricsServerOptions& options, HealthCheck health = {});
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  /// Adds a source of families; scrapes render sources in the order they were added.
  void Add(std::shared_ptr<prometheus::Collectable> collectable);
  /// The port bound (useful with port 0).
  int port() const { return port_; }
  /// What GET /metrics returns now.
  std::string Render() const;
  /// What GET /healthz decides now.
  absl::Status Health() const;

 private:
  class Handler;
  MetricsServer() = default;

  HealthCheck health_;
  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Handler> metrics_handler_;
  std::unique_ptr<Handler> health_handler_;
  std::unique_ptr<CivetServer> server_;
  int port_ = 0;
};

}  // namespace accel::metrics
