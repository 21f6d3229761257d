// accel_selftest: checks a distributed setup the way a training job would use it, under the launch
// environment that `accelctl launch` / torchrun give each rank.
//
//   1. launch variables: each rank reads RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK,
//      GROUP_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, ...; rank 0 hosts the c10d TCPStore at
//      MASTER_ADDR:MASTER_PORT (TORCHELASTIC_USE_AGENT_STORE=False), every rank publishes what it saw
//      and compares it with everyone else's (CheckConsistency);
//   2. collectives: all_reduce (sum), broadcast, all_gather and reduce_scatter on several sizes and
//      element types, each result compared element by element with the exact expected one; barrier;
//   3. bandwidth: float32 collectives over a size sweep, reported as nccl-tests does (rank 0 prints).
//
// Gloo on CPU, NCCL on GPU LOCAL_RANK when CUDA is there and ACCELERATE_USE_CPU is not true. Any
// mismatch makes every rank exit 1 with a line naming the check, the rank, the size and the type; the
// ranks agree on the verdict through the store, so none reports success while another failed.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "selftest/backend.h"
#include "selftest/launch_env.h"
#include "selftest/report.h"

namespace accel::selftest {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr char kUsage[] =
    "usage: accel_selftest [--backend {auto,gloo,nccl}] [--min_bytes N] [--max_bytes N] [--factor F]\n"
    "                      [--iters N] [--warmup N] [--timeout SECONDS] [--inject_fault CHECK:RANK]\n"
    "\n"
    "Self-test of a distributed setup, run once per rank by a launcher:\n"
    "  accelctl launch --num_processes 2 --no_python accel_selftest   (or simply: accelctl test)\n"
    "\n"
    "options:\n"
    "  --backend B         auto (NCCL on GPU unless ACCELERATE_USE_CPU is true, else Gloo), gloo or nccl\n"
    "  --min_bytes N       smallest size of the bandwidth sweep (default 1K; K, M, G suffixes)\n"
    "  --max_bytes N       largest size (default 4M with Gloo, 1G with NCCL)\n"
    "  --factor F          size multiplier between rows (default 4)\n"
    "  --iters N           timed iterations per size (default 5 with Gloo, 20 with NCCL)\n"
    "  --warmup N          untimed iterations first (default 1 with Gloo, 5 with NCCL)\n"
    "  --timeout SECONDS   store and collective timeout (default 300)\n"
    "  --inject_fault CHECK:RANK\n"
    "                      test the test: rank RANK reports WORLD_SIZE+1 (CHECK world_size) or sees\n"
    "                      element 0 of its result off by one (CHECK all_reduce, broadcast,\n"
    "                      all_gather, reduce_scatter); also ACCEL_SELFTEST_INJECT_FAULT=CHECK:RANK\n";

struct Options {
  BackendOptions backend;
  int64_t min_bytes = 1024;
  int64_t max_bytes = -1;  // by backend
  int64_t factor = 4;
  int iters = -1;
  int warmup = -1;
  std::string fault_check;
  int fault_rank = -1;
};

std::optional<std::string> Env(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  return value ? std::optional<std::string>(value) : std::nullopt;
}

// Returns 0 to go on, else the exit code (help: 0 printed, errors: 2).
int ParseOptions(int argc, char** argv, Options* options, bool* exit_now) {
  *exit_now = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_value = false;
    if (const size_t eq = arg.find('='); arg.starts_with("--") && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    if (arg.starts_with("--")) {  // --min-bytes is --min_bytes, as in accelctl
      for (size_t j = 2; j < arg.size(); ++j) arg[j] = arg[j] == '-' ? '_' : arg[j];
    }
    if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      *exit_now = true;
      return 0;
    }
    const bool takes_value = arg == "--backend" || arg == "--min_bytes" || arg == "--max_bytes" ||
                             arg == "--factor" || arg == "--iters" || arg == "--warmup" || arg == "--timeout" ||
                             arg == "--inject_fault";
    if (!takes_value) {
      std::cerr << "accel_selftest: error: unrecognized argument: " << argv[i] << "\n" << kUsage;
      *exit_now = true;
      return 2;
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        std::cerr << "accel_selftest: error: " << arg << " expects a value\n";
        *exit_now = true;
        return 2;
      }
      value = argv[++i];
    }
    auto bad = [&](const char* expected) {
      std::cerr << "accel_selftest: error: " << arg << " " << value << ": expected " << expected << "\n";
      *exit_now = true;
      return 2;
    };
    const int64_t number = ParseByteSize(value);
    if (arg == "--backend") {
      if (value != "auto" && value != "gloo" && value != "nccl") return bad("auto, gloo or nccl");
      options->backend.backend = value;
    } else if (arg == "--min_bytes" || arg == "--max_bytes") {
      if (number <= 0) return bad("a positive size such as 4096, 64K or 1G");
      (arg == "--min_bytes" ? options->min_bytes : options->max_bytes) = number;
    } else if (arg == "--factor") {
      if (number < 2 || number > 1024) return bad("an integer >= 2");
      options->factor = number;
    } else if (arg == "--iters" || arg == "--warmup") {
      if (number < (arg == "--iters" ? 1 : 0) || number > 100000) return bad("a small non-negative integer");
      (arg == "--iters" ? options->iters : options->warmup) = static_cast<int>(number);
    } else if (arg == "--timeout") {
      if (number < 1) return bad("seconds >= 1");
      options->backend.timeout = std::chrono::seconds(number);
    } else if (arg == "--inject_fault") {
      const size_t colon = value.find(':');
      const int64_t rank = colon == std::string::npos ? -1 : ParseByteSize(value.substr(colon + 1));
      const std::string check = value.substr(0, colon);
      bool known = check == "world_size";
      for (Collective collective : kAllCollectives) known = known || check == Name(collective);
      if (!known || rank < 0) return bad("CHECK:RANK with CHECK world_size, all_reduce, broadcast, all_gather or reduce_scatter");
      options->fault_check = check;
      options->fault_rank = static_cast<int>(rank);
    }
  }
  return 0;
}

