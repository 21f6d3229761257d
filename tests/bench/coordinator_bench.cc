// coordinator_bench: how long the coordinator takes to rendezvous and start a job on N agents.
//
// Everything runs in this process over real gRPC on loopback: a CoordinatorServer behind a
// grpc::Server, and N light agents (tests/fakes/fake_agent_host.h) served by a few gRPC servers,
// each agent on its own port (so one channel and one TCP connection per agent, as in a cluster).
// The agents register, heartbeat every second, and answer StartGroup at once (kStarted, no workers).
//
// Per run, a job needing all N nodes (--num_machines N) is submitted and, from the submit:
//   rendezvous   until the client sees the placement ("attempt 0: starting on N nodes"): membership
//                decided, machine ranks, MASTER_ADDR/PORT assigned
//   all-assigned until the last agent received its StartGroup
//   all-running  until the client sees "all N nodes running" (every agent reported kStarted)
// then the job is cancelled (StopGroup to every agent) before the next run.
// Baseline, measured in the same run on the same agents (after the job runs): one GetStatus call to
// every agent at once (asynchronous, over one warm channel per agent) until the last answer: the cost
// of a single round trip to N agents, which no coordinator that talks to every agent can go below.
//
// usage: coordinator_bench [--sizes 8,64,256,1024] [--runs N] [--hosts H] [--rows]
// --rows prints machine-readable rows for tests/bench/run_benchmarks.sh instead of the table.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "accel/v1/agent.grpc.pb.h"
#include "accel/v1/coordinator.grpc.pb.h"
#include "common/strings.h"
#include "daemon/rpc/coordinator_server.h"
#include "grpcpp/grpcpp.h"
#include "spdlog/spdlog.h"
#include "tests/fakes/fake_agent_host.h"

namespace {

using Clock = std::chrono::steady_clock;
using accel::testing::FakeAgentHost;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  if (values.empty()) return 0;
  // Nearest rank: with few runs p99 is the slowest run.
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  rank = std::clamp<size_t>(rank, 1, values.size());
  return values[rank - 1];
}

struct Sample {
  double rendezvous = 0;
  double assigned = 0;
  double running = 0;
};

struct Result {
  int agents = 0;
  double register_ms = 0;
  std::vector<Sample> samples;
  std::vector<double> fanout;  // Baseline: one GetStatus to every agent at once.
};

// One GetStatus call to every agent at once; returns the time until the last answer.
class FanOut {
 public:
  explicit FanOut(const std::vector<std::unique_ptr<FakeAgentHost>>& hosts) {
    for (const auto& host : hosts) {
      for (const auto& node : host->nodes()) {
        nodes_.push_back(node);
        stubs_.push_back(accel::v1::AgentService::NewStub(
            grpc::CreateChannel(host->AddressOf(node), grpc::InsecureChannelCredentials())));
      }
    }
  }

  double Once() {
    const size_t n = stubs_.size();
    std::vector<grpc::ClientContext> contexts(n);
    std::vector<accel::v1::GetStatusRequest> requests(n);
    std::vector<accel::v1::GetStatusResponse> responses(n);
    std::mutex mu;
    std::condition_variable all_done;
    size_t done = 0;
    int failed = 0;
    const auto start = Clock::now();
    for (size_t i = 0; i < n; ++i) {
      contexts[i].AddMetadata("accel-node", nodes_[i]);
      contexts[i].set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      stubs_[i]->async()->GetStatus(&contexts[i], &requests[i], &responses[i], [&](grpc::Status status) {
        std::lock_guard<std::mutex> lock(mu);
        if (!status.ok()) ++failed;
        if (++done == n) all_done.notify_one();
      });
    }
    {
      std::unique_lock<std::mutex> lock(mu);
      all_done.wait(lock, [&] { return done == n; });
    }
    const double elapsed = Ms(Clock::now() - start);
    if (failed > 0) {
      std::fprintf(stderr, "fan-out: %d of %zu GetStatus calls failed\n", failed, n);
      std::exit(1);
    }
    return elapsed;
  }

