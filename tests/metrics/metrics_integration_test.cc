// End to end: real acceld / accelctl processes serving /metrics, a real Prometheus server scraping
// acceld on loopback, hang detection in an embedded launch and through the cluster path.
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <regex>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/metrics/http_get.h"
#include "tests/support/ports.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace accel::testing {
namespace {

using ::testing::HasSubstr;
using Env = std::map<std::string, std::string>;
using std::chrono::seconds;

// The value of the first sample of `series` (its name and labels up to the closing brace) in a scrape.
std::optional<double> SampleValue(const std::string& scrape, const std::string& series) {
  const size_t at = scrape.find("\n" + series + " ");
  if (at == std::string::npos) return std::nullopt;
  return std::stod(scrape.substr(at + series.size() + 2));
}

class MetricsIntegrationTest : public ::testing::Test {
 protected:
  Env BaseEnv() const {
    return EnvWith({{"HF_HOME", (dir_.path() / "hf").string()}, {"OMP_NUM_THREADS", "1"},
                    {"ACCEL_PROC_NVIDIA_GPUS", (dir_.path() / "none").string()},
                    {"ACCEL_NVML_LIBRARY", "/nonexistent"}, {"ACCEL_CLUSTER", ""}});
  }
  TempDir dir_;
};

TEST_F(MetricsIntegrationTest, EmbeddedLaunchServesWorkerSeries) {
  const int port = FreeTcpPort();
  Subprocess launch({BinaryPath("accelctl"), "launch", "--cpu", "--num_processes", "2", "--metrics_port",
                     std::to_string(port), "--rdzv_id", "emb", "--no_python", "/bin/sh", "-c",
                     "echo started; exec sleep 30"},
                    BaseEnv());
  std::string scrape;
  ASSERT_TRUE(WaitFor(
      [&] {
        scrape = HttpGet(port, "/metrics").body;
        return scrape.find("accel_workers{job=\"emb\",node=") != std::string::npos &&
               scrape.find("state=\"running\"} 2") != std::string::npos;
      },
      seconds(20)))
      << scrape;
  EXPECT_THAT(scrape, HasSubstr("role=\"launch\""));
  for (const char* rank : {"0", "1"}) {
    const std::regex rss(std::string("accel_worker_resident_memory_bytes\\{job=\"emb\",node=\"[^\"]+\",rank=\"") + rank +
                         "\",local_rank=\"" + rank + "\"\\} ([0-9.e+]+)");
    std::smatch match;
    ASSERT_TRUE(std::regex_search(scrape, match, rss)) << scrape;
    EXPECT_GT(std::stod(match[1]), 0);
  }
  EXPECT_EQ(HttpGet(port, "/healthz").status, 200);
  launch.Signal(SIGTERM);
  EXPECT_EQ(launch.Wait(seconds(20)).exit_code, 128 + SIGTERM);
}

TEST_F(MetricsIntegrationTest, HangTimeoutMarksAndRestartsSilentWorker) {
  const auto start = std::chrono::steady_clock::now();
  const ProcessResult result =
      RunProcess({BinaryPath("accelctl"), "launch", "--cpu", "--num_processes", "2", "--hang_timeout", "1",
                  "--hang_restart", "--max_restarts", "1", "--monitor_interval", "0.1", "--no_python", "/bin/sh", "-c",
                  "echo hello; exec sleep 60"},
                 BaseEnv(), seconds(40));
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(20)) << "the hung workers were not stopped";
  EXPECT_EQ(result.exit_code, 128 + SIGTERM) << result.err;
  EXPECT_THAT(result.err, HasSubstr("printed nothing for 1 s (hang_timeout 1 s): marked hung; restarting the group"));
  EXPECT_THAT(result.err, HasSubstr("restarting the group"));  // the one restart allowed
  EXPECT_THAT(result.err, HasSubstr("hung: no output for"));  // the failure summary's reason
}

TEST_F(MetricsIntegrationTest, HangRestartNeedsHangTimeout) {
  const ProcessResult result = RunProcess(
      {BinaryPath("accelctl"), "launch", "--cpu", "--hang_restart", "--no_python", "/bin/true"}, BaseEnv(), seconds(20));
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("--hang_restart needs --hang_timeout"));
}