std::string Describe(int64_t count, DType dtype) {
  return std::to_string(count * ElementSize(dtype)) + " B (" + std::to_string(count) + " x " +
         std::string(Name(dtype)) + ")";
}

// Drives the checks on one rank. Output: rank 0 prints the report to stdout; every rank prints its own
// failures to stderr.
class SelfTest {
 public:
  SelfTest(const LaunchEnv& env, const Options& options) : env_(env), options_(options) {}

  int Run() {
    try {
      backend_ = CreateTorchBackend(env_, options_.backend);
    } catch (const std::invalid_argument& error) {
      Fail("backend", error.what());
      return 1;
    } catch (const std::exception& error) {
      std::string what = error.what();
      Fail("rendezvous", "c10d TCPStore at " + env_.master_addr + ":" + std::to_string(env_.master_port) + " (" +
                             (env_.rank == 0 ? "hosted by this rank" : "hosted by rank 0") +
                             "): " + what.substr(0, what.find('\n')));
      return 1;  // no store: nobody to agree with
    }
    if (!ExchangeLaunchEnv()) return Finish(1);
    if (!Step("process group", [&] { backend_->StartProcessGroup(); })) return Finish(1);
    if (env_.rank == 0) {
      std::cout << "accel_selftest: " << env_.world_size << " rank(s), backend " << backend_->Name() << " on "
                << backend_->DeviceName() << " (rank 0), " << backend_->Versions() << "\n";
      if (!env_.distributed) std::cout << "accel_selftest: no RANK/WORLD_SIZE in the environment: one process\n";
      std::cout << "accel_selftest: launch environment consistent across " << env_.world_size << " rank(s)\n";
      std::cout.flush();
    }
    if (CheckCollectives()) CheckBarrier();
    if (!Agree("collectives")) return Finish(1);
    MeasureBandwidth();
    if (!Agree("bandwidth")) return Finish(1);
    if (env_.rank == 0) {
      std::cout << "accel_selftest: all checks passed on " << env_.world_size << " rank(s) ("
                << backend_->Name() << ")\n";
    }
    return Finish(0);
  }

 private:
  bool Faulty(std::string_view check) const { return options_.fault_check == check && options_.fault_rank == env_.rank; }

  // Records a failure of `check` on this rank and prints it (the first few; then only their count).
  void Fail(const std::string& check, const std::string& detail) {
    const std::string line = "FAILED " + check + " on rank " + std::to_string(env_.rank) + ": " + detail;
    constexpr int kPrinted = 5;
    if (++failure_count_ <= kPrinted) std::cerr << "accel_selftest: " << line << "\n";
    std::cerr.flush();
    if (failures_.empty()) failures_.push_back(line);
  }