 private:
  std::vector<std::string> nodes_;
  std::vector<std::unique_ptr<accel::v1::AgentService::Stub>> stubs_;
};

bool HasText(const accel::v1::JobEvent& event, const std::string& text) {
  return event.kind() == accel::v1::JobEvent::KIND_STATE && event.message().find(text) != std::string::npos;
}

Result RunSize(int agents, int runs, int max_hosts) {
  Result result;
  result.agents = agents;
  const std::filesystem::path state =
      std::filesystem::temp_directory_path() / accel::common::StrCat("coordinator_bench_", ::getpid(), "_", agents);
  // Liveness is not what is measured: on a loaded 2-core machine a thousand agents' heartbeat threads
  // can fall seconds behind, and a node declared lost would abort the run.
  auto coordinator =
      accel::daemon::rpc::CoordinatorServer::Create({.state_dir = state, .heartbeat_timeout = absl::Seconds(60)});
  if (!coordinator.ok()) {
    std::fprintf(stderr, "coordinator: %s\n", std::string(coordinator.status().message()).c_str());
    std::exit(1);
  }
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService((*coordinator)->service());
  auto server = builder.BuildAndStart();
  const std::string address = accel::common::StrCat("127.0.0.1:", port);

  const int hosts_count = std::max(1, std::min(agents, max_hosts));
  std::vector<std::unique_ptr<FakeAgentHost>> hosts;
  for (int h = 0; h < hosts_count; ++h) {
    std::vector<std::string> names;
    for (int i = h; i < agents; i += hosts_count) names.push_back(fmt::format("node-{:04d}", i));
    hosts.push_back(FakeAgentHost::Start(names));
    hosts.back()->SetPolicy([](const std::string&, const accel::common::Assignment&) {
      return FakeAgentHost::Behavior{.outcome = FakeAgentHost::Behavior::Outcome::kRun};
    });
  }
  const auto register_start = Clock::now();
  for (auto& host : hosts) {
    if (auto status = host->RegisterAll(address); !status.ok()) {
      std::fprintf(stderr, "register: %s\n", std::string(status.message()).c_str());
      std::exit(1);
    }
  }
  result.register_ms = Ms(Clock::now() - register_start);
  for (auto& host : hosts) host->StartHeartbeats(absl::Seconds(1));

  auto stub = accel::v1::CoordinatorService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  const std::string all_running = accel::common::StrCat("all ", agents, agents == 1 ? " node" : " nodes", " running");
  for (int run = 0; run < runs; ++run) {
    accel::v1::SubmitJobRequest request;
    request.mutable_spec()->add_launch_args("train.py");
    request.mutable_spec()->set_min_nodes(agents);
    request.mutable_spec()->set_max_nodes(agents);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    const auto submitted = Clock::now();
    auto reader = stub->SubmitJob(&context, request);
    Sample sample;
    std::string job_id;
    accel::v1::JobEvent event;
    bool running = false;
    std::string last_message;
    while (!running && reader->Read(&event)) {
      if (job_id.empty()) job_id = event.job_id();
      if (!event.message().empty()) last_message = event.message();
      if (HasText(event, "attempt 0: starting on")) sample.rendezvous = Ms(Clock::now() - submitted);
      if (HasText(event, all_running)) {
        sample.running = Ms(Clock::now() - submitted);
        running = true;
      }
    }
    if (!running) {
      const grpc::Status finished = reader->Finish();
      std::fprintf(stderr, "run %d with %d agents: the stream ended before all agents ran: status %d %s; last event: %s\n",
                   run, agents, static_cast<int>(finished.error_code()), finished.error_message().c_str(),
                   last_message.c_str());
      std::exit(1);
    }
    Clock::time_point last_start = submitted;
    for (const auto& host : hosts) {
      for (const auto& start : host->Starts()) {
        if (start.assignment.job_id == job_id) last_start = std::max(last_start, start.received);
      }
    }
    sample.assigned = Ms(last_start - submitted);
    result.samples.push_back(sample);

    grpc::ClientContext cancel_context;
    accel::v1::CancelJobRequest cancel;
    cancel.set_job_id(job_id);
    accel::v1::CancelJobResponse cancelled;
    stub->CancelJob(&cancel_context, cancel, &cancelled);
    while (reader->Read(&event)) {
    }
    reader->Finish();
  }
  {
    // The baseline, after the runs so that its channels do not load the agents while jobs run.
    FanOut fanout(hosts);
    fanout.Once();  // Warm-up: connects every channel.
    for (int run = 0; run < runs; ++run) result.fanout.push_back(fanout.Once());
  }

  (*coordinator)->Shutdown();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  hosts.clear();
  server.reset();
  coordinator->reset();
  std::filesystem::remove_all(state);
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes = {8, 64, 256, 1024};
  int runs = 0;
  int max_hosts = 8;
  bool rows = false;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--rows") {
      rows = true;
      --i;
      continue;
    }
    if (i + 1 >= argc) break;
    if (flag == "--sizes") {
      sizes.clear();
      for (auto piece : accel::common::StrSplit(argv[i + 1], ',')) {
        if (auto n = accel::common::ParseInt64(piece)) sizes.push_back(static_cast<int>(*n));
      }
    } else if (flag == "--runs") {
      runs = std::atoi(argv[i + 1]);
    } else if (flag == "--hosts") {
      max_hosts = std::atoi(argv[i + 1]);
    }
  }
  spdlog::set_level(spdlog::level::warn);
  // Debian's Abseil checks lock order on every nested Mutex acquisition (a debug aid that costs more
  // than the coordinator itself at 1,024 agents); acceld turns it off the same way.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (!rows) {
    std::printf("coordinator_bench: in-process agents over gRPC on loopback, %d gRPC servers at most, times in ms\n",
                max_hosts);
    std::printf("%7s %5s %9s | %10s %10s | %12s %12s | %11s %11s | %11s\n", "agents", "runs", "register", "rdzv p50",
                "rdzv p99", "assigned p50", "assigned p99", "running p50", "running p99", "fan-out p50");
  }
  for (int agents : sizes) {
    const int n = runs > 0 ? runs : (agents <= 64 ? 30 : agents <= 256 ? 15 : 10);
    const Result result = RunSize(agents, n, max_hosts);
    std::vector<double> rdzv, assigned, running;
    for (const auto& s : result.samples) {
      rdzv.push_back(s.rendezvous);
      assigned.push_back(s.assigned);
      running.push_back(s.running);
    }
    if (rows) {
      std::printf("ROW\trendezvous, %d agents: submit -> placement decided\t%.2f\t%.2f\tone gRPC call to every agent\tms\t"
                  "p50 of %d; p99 %.2f; registering all took %.1f ms\n",
                  agents, Percentile(rdzv, 50), Percentile(result.fanout, 50), n, Percentile(rdzv, 99), result.register_ms);
      std::printf("ROW\tsubmit, %d agents: submit -> all agents running\t%.2f\t%.2f\tone gRPC call to every agent\tms\t"
                  "p50 of %d; p99 %.2f; last StartGroup received at p50 %.2f\n",
                  agents, Percentile(running, 50), Percentile(result.fanout, 50), n, Percentile(running, 99),
                  Percentile(assigned, 50));
    } else {
      std::printf("%7d %5d %9.1f | %10.2f %10.2f | %12.2f %12.2f | %11.2f %11.2f | %11.2f\n", agents, n,
                  result.register_ms, Percentile(rdzv, 50), Percentile(rdzv, 99), Percentile(assigned, 50),
                  Percentile(assigned, 99), Percentile(running, 50), Percentile(running, 99),
                  Percentile(result.fanout, 50));
    }
    std::fflush(stdout);
  }
  return 0;
}
