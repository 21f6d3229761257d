#include "agent/metrics/metrics_server.h"

#include <exception>

#include "CivetServer.h"
#include "agent/metrics/text_renderer.h"
#include "common/strings.h"

namespace accel::metrics {

class MetricsServer::Handler final : public CivetHandler {
 public:
  Handler(const MetricsServer& server, bool health) : server_(server), health_(health) {}

  bool handleGet(CivetServer* /*server*/, mg_connection* conn) override {
    int status = 200;
    std::string body;
    const char* type = kTextContentType;
    if (health_) {
      type = "text/plain; charset=utf-8";
      const absl::Status healthy = server_.Health();
      status = healthy.ok() ? 200 : 503;
      body = healthy.ok() ? "ok\n" : common::StrCat(healthy.message(), "\n");
    } else {
      body = server_.Render();
    }
    mg_printf(conn,
              "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
              status == 200 ? "OK" : "Service Unavailable", type, body.size());
    mg_write(conn, body.data(), body.size());
    return true;
  }

 private:
  const MetricsServer& server_;
  const bool health_;
};

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const MetricsServerOptions& options,
                                                                    HealthCheck health) {
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  server->health_ = std::move(health);
  server->metrics_handler_ = std::make_unique<Handler>(*server, false);
  server->health_handler_ = std::make_unique<Handler>(*server, true);
  const std::string bind = options.address.find(':') != std::string::npos
                               ? common::StrCat("[", options.address, "]:", options.port)
                               : common::StrCat(options.address, ":", options.port);
  // tcp_nodelay: the tail of a response (header and body are separate writes) must not wait for the
  // scraper's ACK on its kept-alive connection.
  const std::vector<std::string> civet_options = {"listening_ports", bind, "num_threads",
                                                  std::to_string(options.threads), "tcp_nodelay", "1"};
  try {
    server->server_ = std::make_unique<CivetServer>(civet_options);
  } catch (const std::exception& error) {
    return absl::UnavailableError(common::StrCat("metrics: cannot listen on ", bind, ": ", error.what()));
  }
  const std::vector<int> ports = server->server_->getListeningPorts();
  server->port_ = ports.empty() ? options.port : ports.front();
  server->server_->addHandler("/metrics", server->metrics_handler_.get());
  server->server_->addHandler("/healthz", server->health_handler_.get());
  return server;
}

MetricsServer::~MetricsServer() {
  if (server_) server_->close();  // joins the HTTP threads
}

void MetricsServer::Add(std::shared_ptr<prometheus::Collectable> collectable) {
  absl::MutexLock lock(&mu_);
  collectables_.push_back(std::move(collectable));
}

std::string MetricsServer::Render() const {
  std::vector<std::shared_ptr<prometheus::Collectable>> sources;
  {
    absl::MutexLock lock(&mu_);
    sources = collectables_;
  }
  std::string out;
  out.reserve(1 << 20);
  for (const auto& source : sources) RenderText(source->Collect(), &out);
  return out;
}

absl::Status MetricsServer::Health() const { return health_ ? health_() : absl::OkStatus(); }

}  // namespace accel::metrics