// acceld (coordinator and agent in one) runs a 2-worker job; Prometheus scrapes it on loopback and
// its query API returns the job's worker series with the right values.
class PrometheusScrapeTest : public MetricsIntegrationTest {
 protected:
  void SetUp() override {
    if (::access("/usr/bin/prometheus", X_OK) != 0) GTEST_SKIP() << "prometheus missing: run scripts/install-deps.sh";
    grpc_address_ = "127.0.0.1:" + std::to_string(FreeTcpPort());
    metrics_port_ = FreeTcpPort();
    acceld_ = std::make_unique<Subprocess>(
        std::vector<std::string>{BinaryPath("acceld"), "--role", "both", "--node_name", "node0", "--listen",
                                 grpc_address_, "--state_dir", (dir_.path() / "state").string(), "--log_root",
                                 (dir_.path() / "logs").string(), "--heartbeat_interval", "0.2",
                                 "--heartbeat_timeout", "2", "--last_call", "0", "--metrics_port",
                                 std::to_string(metrics_port_)},
        BaseEnv());
    ASSERT_TRUE(WaitFor([&] { return HttpGet(metrics_port_, "/healthz").status == 200; }, seconds(20)))
        << acceld_->Err();
  }
  void TearDown() override {
    if (prometheus_) {
      prometheus_->Signal(SIGTERM);
      prometheus_->Wait(seconds(10));
    }
    if (acceld_) {
      acceld_->Signal(SIGTERM);
      acceld_->Wait(seconds(10));
    }
  }
  // Scrapes acceld's /metrics until `job` has `running` workers on node0 (30 s at most); `*scrape`
  // keeps the last scrape for the checks and the failure message.
  bool WaitForRunningWorkers(const std::string& job, double running, std::string* scrape) const {
    const std::string series = "accel_workers{job=\"" + job + "\",node=\"node0\",state=\"running\"}";
    return WaitFor(
        [&] {
          *scrape = HttpGet(metrics_port_, "/metrics").body;
          return SampleValue(*scrape, series) == running;
        },
        seconds(30));
  }
  void StartPrometheus() {
    prometheus_port_ = FreeTcpPort();
    const auto config = dir_.path() / "prometheus.yml";
    std::ofstream(config) << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                             "scrape_configs:\n  - job_name: acceld\n    honor_labels: true\n"
                             "    static_configs:\n      - targets: ['127.0.0.1:"
                          << metrics_port_ << "']\n";
    prometheus_ = std::make_unique<Subprocess>(
        std::vector<std::string>{"/usr/bin/prometheus", "--config.file=" + config.string(),
                                 "--storage.tsdb.path=" + (dir_.path() / "tsdb").string(),
                                 "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port_),
                                 "--log.level=warn"},
        BaseEnv());
  }
  // The result vector of an instant query; empty on any error.
  nlohmann::json Query(const std::string& promql) {
    std::string encoded;
    for (unsigned char c : promql) {
      if (std::isalnum(c) || c == '_' || c == '.') {
        encoded += static_cast<char>(c);
      } else {
        char hex[4];
        std::snprintf(hex, sizeof(hex), "%%%02X", c);
        encoded += hex;
      }
    }
    const HttpResponse response = HttpGet(prometheus_port_, "/api/v1/query?query=" + encoded);
    if (response.status != 200) return nlohmann::json::array();
    const auto parsed = nlohmann::json::parse(response.body, nullptr, false);
    if (parsed.is_discarded() || parsed.value("status", "") != "success") return nlohmann::json::array();
    return parsed["data"]["result"];
  }

  std::string grpc_address_;
  int metrics_port_ = 0;
  int prometheus_port_ = 0;
  std::unique_ptr<Subprocess> acceld_;
  std::unique_ptr<Subprocess> prometheus_;
};

