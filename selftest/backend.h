// Backend: what the self-test driver needs from libtorch's c10d, behind a standard-library interface,
// so that only torch_backend.cc includes torch headers (each such file takes ~20 s to compile).
//
// One object per rank; not thread-safe. Every method may throw std::exception (c10::Error is one) when
// the store or the process group fails; the driver reports it with the step that was running.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "selftest/launch_env.h"
#include "selftest/report.h"

namespace accel::selftest {

struct BackendOptions {
  std::string backend = "auto";          // auto, gloo or nccl
  std::chrono::milliseconds timeout{std::chrono::seconds(300)};
  std::string gloo_socket_ifname;        // GLOO_SOCKET_IFNAME: the interface Gloo binds; empty: hostname's
};

/// Result of one checked collective, on this rank.
struct CheckOutcome {
  int64_t wrong = 0;        // elements that differ from the expected result
  int64_t first_index = -1;  // the first of them
  double got = 0;
  double expected = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  /// "gloo" or "nccl".
  virtual std::string Name() const = 0;
  /// "cpu" or "cuda:1 (NVIDIA H200)".
  virtual std::string DeviceName() const = 0;
  /// "libtorch 1.13.1", plus ", NCCL 2.28.3" for NCCL.
  virtual std::string Versions() const = 0;

  // The c10d store (a TCPStore at MASTER_ADDR:MASTER_PORT, hosted by rank 0).
  virtual void StoreSet(const std::string& key, const std::string& value) = 0;
  /// Waits for the key (up to the store's timeout).
  virtual std::string StoreGet(const std::string& key) = 0;
  virtual int64_t StoreAdd(const std::string& key, int64_t delta) = 0;
  /// True when every key exists; does not wait.
  virtual bool StoreCheck(const std::vector<std::string>& keys) = 0;

  /// Creates the process group (Gloo or NCCL) over the store. Collective; every rank calls it.
  virtual void StartProcessGroup() = 0;
  /// The element types this backend is checked with.
  virtual std::vector<DType> DTypes() const = 0;
  /// Empty, or why the collective is measured another way (Gloo without reduce_scatter).
  virtual std::string Note(Collective collective) const = 0;

  /// Fills this rank's input from InputValue(), runs `collective` once on `count` elements in total
  /// (see RoundCount), and compares the result with what it must be. `corrupt`: adds 1 to element 0
  /// of this rank's result first (fault injection, to prove that a mismatch is caught).
  virtual CheckOutcome RunChecked(Collective collective, DType dtype, int64_t count, int root, bool corrupt) = 0;
  /// Runs the collective of the last RunChecked `warmup` + `iterations` times on its buffers; returns
  /// the seconds per iteration this rank saw (device work included).
  virtual double Time(int warmup, int iterations) = 0;
  /// The largest `value` over all ranks (an all_reduce MAX).
  virtual double MaxOverRanks(double value) = 0;
  virtual void Barrier() = 0;
  /// Releases the process group (NCCL communicators); the store stays.
  virtual void Shutdown() = 0;
};

/// Connects the store (rank 0 hosts it unless `env.agent_store`; a single process uses an in-memory
/// store) and picks the backend: NCCL on GPU LOCAL_RANK when `options.backend` allows it, this
/// libtorch has NCCL, ACCELERATE_USE_CPU is not true and CUDA is available; Gloo on CPU otherwise.
/// std::invalid_argument when the requested backend cannot be had (before any connection).
std::unique_ptr<Backend> CreateTorchBackend(const LaunchEnv& env, const BackendOptions& options);

}  // namespace accel::selftest
