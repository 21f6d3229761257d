#include "common/launch/launch_options.h"

#include "common/status_macros.h"
#include "common/strings.h"

namespace accel::common {
namespace {

// Compact rows for the table below; `default_json` is the argparse default as JSON ("null" = None).
struct Row {
  const char* name;
  ArgKind kind;
  ArgType type;
  const char* default_json;
  const char* group;
  const char* help;
  std::vector<std::string> choices = {};
  std::vector<std::string> short_names = {};
  bool hidden = false;
};

constexpr ArgKind F = ArgKind::kFlag;
constexpr ArgKind V = ArgKind::kValue;
constexpr ArgKind A = ArgKind::kAppend;
constexpr ArgType S = ArgType::kString;
constexpr ArgType I = ArgType::kInt;
constexpr ArgType D = ArgType::kFloat;

constexpr const char* kCore = "";
constexpr const char* kHardware = "Hardware Selection Arguments";
constexpr const char* kResource = "Resource Selection Arguments";
constexpr const char* kParadigm = "Training Paradigm Arguments";
constexpr const char* kDistributed = "Distributed GPUs";
constexpr const char* kTpu = "TPU";
constexpr const char* kDeepSpeed = "DeepSpeed Arguments";
constexpr const char* kFsdp = "FSDP Arguments";
constexpr const char* kMegatron = "Megatron-LM Arguments";
constexpr const char* kFp8 = "FP8 Arguments";
constexpr const char* kAws = "AWS Arguments";
constexpr const char* kMpirun = "MPI Arguments";
constexpr const char* kParallelism = "ParallelismConfig Arguments";
constexpr const char* kAccel = "accelctl Arguments";

std::vector<Row> Rows() {
  const std::vector<std::string> dynamo_backends = {
      "no", "eager", "aot_eager", "inductor", "aot_ts_nvfuser", "nvprims_nvfuser", "cudagraphs", "ofi",
      "fx2trt", "onnxrt", "tensorrt", "aot_torchxla_trace_once", "torhchxla_trace_once", "tvm"};
  return {
      // Core. The four flags declared on the parser itself default to None, not False.
      {"config_file", V, S, "null", kCore, "The config file to use for the default values in the launching script."},
      {"quiet", F, S, "null", kCore, "Silence subprocess errors from the launch stack trace and only show the relevant tracebacks.", {}, {"-q"}},
      {"cpu", F, S, "false", kHardware, "Whether or not to force the training on the CPU."},
      {"multi_gpu", F, S, "false", kHardware, "Whether or not this should launch a distributed GPU training."},
      {"tpu", F, S, "false", kHardware, "Whether or not this should launch a TPU training."},
      {"mixed_precision", V, S, "null", kResource, "Whether or not to use mixed precision training.", {"no", "fp16", "bf16", "fp8"}},
      {"num_processes", V, I, "null", kResource, "The total number of processes to be launched in parallel."},
      {"num_machines", V, S, "null", kResource, "The total number of machines used in this training (MIN:MAX with --cluster: elastic)."},
      {"num_cpu_threads_per_process", V, I, "null", kResource, "The number of CPU threads per process (OMP_NUM_THREADS)."},
      {"enable_cpu_affinity", F, S, "false", kResource, "Whether or not CPU affinity and balancing should be enabled. Currently only supported on NVIDIA hardware."},
      {"dynamo_backend", V, S, "null", kResource, "Choose a backend to optimize your training with dynamo.", dynamo_backends},
      {"dynamo_mode", V, S, "\"default\"", kResource, "Choose a mode to optimize your training with dynamo.", {"default", "reduce-overhead", "max-autotune"}},
      {"dynamo_use_fullgraph", F, S, "false", kResource, "Whether to use full graph mode for dynamo or it is ok to break model into several subgraphs."},
      {"dynamo_use_dynamic", F, S, "false", kResource, "Whether to enable dynamic shape tracing."},
      {"dynamo_use_regional_compilation", F, S, "false", kResource, "Whether to enable regional compilation."},
      {"use_deepspeed", F, S, "false", kParadigm, "Whether to use deepspeed."},
      {"use_fsdp", F, S, "false", kParadigm, "Whether to use fsdp."},
      {"use_parallelism_config", F, S, "false", kParadigm, "Whether to use the parallelism config to configure the N-d distributed training."},
      {"use_megatron_lm", F, S, "false", kParadigm, "Whether to use Megatron-LM."},
      {"use_xpu", F, S, "false", kParadigm, "Whether to use IPEX plugin to speed up training on XPU specifically (deprecated).", {}, {}, true},
      {"gpu_ids", V, S, "null", kDistributed, "What GPUs (by id) should be used for training on this machine as a comma-seperated list"},
      {"same_network", F, S, "false", kDistributed, "Whether all machines used for multinode training exist on the same local network."},
      {"machine_rank", V, I, "null", kDistributed, "The rank of the machine on which this script is launched."},
      {"main_process_ip", V, S, "null", kDistributed, "The IP address of the machine of rank 0."},
      {"main_process_port", V, I, "null", kDistributed, "The port to use to communicate with the machine of rank 0."},
      {"tee", V, S, "\"0\"", kDistributed, "Tee std streams into a log file and also to console.", {}, {"-t"}},
      {"log_dir", V, S, "null", kDistributed, "Base directory to use for log files when using torchrun/torch.distributed.run as launcher."},
      {"role", V, S, "\"default\"", kDistributed, "User-defined role for the workers."},
      {"rdzv_backend", V, S, "\"static\"", kDistributed, "The rendezvous method to use, such as 'static' (the default) or 'c10d'"},
      {"rdzv_conf", V, S, "\"\"", kDistributed, "Additional rendezvous configuration (<key1>=<value1>,<key2>=<value2>,...)."},
      {"max_restarts", V, I, "0", kDistributed, "Maximum number of worker group restarts before failing."},
      {"monitor_interval", V, D, "0.1", kDistributed, "Interval, in seconds, to monitor the state of workers."},
      {"module", F, S, "null", kCore, "Change each process to interpret the launch script as a Python module, executing with the same behavior as 'python -m'.", {}, {"-m"}},
      {"no_python", F, S, "null", kCore, "Skip prepending the training script with 'python' - just execute it directly. Useful when the script is not a Python script."},
      {"tpu_cluster", F, S, "false", kTpu, "Whether to use a GCP TPU pod for training."},
      {"no_tpu_cluster", F, S, "false", kTpu, "Should not be passed explicitly, this is for internal use only.", {}, {}, true},
      {"tpu_use_sudo", F, S, "false", kTpu, "Whether to use `sudo` when running the TPU training script in each pod."},
      {"vm", A, S, "null", kTpu, "List of single Compute VM instance names. If not provided we assume usage of instance groups. For TPU pods."},
      {"env", A, S, "null", kTpu, "List of environment variables to set on the Compute VM instances. For TPU pods."},
      {"main_training_function", V, S, "null", kTpu, "The name of the main function to be executed in your script (only for TPU training)."},
      {"downcast_bf16", F, S, "false", kTpu, "Whether when using bf16 precision on TPUs if both float and double tensors are cast to bfloat16 or if double tensors remain as float32."},
      {"deepspeed_config_file", V, S, "null", kDeepSpeed, "DeepSpeed config file."},
      {"zero_stage", V, I, "null", kDeepSpeed, "DeepSpeed's ZeRO optimization stage (useful only when `use_deepspeed` flag is passed)."},
      {"offload_optimizer_device", V, S, "null", kDeepSpeed, "Decides where (none|cpu|nvme) to offload optimizer states."},
      {"offload_param_device", V, S, "null", kDeepSpeed, "Decides where (none|cpu|nvme) to offload parameters."},
      {"offload_optimizer_nvme_path", V, S, "null", kDeepSpeed, "Decides Nvme Path to offload optimizer states."},
      {"offload_param_nvme_path", V, S, "null", kDeepSpeed, "Decides Nvme Path to offload parameters."},
      {"gradient_accumulation_steps", V, I, "null", kDeepSpeed, "No of gradient_accumulation_steps used in your training script."},
      {"gradient_clipping", V, D, "null", kDeepSpeed, "gradient clipping value used in your training script."},
      {"zero3_init_flag", V, S, "null", kDeepSpeed, "Decides Whether (true|false) to enable `deepspeed.zero.Init` for constructing massive models. Only applicable with DeepSpeed ZeRO Stage-3."},
      {"zero3_save_16bit_model", V, S, "null", kDeepSpeed, "Decides Whether (true|false) to save 16-bit model weights when using ZeRO Stage-3."},
      {"deepspeed_hostfile", V, S, "null", kDeepSpeed, "DeepSpeed hostfile for configuring multi-node compute resources."},
      {"deepspeed_exclusion_filter", V, S, "null", kDeepSpeed, "DeepSpeed exclusion filter string when using mutli-node setup."},
      {"deepspeed_inclusion_filter", V, S, "null", kDeepSpeed, "DeepSpeed inclusion filter string when using mutli-node setup."},
      {"deepspeed_multinode_launcher", V, S, "null", kDeepSpeed, "DeepSpeed multi-node launcher to use, e.g. `pdsh`, `standard`, `openmpi`, `mvapich`, `mpich`, `slurm`, `nossh`."},
      {"deepspeed_moe_layer_cls_names", V, S, "null", kDeepSpeed, "comma-separated list of transformer MoE layer class names (case-sensitive) to wrap, e.g, `MixtralSparseMoeBlock`."},
      {"fsdp_version", V, S, "\"1\"", kFsdp, "FSDP version to use.", {"1", "2"}},
      {"fsdp_offload_params", V, S, "\"false\"", kFsdp, "Decides Whether (true|false) to offload parameters and gradients to CPU."},
      {"fsdp_min_num_params", V, I, "100000000", kFsdp, "FSDP's minimum number of parameters for Default Auto Wrapping."},
      {"fsdp_sharding_strategy", V, S, "\"FULL_SHARD\"", kFsdp, "FSDP's sharding strategy (FSDP1 only)."},
      {"fsdp_reshard_after_forward", V, S, "\"true\"", kFsdp, "FSDP's Reshard After Forward Strategy."},
      {"fsdp_auto_wrap_policy", V, S, "null", kFsdp, "FSDP's auto wrap policy."},
      {"fsdp_transformer_layer_cls_to_wrap", V, S, "null", kFsdp, "Transformer layer class name (case-sensitive) to wrap, e.g, `BertLayer`."},
      {"fsdp_backward_prefetch", V, S, "null", kFsdp, "FSDP's backward prefetch policy."},
      {"fsdp_state_dict_type", V, S, "null", kFsdp, "FSDP's state dict type."},
      {"fsdp_forward_prefetch", V, S, "\"false\"", kFsdp, "If True, then FSDP explicitly prefetches the next upcoming all-gather while executing in the forward pass."},
      {"fsdp_use_orig_params", V, S, "\"true\"", kFsdp, "If True, allows non-uniform `requires_grad` during init."},
      {"fsdp_cpu_ram_efficient_loading", V, S, "\"true\"", kFsdp, "If True, only the first process loads the pretrained model checkoint while all other processes have empty weights."},
      {"fsdp_sync_module_states", V, S, "\"true\"", kFsdp, "If True, each individually wrapped FSDP unit will broadcast module parameters from rank 0."},
      {"fsdp_activation_checkpointing", V, S, "\"false\"", kFsdp, "Decides Whether (true|false) intermediate activations are freed during the forward pass."},
      {"megatron_lm_tp_degree", V, I, "1", kMegatron, "Megatron-LM's Tensor Parallelism (TP) degree."},
      {"megatron_lm_pp_degree", V, I, "1", kMegatron, "Megatron-LM's Pipeline Parallelism (PP) degree."},
      {"megatron_lm_num_micro_batches", V, I, "null", kMegatron, "Megatron-LM's number of micro batches when PP degree > 1."},
      {"megatron_lm_sequence_parallelism", V, S, "null", kMegatron, "Decides Whether (true|false) to enable Sequence Parallelism when TP degree > 1."},
      {"megatron_lm_recompute_activations", V, S, "null", kMegatron, "Decides Whether (true|false) to enable Selective Activation Recomputation."},
      {"megatron_lm_use_distributed_optimizer", V, S, "null", kMegatron, "Decides Whether (true|false) to use distributed optimizer."},
      {"megatron_lm_gradient_clipping", V, D, "1.0", kMegatron, "Megatron-LM's gradient clipping value based on global L2 Norm (0 to disable)."},
      {"megatron_lm_use_custom_fsdp", V, S, "false", kMegatron, "Whether to use custom FSDP (Python bool: any non-empty value is True)."},
      {"megatron_lm_no_load_optim", V, S, "false", kMegatron, "Do not load the optimizer state (Python bool)."},
      {"megatron_lm_eod_mask_loss", V, S, "false", kMegatron, "Mask loss for the end-of-document token (Python bool)."},
      {"megatron_lm_overlap_cpu_optimizer_d2h_h2d", V, S, "false", kMegatron, "Overlap CPU optimizer copies (Python bool)."},
      {"megatron_lm_no_save_optim", V, S, "false", kMegatron, "Do not save the optimizer state (Python bool)."},
      {"megatron_lm_optimizer_cpu_offload", V, S, "false", kMegatron, "Offload the optimizer to CPU (Python bool)."},
      {"megatron_lm_use_precision_aware_optimizer", V, S, "false", kMegatron, "Use the precision-aware optimizer (Python bool)."},
      {"megatron_lm_decoder_last_pipeline_num_layers", V, I, "null", kMegatron, "Number of layers in the last pipeline stage."},
      {"megatron_lm_recompute_granularity", V, S, "null", kMegatron, "Activation recomputation granularity."},
      {"megatron_lm_recompute_method", V, S, "null", kMegatron, "Activation recomputation method."},
      {"megatron_lm_recompute_num_layers", V, I, "null", kMegatron, "Number of layers to recompute."},
      {"megatron_lm_attention_backend", V, S, "null", kMegatron, "Attention backend."},
      {"megatron_lm_expert_model_parallel_size", V, I, "null", kMegatron, "Expert model parallel size."},
      {"megatron_lm_context_parallel_size", V, I, "null", kMegatron, "Context parallel size."},
      {"megatron_lm_attention_dropout", V, D, "null", kMegatron, "Attention dropout."},
      {"megatron_lm_hidden_dropout", V, D, "null", kMegatron, "Hidden dropout."},
      {"megatron_lm_attention_softmax_in_fp32", V, S, "null", kMegatron, "Attention softmax in fp32."},
      {"megatron_lm_expert_tensor_parallel_size", V, I, "null", kMegatron, "Expert tensor parallel size."},
      {"megatron_lm_calculate_per_token_loss", V, S, "null", kMegatron, "Calculate per-token loss."},
      {"megatron_lm_use_rotary_position_embeddings", V, S, "null", kMegatron, "Use rotary position embeddings."},
      {"fp8_backend", V, S, "null", kFp8, "Choose a backend to train with FP8 (te: TransformerEngine, msamp: MS-AMP, ao: torchao)", {"ao", "te", "msamp"}},
      {"fp8_use_autocast_during_eval", F, S, "false", kFp8, "Whether to use FP8 autocast during eval mode (useful only when `--fp8_backend=te` is passed)."},
      {"fp8_margin", V, I, "0", kFp8, "The margin to use for the gradient scaling (useful only when `--fp8_backend=te` is passed)."},
      {"fp8_interval", V, I, "1", kFp8, "The interval to use for how often the scaling factor is recomputed (useful only when `--fp8_backend=te` is passed)."},
      {"fp8_format", V, S, "\"HYBRID\"", kFp8, "The format to use for the FP8 recipe (useful only when `--fp8_backend=te` is passed).", {"HYBRID", "E4M3", "E5M2"}},
      {"fp8_amax_history_len", V, I, "1024", kFp8, "The length of the history to use for the scaling factor computation (useful only when `--fp8_backend=te` is passed)."},
      {"fp8_amax_compute_algo", V, S, "\"most_recent\"", kFp8, "The algorithm to use for the scaling factor computation. (useful only when `--fp8_backend=te` is passed).", {"max", "most_recent"}},
      {"fp8_override_linear_precision", V, S, "null", kFp8, "Whether or not to execute `fprop`, `dgrad`, and `wgrad` GEMMS in higher precision (three comma-separated booleans)."},
      {"fp8_opt_level", V, S, "\"O2\"", kFp8, "What level of 8-bit collective communication should be used with MS-AMP (useful only when `--fp8_backend=msamp` is passed).", {"O1", "O2"}},
      {"fp8_enable_fsdp_float8_all_gather", V, S, "1", kFp8, "Whether to enable FSDP2 float8 all-gather (useful only when `--fp8_backend=ao` is passed)."},
      {"fp8_pad_inner_dim", V, S, "1", kFp8, "Whether to pad the inner dimension for FP8 GEMMs (useful only when `--fp8_backend=ao` is passed)."},
      {"aws_access_key_id", V, S, "null", kAws, "The AWS_ACCESS_KEY_ID used to launch the Amazon SageMaker training job"},
      {"aws_secret_access_key", V, S, "null", kAws, "The AWS_SECRET_ACCESS_KEY used to launch the Amazon SageMaker training job."},
      {"debug", F, S, "null", kCore, "Whether to print out the torch.distributed stack trace when something fails."},
      {"mpirun_hostfile", V, S, "null", kMpirun, "Location for a hostfile for using Accelerate to launch a multi-CPU training job with mpirun."},
      {"parallelism_config_dp_replicate_size", V, I, "1", kParallelism, "The number of processes for data parallel training."},
      {"parallelism_config_dp_shard_size", V, I, "1", kParallelism, "The number of processes for FSDP sharding."},
      {"parallelism_config_tp_size", V, I, "1", kParallelism, "The number of processes for tensor parallel training."},
      {"parallelism_config_cp_size", V, I, "1", kParallelism, "The number of processese for context parallel training."},
      {"parallelism_config_cp_backend", V, S, "\"torch\"", kParallelism, "Context parallelism backend.", {"torch"}},
      {"parallelism_config_cp_comm_strategy", V, S, "\"allgather\"", kParallelism, "The communication strategy for context parallel training."},
      {"parallelism_config_sp_size", V, I, "1", kParallelism, "The number of processes for sequence parallel training."},
      {"parallelism_config_sp_backend", V, S, "\"deepspeed\"", kParallelism, "Sequence parallelism backend.", {"deepspeed"}},
      {"parallelism_config_sp_seq_length", V, S, "null", kParallelism, "Sequence length for sequence parallelism."},
      {"parallelism_config_sp_seq_length_is_variable", V, S, "true", kParallelism, "Whether the sequence length is variable (Python bool)."},
      {"parallelism_config_sp_attn_implementation", V, S, "\"sdpa\"", kParallelism, "Attention implementation for sequence parallelism."},
      // accelctl's own options (torchrun has most of them).
      {"python", V, S, "null", kAccel, "Python interpreter for the workers (default: $PYTHON_EXEC, else python, else python3 on PATH)."},
      {"rdzv_id", V, S, "null", kAccel, "Run id shown to workers as TORCHELASTIC_RUN_ID (default: none)."},
      {"redirects", V, S, "\"0\"", kAccel, "Redirect std streams into log files only (torchrun syntax: 0-3 or rank:value,...)."},
      {"stop_timeout", V, D, "30", kAccel, "Seconds a worker group gets between SIGTERM and SIGKILL when it is stopped."},
      {"restart_backoff", V, D, "0", kAccel, "Seconds to wait before restarting a failed worker group (also rdzv_conf restart_backoff=S)."},
      {"hang_timeout", V, D, "0", kAccel, "Mark a worker that printed nothing for this many seconds as hung (warning, job event, metric); 0: off."},
      {"hang_restart", F, S, "false", kAccel, "With --hang_timeout: fail a hung worker, which restarts the job while --max_restarts allows."},
      {"metrics_port", V, I, "0", kAccel, "Serve Prometheus /metrics and /healthz on 127.0.0.1:PORT while the workers run (0: off)."},
      {"cluster", V, S, "null", kAccel, "Submit to the acceld coordinator at this address (unix:PATH or HOST:PORT; also $ACCEL_CLUSTER) instead of running here."},
      {"nodes", V, S, "null", kAccel, "With --cluster: run on exactly these nodes (comma-separated names)."},
      {"detach", F, S, "false", kAccel, "With --cluster: print the job id and return instead of following the job."},
      {"rank", V, I, "null", kAccel, "With --cluster: show only this rank's output."},
      {"tls_ca", V, S, "null", kAccel, "With --cluster: the cluster CA, for TLS to a TCP coordinator (default $ACCEL_TLS_CA)."},
      {"tls_cert", V, S, "null", kAccel, "With --cluster: client certificate (default $ACCEL_TLS_CERT)."},
      {"tls_key", V, S, "null", kAccel, "With --cluster: its private key (default $ACCEL_TLS_KEY)."},
      {"token_file", V, S, "null", kAccel, "With --cluster: file holding a bearer token (default $ACCEL_TOKEN_FILE)."},
  };
}

std::vector<LaunchOption> BuildTable() {
  std::vector<LaunchOption> table;
  for (Row& row : Rows()) {
    ArgSpec spec;
    spec.name = row.name;
    spec.kind = row.kind;
    spec.type = row.type;
    spec.choices = std::move(row.choices);
    spec.short_names = std::move(row.short_names);
    spec.help = row.help;
    spec.group = row.group;
    spec.hidden = row.hidden;
    table.push_back({std::move(spec), ConfigValue::parse(row.default_json)});
  }
  return table;
}

ConfigValue TypedValue(const ArgSpec& spec, const std::string& text) {
  // The parser has already checked ints and floats.
  switch (spec.type) {
    case ArgType::kInt:
      return ConfigValue(ParseInt64(text).value_or(0));
    case ArgType::kFloat:
      return ConfigValue(ParseDouble(text).value_or(0));
    case ArgType::kString:
      break;
  }
  return ConfigValue(text);
}

absl::StatusOr<ConfigValue> ParseMachineCount(const std::string& text, ConfigValue& ns) {
  const size_t colon = text.find(':');
  const auto max = ParseInt64(colon == std::string::npos ? text : text.substr(colon + 1));
  const auto min = colon == std::string::npos ? max : ParseInt64(text.substr(0, colon));
  if (!min || !max || *min < 1 || *max < *min) {
    return absl::InvalidArgumentError(StrCat("accelctl launch: error: argument --num_machines: invalid value '", text,
                                             "' (expected N or MIN:MAX with 1 <= MIN <= MAX)"));
  }
  if (colon != std::string::npos) ns["min_machines"] = *min;
  return ConfigValue(*max);
}

}  // namespace

const std::vector<LaunchOption>& LaunchOptionTable() {
  static const auto* table = new std::vector<LaunchOption>(BuildTable());
  return *table;
}

ArgParser MakeLaunchParser(std::string prog) {
  ArgParser parser(std::move(prog), "Launch a Python script (or any program) on one or several processes and machines.");
  for (const LaunchOption& option : LaunchOptionTable()) parser.Add(option.spec);
  parser.AddPositional({"training_script",
                        "The full path to the script to be launched in parallel, followed by all the arguments for the "
                        "training script."});
  parser.SetRemainderAfterLastPositional(true);
  parser.SetAllowAbbreviations(false);
  return parser;
}

const ConfigValue& LaunchArgs::Get(const std::string& name) const {
  static const auto* null_value = new ConfigValue(nullptr);
  auto it = ns.find(name);
  return it == ns.end() ? *null_value : *it;
}

bool LaunchArgs::Truthy(const std::string& name) const { return PythonTruthy(Get(name)); }

absl::StatusOr<LaunchArgs> ParseLaunchArgs(const ArgParser& parser, std::span<const std::string> args) {
  ASSIGN_OR_RETURN(ParsedArgs parsed, parser.Parse(args));
  LaunchArgs launch;
  launch.given = parsed.given;
  for (const LaunchOption& option : LaunchOptionTable()) {
    const std::string& name = option.spec.name;
    ConfigValue value = option.default_value;
    switch (option.spec.kind) {
      case ArgKind::kFlag:
        if (parsed.Flag(name)) value = true;
        break;
      case ArgKind::kValue:
        if (auto text = parsed.Value(name)) {
          if (name == "num_machines") {
            // N, or MIN:MAX for an elastic cluster job: held as MAX, with MIN in "min_machines".
            ASSIGN_OR_RETURN(value, ParseMachineCount(*text, launch.ns));
          } else {
            value = TypedValue(option.spec, *text);
          }
        }
        break;
      case ArgKind::kAppend:
      case ArgKind::kAppendMany:
        if (auto it = parsed.lists.find(name); it != parsed.lists.end()) value = it->second;
        break;
    }
    launch.ns[name] = std::move(value);
  }
  if (!parsed.positionals.empty()) launch.training_script = parsed.positionals.front();
  launch.training_script_args = std::move(parsed.remainder);
  return launch;
}

}  // namespace accel::common