  // Runs `body`; an exception becomes a failure of `check`.
  template <typename Body>
  bool Step(const std::string& check, Body body) {
    try {
      body();
      return true;
    } catch (const std::exception& error) {
      const std::string what = error.what();
      Fail(check, what.substr(0, what.find('\n')));
      return false;
    }
  }

  // Waits until StoreAdd(key, 0) >= target; false on timeout, or with `*aborted` set when `abort_key`
  // appears (another rank failed).
  bool WaitForCount(const std::string& key, int64_t target, const std::string& abort_key, milliseconds timeout,
                    int64_t* seen, bool* aborted) {
    const auto deadline = steady_clock::now() + timeout;
    *aborted = false;
    while (true) {
      *seen = backend_->StoreAdd(key, 0);
      if (*seen >= target) return true;
      if (!abort_key.empty() && backend_->StoreCheck({abort_key})) {
        *aborted = true;
        return false;
      }
      if (steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(milliseconds(5));
    }
  }

  // Step 1: every rank publishes its launch variables through the store; each compares them all.
  bool ExchangeLaunchEnv() {
    LaunchEnv published = env_;
    if (Faulty("world_size")) published.world_size += 1;
    const std::string failed_key = "selftest/env/failed";
    bool ok = Step("launch environment", [&] {
      if (env_.rank == 0) backend_->StoreSet("selftest/env/rank0_world_size", std::to_string(published.world_size));
      const int64_t arrival = backend_->StoreAdd("selftest/env/arrivals", 1);
      backend_->StoreSet("selftest/env/" + std::to_string(arrival), SerializeLaunchEnv(published));
      std::vector<std::string> problems;
      // A smaller WORLD_SIZE than rank 0's would otherwise let this rank go on alone.
      const std::string rank0_world_size = backend_->StoreGet("selftest/env/rank0_world_size");
      if (rank0_world_size != std::to_string(published.world_size)) {
        problems.push_back("rank 0 has WORLD_SIZE=" + rank0_world_size + ", rank " + std::to_string(env_.rank) +
                           " has WORLD_SIZE=" + std::to_string(published.world_size));
      }
      int64_t arrived = 0;
      bool aborted = false;
      if (problems.empty() && !WaitForCount("selftest/env/arrivals", published.world_size, failed_key,
                                            options_.backend.timeout, &arrived, &aborted)) {
        if (aborted) {
          Fail("launch environment", "stopped after another rank's report: " + backend_->StoreGet(failed_key));
          return;
        }
        problems.push_back(std::to_string(arrived) + " of WORLD_SIZE=" + std::to_string(published.world_size) +
                           " processes reached the store within " +
                           std::to_string(options_.backend.timeout.count() / 1000) + " s");
      }
      if (problems.empty()) {
        std::vector<LaunchEnv> records;
        for (int64_t i = 1; i <= arrived; ++i) {
          const std::string text = backend_->StoreGet("selftest/env/" + std::to_string(i));
          std::optional<LaunchEnv> record = ParseSerializedLaunchEnv(text);
          if (!record) throw std::runtime_error("unreadable record from another rank: " + text);
          records.push_back(*record);
        }
        problems = CheckConsistency(records, published);
      }
      if (!problems.empty()) {
        std::string joined;
        for (const std::string& problem : problems) joined += (joined.empty() ? "" : "; ") + problem;
        Fail("launch environment", joined);
        backend_->StoreSet(failed_key, failures_.front());
        return;
      }
      backend_->StoreAdd("selftest/env/ok", 1);
      if (!WaitForCount("selftest/env/ok", published.world_size, failed_key, options_.backend.timeout, &arrived,
                        &aborted)) {
        Fail("launch environment", aborted ? "stopped after another rank's report: " + backend_->StoreGet(failed_key)
                                           : "timed out waiting for the other ranks' verdicts");
      }
    });
    return ok && failures_.empty();
  }

  // Step 2: every collective, element type and a few sizes (odd ones included), checked exactly.
  // False when the process group broke (an error or a timeout, not a wrong result).
  bool CheckCollectives() {
    const int ranks = env_.world_size;
    for (Collective collective : kAllCollectives) {
      int cases = 0;
      for (DType dtype : backend_->DTypes()) {
        for (int64_t per_rank : {int64_t{1}, int64_t{1031}, int64_t{65539}}) {
          const int64_t count = per_rank * ranks;
          const int root = ranks - 1;  // a root other than 0 where there is one
          const std::string check = std::string(Name(collective));
          const bool ran = Step(check, [&] {
            const CheckOutcome outcome = backend_->RunChecked(collective, dtype, count, root, Faulty(check));
            ++cases;
            if (outcome.wrong > 0) Fail(check, Mismatch(outcome, count, dtype));
          });
          if (!ran) return false;  // more calls on a broken group would only hang
        }
      }
      if (env_.rank == 0) {
        std::cout << "accel_selftest: " << Name(collective) << ": " << cases << " case(s) checked on this rank";
        if (!backend_->Note(collective).empty()) std::cout << " (" << backend_->Note(collective) << ")";
        std::cout << "\n";
      }
    }
    return true;
  }

  static std::string Mismatch(const CheckOutcome& outcome, int64_t count, DType dtype) {
    std::ostringstream text;
    text << "size " << Describe(count, dtype) << ": " << outcome.wrong << " wrong element(s), the first at index "
         << outcome.first_index << " is " << outcome.got << ", expected " << outcome.expected;
    return text.str();
  }

  // Step 2b: nobody leaves the barrier before everyone entered it. Rank 0 enters late and marks its
  // arrival in the store first; every rank must see that mark once out of the barrier.
  void CheckBarrier() {
    Step("barrier", [&] {
      if (env_.rank == 0) {
        std::this_thread::sleep_for(milliseconds(200));
        backend_->StoreSet("selftest/barrier/rank0_entered", "1");
      }
      backend_->Barrier();
      if (!backend_->StoreCheck({"selftest/barrier/rank0_entered"})) {
        Fail("barrier", "left the barrier before rank 0 entered it");
      }
    });
    if (env_.rank == 0) std::cout << "accel_selftest: barrier: checked\n";
  }

  // Step 3: float32 bandwidth over the size sweep; each size's first run is checked too.
  void MeasureBandwidth() {
    const bool nccl = backend_->Name() == "nccl";
    const int64_t max_bytes = options_.max_bytes > 0 ? options_.max_bytes : (nccl ? int64_t{1} << 30 : int64_t{4} << 20);
    const int iters = options_.iters > 0 ? options_.iters : (nccl ? 20 : 5);
    const int warmup = options_.warmup >= 0 ? options_.warmup : (nccl ? 5 : 1);
    const int ranks = env_.world_size;
    if (env_.rank == 0) {
      std::cout << "#\n# accel_selftest bandwidth: " << ranks << " rank(s), " << backend_->Name() << ", float32, "
                << iters << " timed iteration(s) after " << warmup << " warm-up(s); time = slowest rank\n"
                << "# algbw = size / time; busbw = algbw x 2(n-1)/n (all_reduce), (n-1)/n (all_gather, "
                   "reduce_scatter), 1 (broadcast)\n"
                << BandwidthTableHeader();
    }
    std::vector<std::string> notes;
    for (Collective collective : kAllCollectives) {
      for (int64_t bytes : SizeSweep(options_.min_bytes, max_bytes, options_.factor)) {
        BandwidthRow row{.collective = collective, .note = backend_->Note(collective)};
        row.dtype = DType::kFloat32;
        row.count = RoundCount(bytes, row.dtype, ranks);
        row.bytes = row.count * ElementSize(row.dtype);
        const std::string check = std::string(Name(collective)) + " (bandwidth)";
        const bool ok = Step(check, [&] {
          const CheckOutcome outcome = backend_->RunChecked(collective, row.dtype, row.count, 0, false);
          row.wrong = outcome.wrong;
          if (outcome.wrong > 0) Fail(check, Mismatch(outcome, row.count, row.dtype));
          row.seconds = backend_->MaxOverRanks(backend_->Time(warmup, iters));
        });
        if (!ok) return;  // a broken group would only fail again, slowly
        if (env_.rank == 0) std::cout << FormatBandwidthRow(row, ranks);
      }
      if (env_.rank == 0 && !backend_->Note(collective).empty()) {
        notes.push_back("# * " + std::string(Name(collective)) + ": " + backend_->Note(collective));
      }
    }
    if (env_.rank == 0) {
      for (const std::string& note : notes) std::cout << note << "\n";
      std::cout.flush();
    }
  }

  // Every rank learns whether any rank failed in `phase` (through the store, not the collectives under
  // test); false when one did, after printing the other ranks' first failures.
  bool Agree(const std::string& phase) {
    const std::string prefix = "selftest/" + phase + "/";
    bool ok = Step(phase + " verdict", [&] {
      if (!failures_.empty()) {
        backend_->StoreSet(prefix + "failure/" + std::to_string(env_.rank), failures_.front());
        backend_->StoreAdd(prefix + "failed", 1);
      }
      backend_->StoreAdd(prefix + "arrived", 1);
      int64_t arrived = 0;
      bool aborted = false;
      if (!WaitForCount(prefix + "arrived", env_.world_size, "", options_.backend.timeout, &arrived, &aborted)) {
        Fail(phase + " verdict", "only " + std::to_string(arrived) + " of " + std::to_string(env_.world_size) +
                                     " ranks finished the " + phase + " checks in time");
        return;
      }
      if (backend_->StoreAdd(prefix + "failed", 0) == 0) return;
      for (int rank = 0; rank < env_.world_size; ++rank) {
        const std::string key = prefix + "failure/" + std::to_string(rank);
        if (rank == env_.rank || !backend_->StoreCheck({key})) continue;
        const std::string line = "rank " + std::to_string(rank) + " reported: " + backend_->StoreGet(key);
        std::cerr << "accel_selftest: " << line << "\n";
        if (failures_.empty()) failures_.push_back(line);
      }
    });
    return ok && failures_.empty();
  }

  // Leaves together: rank 0 hosts the store, so it waits (briefly after a failure) until every rank is
  // done with it. On failure every rank has printed its message before anyone exits, so a launcher
  // that stops the others at the first exit does not cut a message short.
  int Finish(int code) {
    if (!backend_) return code;
    try {
      backend_->Shutdown();
      backend_->StoreAdd("selftest/exit", 1);
      const milliseconds linger = code == 0 ? milliseconds(options_.backend.timeout) : milliseconds(5000);
      int64_t seen = 0;
      bool aborted = false;
      const int64_t processes = std::max<int64_t>(env_.world_size, backend_->StoreAdd("selftest/env/arrivals", 0));
      if (env_.rank == 0 || code != 0) WaitForCount("selftest/exit", processes, "", linger, &seen, &aborted);
    } catch (const std::exception&) {
      // The store is gone: rank 0 has left, nothing to wait for.
    }
    if (code != 0) {
      std::cerr << "accel_selftest: rank " << env_.rank << ": self-test FAILED";
      if (failure_count_ > 1) std::cerr << " (" << failure_count_ << " failures on this rank)";
      std::cerr << "\n";
    }
    std::cout.flush();
    std::cerr.flush();
    return code;
  }

  LaunchEnv env_;
  Options options_;
  std::unique_ptr<Backend> backend_;
  std::vector<std::string> failures_;  // the first failure seen here (own or reported)
  int failure_count_ = 0;              // own failures
};

}  // namespace
}  // namespace accel::selftest

