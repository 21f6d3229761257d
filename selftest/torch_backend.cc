// The only file of the self-test that includes torch headers (see backend.h). Builds against Debian's
// CPU libtorch 1.13 (Gloo) and against a CUDA libtorch 2.x (NCCL, when c10d was built with it:
// USE_C10D_NCCL comes from the Caffe2 target's compile definitions; Gloo too when Gloo's headers are
// installed, which PyTorch's wheels do not do).
#include <ATen/ATen.h>
#include <torch/cuda.h>
#include <torch/csrc/api/include/torch/version.h>
#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if defined(USE_C10D_GLOO) && __has_include(<gloo/algorithm.h>)
#define ACCEL_SELFTEST_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#if defined(USE_C10D_NCCL)
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/NCCLUtils.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <stdexcept>
#include <thread>

#include "selftest/backend.h"

#if !defined(ACCEL_SELFTEST_GLOO) && !defined(USE_C10D_NCCL)
#error "accel_selftest needs a libtorch with Gloo (and Gloo's headers: libgloo-dev) or with NCCL"
#endif

namespace accel::selftest {
namespace {

// The process group type that names the Work type the collectives return (the same for both).
#if defined(ACCEL_SELFTEST_GLOO)
using AnyGroup = c10d::ProcessGroupGloo;
#else
using AnyGroup = c10d::ProcessGroupNCCL;
#endif
using WorkPtr = decltype(std::declval<AnyGroup&>().barrier());

at::ScalarType ToScalarType(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return at::kFloat;
    case DType::kFloat64: return at::kDouble;
    case DType::kFloat16: return at::kHalf;
    case DType::kBFloat16: return at::kBFloat16;
    case DType::kInt32: return at::kInt;
    case DType::kInt64: return at::kLong;
  }
  return at::kFloat;
}

// InputValue(index, rank) for index = offset .. offset+count-1, as int64 (exact), on `device`.
at::Tensor Pattern(int64_t offset, int64_t count, int64_t rank_factor, const at::Device& device) {
  const auto options = at::TensorOptions().dtype(at::kLong).device(device);
  return (at::arange(offset, offset + count, options).remainder(13) + 1) * rank_factor;
}

int64_t Triangle(int ranks) { return static_cast<int64_t>(ranks) * (ranks + 1) / 2; }

class TorchBackend final : public Backend {
 public:
  TorchBackend(const LaunchEnv& env, const BackendOptions& options) : env_(env), options_(options) {
    bool want_nccl = false;
    if (options.backend == "nccl") {
      want_nccl = true;
    } else if (options.backend == "auto") {
      want_nccl = !env.use_cpu && torch::cuda::is_available();
#if !defined(USE_C10D_NCCL)
      want_nccl = false;  // CPU libtorch: Gloo is all there is
#endif
    } else if (options.backend != "gloo") {
      throw std::invalid_argument("--backend " + options.backend + ": expected auto, gloo or nccl");
    }
#if !defined(ACCEL_SELFTEST_GLOO)
    if (!want_nccl) {
      throw std::invalid_argument(
          "this accel_selftest was built without Gloo (no Gloo headers at build time), so it needs CUDA GPUs and "
          "ACCELERATE_USE_CPU not true");
    }
#endif
#if defined(USE_C10D_NCCL)
    use_nccl_ = want_nccl;
    if (use_nccl_) {
      if (!torch::cuda::is_available()) throw std::invalid_argument("--backend nccl: CUDA is not available");
      const int devices = static_cast<int>(torch::cuda::device_count());
      if (env.local_rank >= devices) {
        throw std::invalid_argument("LOCAL_RANK=" + std::to_string(env.local_rank) + " but this machine has " +
                                 std::to_string(devices) + " visible GPU(s)");
      }
      device_ = at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
      c10::cuda::set_device(static_cast<c10::DeviceIndex>(env.local_rank));
    }
#else
    if (want_nccl) throw std::invalid_argument("--backend nccl: this libtorch was built without NCCL");
#endif

    if (!env.distributed) {
      store_ = c10::make_intrusive<c10d::HashStore>();
      store_->setTimeout(options.timeout);
    } else {
      c10d::TCPStoreOptions store_options;
      store_options.port = static_cast<std::uint16_t>(env.master_port);
      store_options.isServer = env.rank == 0 && !env.agent_store;
      store_options.waitWorkers = false;  // no numWorkers: mismatched WORLD_SIZEs are reported, not waited out
      store_options.timeout = options.timeout;
      store_ = c10::make_intrusive<c10d::TCPStore>(env.master_addr, store_options);
    }
  }

  ~TorchBackend() override { Shutdown(); }

  std::string Name() const override { return use_nccl_ ? "nccl" : "gloo"; }

  std::string DeviceName() const override {
#if defined(USE_C10D_NCCL)
    if (use_nccl_) {
      return "cuda:" + std::to_string(device_.index()) + " (" + at::cuda::getDeviceProperties(device_.index())->name +
             ")";
    }
#endif
    return "cpu";
  }