TEST_F(PrometheusScrapeTest, QueryApiReturnsTheJobsWorkerSeries) {
  Env env = BaseEnv();
  env["ACCEL_CLUSTER"] = grpc_address_;
  const ProcessResult submitted =
      RunProcess({BinaryPath("accelctl"), "launch", "--cpu", "--num_processes", "2", "--detach", "--no_python",
                  "/bin/sh", "-c", "echo started; exec sleep 60"},
                 env, seconds(30));
  ASSERT_EQ(submitted.exit_code, 0) << submitted.err;
  const std::string job = submitted.out.substr(0, submitted.out.find('\n'));
  ASSERT_FALSE(job.empty());

  // The agent's own scrape first: both workers running, and the output passes promtool.
  std::string scrape;
  ASSERT_TRUE(WaitForRunningWorkers(job, 2, &scrape)) << scrape;
  EXPECT_EQ(SampleValue(scrape, "accel_coordinator_jobs{state=\"running\"}"), 1.0);
  EXPECT_EQ(SampleValue(scrape, "accel_coordinator_nodes_registered"), 1.0);
  EXPECT_THAT(scrape, HasSubstr("accel_rpc_requests_total{code=\"OK\",method=\"/accel.v1.AgentService/StartGroup\"} 1"));
  EXPECT_THAT(scrape, HasSubstr("accel_coordinator_rendezvous_duration_seconds_count 1"));
  if (::access("/usr/bin/promtool", X_OK) == 0) {
    const auto path = dir_.path() / "scrape.txt";
    std::ofstream(path) << scrape;
    const ProcessResult lint = RunProcess({"/bin/sh", "-c", "promtool check metrics < " + path.string()}, {});
    EXPECT_EQ(lint.exit_code, 0) << lint.out << lint.err;
  }

  StartPrometheus();
  nlohmann::json up;
  ASSERT_TRUE(WaitFor(
      [&] {
        up = Query("up{job=\"acceld\"}");
        return up.size() == 1 && up[0]["value"][1] == "1";
      },
      seconds(60)))
      << "target never up: " << up.dump() << "\n" << prometheus_->Err();

  nlohmann::json running;
  ASSERT_TRUE(WaitFor(
      [&] {
        running = Query("accel_workers{job=\"" + job + "\",state=\"running\"}");
        return running.size() == 1 && running[0]["value"][1] == "2";
      },
      seconds(30)))
      << running.dump();
  EXPECT_EQ(running[0]["metric"]["node"], "node0");

  const nlohmann::json memory = Query("accel_worker_resident_memory_bytes{job=\"" + job + "\"}");
  ASSERT_EQ(memory.size(), 2u) << memory.dump();
  std::set<std::string> ranks;
  for (const auto& series : memory) {
    ranks.insert(series["metric"]["rank"].get<std::string>());
    EXPECT_EQ(series["metric"]["local_rank"], series["metric"]["rank"]);
    EXPECT_GT(std::stod(series["value"][1].get<std::string>()), 0);
  }
  EXPECT_EQ(ranks, (std::set<std::string>{"0", "1"}));
  const nlohmann::json silent = Query("accel_worker_seconds_since_output{job=\"" + job + "\"}");
  ASSERT_EQ(silent.size(), 2u) << silent.dump();
  for (const auto& series : silent) EXPECT_LT(std::stod(series["value"][1].get<std::string>()), 120);
  const nlohmann::json hung = Query("sum(accel_worker_hung{job=\"" + job + "\"})");
  ASSERT_EQ(hung.size(), 1u);
  EXPECT_EQ(hung[0]["value"][1], "0");
  EXPECT_EQ(Query("accel_agent_info{node=\"node0\",role=\"both\"}").size(), 1u);

  const ProcessResult stop = RunProcess({BinaryPath("accelctl"), "stop", job}, env, seconds(30));
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  // Stopped workers leave the running state; the exits are counted.
  ASSERT_TRUE(WaitForRunningWorkers(job, 0, &scrape)) << scrape;
  EXPECT_THAT(scrape, HasSubstr("accel_worker_exits_total{job=\"" + job + "\",node=\"node0\",rank=\"0\""));
}

TEST_F(PrometheusScrapeTest, ClusterJobReportsHungWorker) {
  Env env = BaseEnv();
  env["ACCEL_CLUSTER"] = grpc_address_;
  const ProcessResult result = RunProcess(
      {BinaryPath("accelctl"), "launch", "--cpu", "--num_processes", "2", "--hang_timeout", "1", "--hang_restart",
       "--no_python", "/bin/sh", "-c", "echo started; exec sleep 60"},
      env, seconds(40));
  EXPECT_NE(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out + result.err, HasSubstr("printed nothing for 1 s: marked hung; restarting the job"));
  const std::string scrape = HttpGet(metrics_port_, "/metrics").body;
  EXPECT_THAT(scrape, HasSubstr("accel_worker_hangs_total{job=\""));
}

}  // namespace
}  // namespace accel::testing