int main(int argc, char** argv) {
  using namespace accel::selftest;
  Options options;
  // The fault injection can also come from the environment, for launchers that pass no flags
  // (`accelctl test`); a flag wins.
  if (auto fault = Env("ACCEL_SELFTEST_INJECT_FAULT"); fault && !fault->empty()) {
    const std::string flag = "--inject_fault=" + *fault;
    char* fault_argv[] = {argv[0], const_cast<char*>(flag.c_str()), nullptr};
    bool unused = false;
    if (const int code = ParseOptions(2, fault_argv, &options, &unused); code != 0) return code;
  }
  bool exit_now = false;
  const int code = ParseOptions(argc, argv, &options, &exit_now);
  if (exit_now) return code;
  options.backend.gloo_socket_ifname = Env("GLOO_SOCKET_IFNAME").value_or("");

  std::string error;
  const std::optional<LaunchEnv> env = ParseLaunchEnv(Env, &error);
  if (!env) {
    std::cerr << "accel_selftest: FAILED launch environment on rank " << Env("RANK").value_or("?") << ": " << error
              << "\n";
    return 1;
  }
  try {
    return SelfTest(*env, options).Run();
  } catch (const std::exception& failure) {
    std::cerr << "accel_selftest: FAILED on rank " << env->rank << ": " << failure.what() << "\n";
    return 1;
  }
}