  std::string Versions() const override {
    std::string text = std::string("libtorch ") + TORCH_VERSION;
#if defined(USE_C10D_NCCL)
    if (use_nccl_) text += ", NCCL " + c10d::getNcclVersion();
#endif
    return text;
  }

  void StoreSet(const std::string& key, const std::string& value) override {
    store_->set(key, std::vector<uint8_t>(value.begin(), value.end()));
  }
  std::string StoreGet(const std::string& key) override {
    const std::vector<uint8_t> value = store_->get(key);
    return std::string(value.begin(), value.end());
  }
  int64_t StoreAdd(const std::string& key, int64_t delta) override { return store_->add(key, delta); }
  bool StoreCheck(const std::vector<std::string>& keys) override { return store_->check(keys); }

  void StartProcessGroup() override {
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>("accel_selftest_pg", store_);
#if defined(USE_C10D_NCCL)
    if (use_nccl_) {
      auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = options_.timeout;
      nccl_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, env_.rank, env_.world_size, nccl_options);
      return;
    }
#endif
#if defined(ACCEL_SELFTEST_GLOO)
    auto gloo_options = c10d::ProcessGroupGloo::Options::create(options_.timeout);
    gloo_options->devices.push_back(options_.gloo_socket_ifname.empty()
                                        ? c10d::ProcessGroupGloo::createDefaultDevice()
                                        : c10d::ProcessGroupGloo::createDeviceForInterface(options_.gloo_socket_ifname));
    gloo_ = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, env_.rank, env_.world_size, gloo_options);
    // Gloo's reduce_scatter is missing in some libtorch versions (1.13 refuses it before any
    // communication, on every rank alike): then it is emulated, and the table says so.
    try {
      at::Tensor input = at::zeros({env_.world_size}, at::kFloat);
      std::vector<at::Tensor> outputs = {at::zeros({1}, at::kFloat)};
      std::vector<std::vector<at::Tensor>> inputs = {input.chunk(env_.world_size)};
      gloo_->reduce_scatter(outputs, inputs)->wait();
    } catch (const std::exception& error) {
      reduce_scatter_note_ = std::string("emulated as all_reduce + own slice; Gloo in libtorch ") + TORCH_VERSION +
                             " has none: " + FirstLine(error.what());
    }
#endif
  }

  std::vector<DType> DTypes() const override {
    if (use_nccl_) return {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16, DType::kInt32, DType::kInt64};
    return {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kInt32, DType::kInt64};
  }

  std::string Note(Collective collective) const override {
    return collective == Collective::kReduceScatter ? reduce_scatter_note_ : std::string();
  }

  CheckOutcome RunChecked(Collective collective, DType dtype, int64_t count, int root, bool corrupt) override {
    const int ranks = env_.world_size;
    const int64_t chunk = count / ranks;
    const at::ScalarType type = ToScalarType(dtype);
    collective_ = collective;
    root_ = root;
    at::Tensor expected;
    switch (collective) {
      case Collective::kAllReduce:
        input_ = Pattern(0, count, env_.rank + 1, device_).to(type);
        output_ = input_;
        expected = Pattern(0, count, Triangle(ranks), device_);
        break;
      case Collective::kBroadcast:
        input_ = env_.rank == root ? Pattern(0, count, root + 1, device_).to(type)
                                   : at::full({count}, -1, at::TensorOptions().dtype(type).device(device_));
        output_ = input_;
        expected = Pattern(0, count, root + 1, device_);
        break;
      case Collective::kAllGather: {
        input_ = Pattern(0, chunk, env_.rank + 1, device_).to(type);
        output_ = at::full({count}, -1, at::TensorOptions().dtype(type).device(device_));
        const auto long_options = at::TensorOptions().dtype(at::kLong).device(device_);
        expected = Pattern(0, chunk, 1, device_).repeat({ranks}) *
                   (at::arange(ranks, long_options).repeat_interleave(chunk) + 1);
        break;
      }
      case Collective::kReduceScatter:
        input_ = Pattern(0, count, env_.rank + 1, device_).to(type);
        output_ = at::full({chunk}, -1, at::TensorOptions().dtype(type).device(device_));
        expected = Pattern(env_.rank * chunk, chunk, Triangle(ranks), device_);
        break;
    }
    Launch()->wait();
    if (corrupt) output_.narrow(0, 0, 1).add_(1);
    Synchronize();

    CheckOutcome outcome;
    const at::Tensor wrong = output_.ne(expected.to(type));
    outcome.wrong = wrong.sum().item<int64_t>();
    if (outcome.wrong > 0) {
      outcome.first_index = wrong.nonzero().select(1, 0)[0].item<int64_t>();
      outcome.got = output_[outcome.first_index].item<double>();
      outcome.expected = expected[outcome.first_index].item<double>();
    }
    return outcome;
  }

  double Time(int warmup, int iterations) override {
    // Repeated in-place sums would grow without bound; zeros stay zeros and move as many bytes.
    if (collective_ == Collective::kAllReduce) input_.zero_();
    for (int i = 0; i < warmup; ++i) Launch()->wait();
    Synchronize();
    Barrier();
    const auto start = std::chrono::steady_clock::now();
    if (use_nccl_) {
      // Queued back to back on the NCCL stream, as nccl-tests does; the host waits once at the end.
      std::vector<WorkPtr> works;
      for (int i = 0; i < iterations; ++i) works.push_back(Launch());
      for (auto& work : works) work->wait();
    } else {
      for (int i = 0; i < iterations; ++i) Launch()->wait();
    }
    Synchronize();
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    return elapsed.count() / std::max(iterations, 1);
  }

  double MaxOverRanks(double value) override {
    std::vector<at::Tensor> tensors = {at::full({1}, value, at::TensorOptions().dtype(at::kDouble).device(device_))};
    c10d::AllreduceOptions options;
    options.reduceOp = c10d::ReduceOp::MAX;
    WithGroup([&](auto& group) { group.allreduce(tensors, options)->wait(); });
    return tensors[0].item<double>();
  }

  void Barrier() override {
    c10d::BarrierOptions options;
    if (use_nccl_) options.device_ids = {device_.index()};
    WithGroup([&](auto& group) { group.barrier(options)->wait(); });
    Synchronize();
  }

  void Shutdown() override {
#if defined(USE_C10D_NCCL)
    if (nccl_) {
      ShutdownIfSupported(*nccl_);
      nccl_.reset();
    }
#endif
#if defined(ACCEL_SELFTEST_GLOO)
    gloo_.reset();
#endif
  }

 private:
  static std::string FirstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

  // ProcessGroupNCCL::shutdown() exists from libtorch 2.2 on; before, the destructor does the work.
  template <typename Group>
  static void ShutdownIfSupported(Group& group) {
    if constexpr (requires { group.shutdown(); }) group.shutdown();
  }

  template <typename Function>
  void WithGroup(Function function) {
#if defined(USE_C10D_NCCL)
    if (nccl_) return function(*nccl_);
#endif
#if defined(ACCEL_SELFTEST_GLOO)
    if (gloo_) return function(*gloo_);
#endif
    throw std::logic_error("the process group is not started");
  }

  // One run of the current collective on the current buffers.
  WorkPtr Launch() {
    WorkPtr work;
    WithGroup([&](auto& group) { work = LaunchOn(group); });
    return work;
  }

  template <typename Group>
  WorkPtr LaunchOn(Group& group) {
    const int ranks = env_.world_size;
    switch (collective_) {
      case Collective::kAllReduce: {
        std::vector<at::Tensor> tensors = {input_};
        return group.allreduce(tensors);
      }
      case Collective::kBroadcast: {
        std::vector<at::Tensor> tensors = {input_};
        c10d::BroadcastOptions options;
        options.rootRank = root_;
        return group.broadcast(tensors, options);
      }
      case Collective::kAllGather: {
        if (use_nccl_) return group._allgather_base(output_, input_);
        std::vector<std::vector<at::Tensor>> outputs = {output_.chunk(ranks)};
        std::vector<at::Tensor> inputs = {input_};
        return group.allgather(outputs, inputs);
      }
      case Collective::kReduceScatter: {
        if (use_nccl_) return group._reduce_scatter_base(output_, input_);
        if (reduce_scatter_note_.empty()) {
          std::vector<at::Tensor> outputs = {output_};
          std::vector<std::vector<at::Tensor>> inputs = {input_.chunk(ranks)};
          return group.reduce_scatter(outputs, inputs);
        }
        // Emulation: sum everything, keep this rank's slice.
        std::vector<at::Tensor> tensors = {input_.clone()};
        auto work = group.allreduce(tensors);
        work->wait();
        output_.copy_(tensors[0].narrow(0, env_.rank * (input_.numel() / ranks), input_.numel() / ranks));
        return work;
      }
    }
    throw std::logic_error("unknown collective");
  }

  void Synchronize() const {
    if (use_nccl_) torch::cuda::synchronize(device_.index());
  }

  LaunchEnv env_;
  BackendOptions options_;
  bool use_nccl_ = false;
  at::Device device_ = at::Device(at::kCPU);
  c10::intrusive_ptr<c10d::Store> store_;
#if defined(ACCEL_SELFTEST_GLOO)
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo_;
#endif
#if defined(USE_C10D_NCCL)
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl_;
#endif
  std::string reduce_scatter_note_;
  Collective collective_ = Collective::kAllReduce;
  int root_ = 0;
  at::Tensor input_;
  at::Tensor output_;
};

}  // namespace

std::unique_ptr<Backend> CreateTorchBackend(const LaunchEnv& env, const BackendOptions& options) {
  return std::make_unique<TorchBackend>(env, options);
}

}  // namespace accel::selftest
