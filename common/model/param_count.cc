#include "common/model/param_count.h"

#include <algorithm>
#include <map>
#include <optional>

#include "common/model/safetensors.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "nlohmann/json.hpp"

namespace accel::common {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kSupportedModelTypes[] = {"bert",  "gemma",   "gpt2", "gpt_neox",
                                                     "llama", "mistral", "qwen2", "t5"};

bool IsAllDigits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Size keys are bounded so that a typo like "hidden_size": 1e12 is an error, not a silly table; the
// tensor products are overflow-checked separately.
// 2^31 keeps the product of any two sizes (heads x head_dim) inside 64 bits before the checked
// tensor products.
constexpr uint64_t kMaxDimension = uint64_t{1} << 31;
constexpr uint64_t kMaxLayers = 10'000;

// A config value for an error line: short, whatever the file holds.
std::string Shown(const Json& value) {
  std::string text = value.dump();
  if (text.size() > 40) text = text.substr(0, 40) + "...";
  return text;
}

// Typed access to config.json keys, with the config class default when a key is absent or null.
class ConfigReader {
 public:
  explicit ConfigReader(const Json& root) : root_(root) {}

  absl::StatusOr<uint64_t> Size(const char* key, std::optional<uint64_t> fallback,
                                uint64_t max = kMaxDimension) const {
    const auto it = root_.find(key);
    if (it == root_.end() || it->is_null()) {
      if (fallback) return *fallback;
      return absl::InvalidArgumentError(StrCat("config.json has no '", key, "'"));
    }
    if (!it->is_number_unsigned() || it->get<uint64_t>() == 0 || it->get<uint64_t>() > max) {
      return absl::InvalidArgumentError(
          StrCat("config.json: '", key, "' is ", Shown(*it), ", expected an integer from 1 to ", max));
    }
    return it->get<uint64_t>();
  }

  absl::StatusOr<bool> Bool(const char* key, bool fallback) const {
    const auto it = root_.find(key);
    if (it == root_.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) {
      return absl::InvalidArgumentError(StrCat("config.json: '", key, "' is ", Shown(*it), ", expected true or false"));
    }
    return it->get<bool>();
  }

  absl::StatusOr<std::string> String(const char* key, std::string fallback) const {
    const auto it = root_.find(key);
    if (it == root_.end() || it->is_null()) return fallback;
    if (!it->is_string()) {
      return absl::InvalidArgumentError(StrCat("config.json: '", key, "' is ", Shown(*it), ", expected a string"));
    }
    return it->get<std::string>();
  }

 private:
  const Json& root_;
};

// Collects tensors; products and the running total are overflow-checked, reported at the end.
class TensorList {
 public:
  void Add(std::string name, uint64_t rows, uint64_t columns = 1) {
    uint64_t elements = 0;
    if (__builtin_mul_overflow(rows, columns, &elements) || __builtin_add_overflow(total_, elements, &total_)) {
      overflow_ = true;
    }
    tensors_.push_back({std::move(name), elements});
  }
  // A Linear layer: weight [out, in] and, when `bias`, bias [out].
  void Linear(const std::string& prefix, uint64_t in, uint64_t out, bool bias) {
    Add(prefix + ".weight", out, in);
    if (bias) Add(prefix + ".bias", out);
  }
  void LayerNorm(const std::string& prefix, uint64_t size, bool bias) {
    Add(prefix + ".weight", size);
    if (bias) Add(prefix + ".bias", size);
  }

  absl::StatusOr<std::vector<NamedTensorSize>> Finish() && {
    if (overflow_) return absl::InvalidArgumentError("config.json sizes overflow a 64-bit parameter count");
    return std::move(tensors_);
  }

 private:
  std::vector<NamedTensorSize> tensors_;
  uint64_t total_ = 0;
  bool overflow_ = false;
};

// Defaults of the llama-style config classes (LlamaConfig, MistralConfig, Qwen2Config, GemmaConfig).
struct LlamaStyle {
  uint64_t vocab_size;
  uint64_t hidden_size;
  uint64_t intermediate_size;
  uint64_t num_hidden_layers;
  uint64_t num_attention_heads;
  std::optional<uint64_t> num_key_value_heads;  // nullopt: = num_attention_heads
  std::optional<uint64_t> head_dim;             // nullopt: hidden_size / num_attention_heads
  bool tie_word_embeddings;
  bool qkv_bias_always;        // Qwen2: q/k/v always carry a bias, o_proj never
  bool reads_attention_bias;   // llama, gemma: attention_bias puts a bias on q/k/v/o
  bool reads_mlp_bias;         // llama: mlp_bias puts a bias on gate/up/down
};

absl::StatusOr<std::vector<NamedTensorSize>> LlamaStyleParameters(const ConfigReader& config,
                                                                   const LlamaStyle& defaults) {
  ASSIGN_OR_RETURN(const uint64_t vocab, config.Size("vocab_size", defaults.vocab_size));
  ASSIGN_OR_RETURN(const uint64_t hidden, config.Size("hidden_size", defaults.hidden_size));
  ASSIGN_OR_RETURN(const uint64_t intermediate, config.Size("intermediate_size", defaults.intermediate_size));
  ASSIGN_OR_RETURN(const uint64_t layers, config.Size("num_hidden_layers", defaults.num_hidden_layers, kMaxLayers));
  ASSIGN_OR_RETURN(const uint64_t heads, config.Size("num_attention_heads", defaults.num_attention_heads));
  ASSIGN_OR_RETURN(const uint64_t kv_heads,
                   config.Size("num_key_value_heads", defaults.num_key_value_heads.value_or(heads)));
  if (heads % kv_heads != 0) {
    return absl::InvalidArgumentError(StrCat("config.json: num_attention_heads ", heads,
                                             " is not a multiple of num_key_value_heads ", kv_heads));
  }
  std::optional<uint64_t> head_dim_default = defaults.head_dim;
  if (!head_dim_default) {
    if (hidden % heads != 0) {
      return absl::InvalidArgumentError(StrCat("config.json: hidden_size ", hidden,
                                               " is not a multiple of num_attention_heads ", heads));
    }
    head_dim_default = hidden / heads;
  }
  ASSIGN_OR_RETURN(const uint64_t head_dim, config.Size("head_dim", head_dim_default));
  ASSIGN_OR_RETURN(const bool tie, config.Bool("tie_word_embeddings", defaults.tie_word_embeddings));
  bool attention_bias = false;
  if (defaults.reads_attention_bias) {
    ASSIGN_OR_RETURN(attention_bias, config.Bool("attention_bias", false));
  }
  bool mlp_bias = false;
  if (defaults.reads_mlp_bias) {
    ASSIGN_OR_RETURN(mlp_bias, config.Bool("mlp_bias", false));
  }
  const bool qkv_bias = defaults.qkv_bias_always || attention_bias;

  TensorList list;
  list.Add("model.embed_tokens.weight", vocab, hidden);
  for (uint64_t i = 0; i < layers; ++i) {
    const std::string layer = StrCat("model.layers.", i);
    list.Linear(layer + ".self_attn.q_proj", hidden, heads * head_dim, qkv_bias);
    list.Linear(layer + ".self_attn.k_proj", hidden, kv_heads * head_dim, qkv_bias);
    list.Linear(layer + ".self_attn.v_proj", hidden, kv_heads * head_dim, qkv_bias);
    list.Linear(layer + ".self_attn.o_proj", heads * head_dim, hidden, attention_bias);
    list.Linear(layer + ".mlp.gate_proj", hidden, intermediate, mlp_bias);
    list.Linear(layer + ".mlp.up_proj", hidden, intermediate, mlp_bias);
    list.Linear(layer + ".mlp.down_proj", intermediate, hidden, mlp_bias);
    list.LayerNorm(layer + ".input_layernorm", hidden, /*bias=*/false);  // RMSNorm: weight only
    list.LayerNorm(layer + ".post_attention_layernorm", hidden, /*bias=*/false);
  }
  list.LayerNorm("model.norm", hidden, /*bias=*/false);
  if (!tie) list.Add("lm_head.weight", vocab, hidden);
  return std::move(list).Finish();
}

// GPT2LMHeadModel (GPT2Config defaults). Conv1D weights are [in, out]; the count is the same.
absl::StatusOr<std::vector<NamedTensorSize>> Gpt2Parameters(const ConfigReader& config) {
  ASSIGN_OR_RETURN(const uint64_t vocab, config.Size("vocab_size", 50257));
  ASSIGN_OR_RETURN(const uint64_t positions, config.Size("n_positions", 1024));
  ASSIGN_OR_RETURN(const uint64_t hidden, config.Size("n_embd", 768));
  ASSIGN_OR_RETURN(const uint64_t layers, config.Size("n_layer", 12, kMaxLayers));
  ASSIGN_OR_RETURN(const uint64_t inner, config.Size("n_inner", 4 * hidden));
  ASSIGN_OR_RETURN(const bool tie, config.Bool("tie_word_embeddings", true));
  ASSIGN_OR_RETURN(const bool cross_attention, config.Bool("add_cross_attention", false));

  TensorList list;
  list.Add("transformer.wte.weight", vocab, hidden);
  list.Add("transformer.wpe.weight", positions, hidden);
  for (uint64_t i = 0; i < layers; ++i) {
    const std::string layer = StrCat("transformer.h.", i);
    list.LayerNorm(layer + ".ln_1", hidden, true);
    list.Linear(layer + ".attn.c_attn", hidden, 3 * hidden, true);
    list.Linear(layer + ".attn.c_proj", hidden, hidden, true);
    if (cross_attention) {
      list.Linear(layer + ".crossattention.c_attn", hidden, 2 * hidden, true);
      list.Linear(layer + ".crossattention.q_attn", hidden, hidden, true);
      list.Linear(layer + ".crossattention.c_proj", hidden, hidden, true);
      list.LayerNorm(layer + ".ln_cross_attn", hidden, true);
    }
    list.LayerNorm(layer + ".ln_2", hidden, true);
    list.Linear(layer + ".mlp.c_fc", hidden, inner, true);
    list.Linear(layer + ".mlp.c_proj", inner, hidden, true);
  }
  list.LayerNorm("transformer.ln_f", hidden, true);
  if (!tie) list.Add("lm_head.weight", vocab, hidden);
  return std::move(list).Finish();
}

// GPTNeoXForCausalLM (GPTNeoXConfig defaults).
absl::StatusOr<std::vector<NamedTensorSize>> GptNeoXParameters(const ConfigReader& config) {
  ASSIGN_OR_RETURN(const uint64_t vocab, config.Size("vocab_size", 50432));
  ASSIGN_OR_RETURN(const uint64_t hidden, config.Size("hidden_size", 6144));
  ASSIGN_OR_RETURN(const uint64_t layers, config.Size("num_hidden_layers", 44, kMaxLayers));
  ASSIGN_OR_RETURN(const uint64_t intermediate, config.Size("intermediate_size", 24576));
  ASSIGN_OR_RETURN(const bool tie, config.Bool("tie_word_embeddings", false));
  ASSIGN_OR_RETURN(const bool bias, config.Bool("attention_bias", true));

  TensorList list;
  list.Add("gpt_neox.embed_in.weight", vocab, hidden);
  for (uint64_t i = 0; i < layers; ++i) {
    const std::string layer = StrCat("gpt_neox.layers.", i);
    list.LayerNorm(layer + ".input_layernorm", hidden, true);
    list.LayerNorm(layer + ".post_attention_layernorm", hidden, true);
    list.Linear(layer + ".attention.query_key_value", hidden, 3 * hidden, bias);
    list.Linear(layer + ".attention.dense", hidden, hidden, bias);
    list.Linear(layer + ".mlp.dense_h_to_4h", hidden, intermediate, true);
    list.Linear(layer + ".mlp.dense_4h_to_h", intermediate, hidden, true);
  }
  list.LayerNorm("gpt_neox.final_layer_norm", hidden, true);
  if (!tie) list.Add("embed_out.weight", vocab, hidden);
  return std::move(list).Finish();
}

// BertModel with its pooler (BertConfig defaults).
absl::StatusOr<std::vector<NamedTensorSize>> BertParameters(const ConfigReader& config) {
  ASSIGN_OR_RETURN(const uint64_t vocab, config.Size("vocab_size", 30522));
  ASSIGN_OR_RETURN(const uint64_t hidden, config.Size("hidden_size", 768));
  ASSIGN_OR_RETURN(const uint64_t layers, config.Size("num_hidden_layers", 12, kMaxLayers));
  ASSIGN_OR_RETURN(const uint64_t intermediate, config.Size("intermediate_size", 3072));
  ASSIGN_OR_RETURN(const uint64_t positions, config.Size("max_position_embeddings", 512));
  ASSIGN_OR_RETURN(const uint64_t token_types, config.Size("type_vocab_size", 2));

  TensorList list;
  list.Add("embeddings.word_embeddings.weight", vocab, hidden);
  list.Add("embeddings.position_embeddings.weight", positions, hidden);
  list.Add("embeddings.token_type_embeddings.weight", token_types, hidden);
  list.LayerNorm("embeddings.LayerNorm", hidden, true);
  for (uint64_t i = 0; i < layers; ++i) {
    const std::string layer = StrCat("encoder.layer.", i);
    list.Linear(layer + ".attention.self.query", hidden, hidden, true);
    list.Linear(layer + ".attention.self.key", hidden, hidden, true);
    list.Linear(layer + ".attention.self.value", hidden, hidden, true);
    list.Linear(layer + ".attention.output.dense", hidden, hidden, true);
    list.LayerNorm(layer + ".attention.output.LayerNorm", hidden, true);
    list.Linear(layer + ".intermediate.dense", hidden, intermediate, true);
    list.Linear(layer + ".output.dense", intermediate, hidden, true);
    list.LayerNorm(layer + ".output.LayerNorm", hidden, true);
  }
  list.Linear("pooler.dense", hidden, hidden, true);
  return std::move(list).Finish();
}

// T5ForConditionalGeneration (T5Config defaults). No biases; T5LayerNorm has a weight only; the
// relative position bias lives in block 0 of each stack; encoder/decoder embed_tokens are `shared`.
absl::StatusOr<std::vector<NamedTensorSize>> T5Parameters(const ConfigReader& config) {
  ASSIGN_OR_RETURN(const uint64_t vocab, config.Size("vocab_size", 32128));
  ASSIGN_OR_RETURN(const uint64_t d_model, config.Size("d_model", 512));
  ASSIGN_OR_RETURN(const uint64_t d_kv, config.Size("d_kv", 64));
  ASSIGN_OR_RETURN(const uint64_t d_ff, config.Size("d_ff", 2048));
  ASSIGN_OR_RETURN(const uint64_t encoder_layers, config.Size("num_layers", 6, kMaxLayers));
  ASSIGN_OR_RETURN(const uint64_t decoder_layers, config.Size("num_decoder_layers", encoder_layers, kMaxLayers));
  ASSIGN_OR_RETURN(const uint64_t heads, config.Size("num_heads", 8));
  ASSIGN_OR_RETURN(const uint64_t buckets, config.Size("relative_attention_num_buckets", 32));
  ASSIGN_OR_RETURN(const bool tie, config.Bool("tie_word_embeddings", true));
  ASSIGN_OR_RETURN(const std::string feed_forward, config.String("feed_forward_proj", "relu"));
  const std::vector<std::string_view> act = StrSplit(feed_forward, '-');
  if (act.size() > 2 || (act.size() == 2 && act[0] != "gated")) {
    return absl::InvalidArgumentError(StrCat("config.json: feed_forward_proj '", feed_forward,
                                             "' is not of the form ACT or gated-ACT"));
  }
  const bool gated = act.size() == 2;
  const uint64_t inner = heads * d_kv;

  TensorList list;
  list.Add("shared.weight", vocab, d_model);
  auto attention = [&](const std::string& prefix, bool relative_bias) {
    for (const char* projection : {".q", ".k", ".v"}) list.Linear(prefix + projection, d_model, inner, false);
    list.Linear(prefix + ".o", inner, d_model, false);
    if (relative_bias) list.Add(prefix + ".relative_attention_bias.weight", buckets, heads);
  };
  auto feed_forward_block = [&](const std::string& prefix) {
    if (gated) {
      list.Linear(prefix + ".DenseReluDense.wi_0", d_model, d_ff, false);
      list.Linear(prefix + ".DenseReluDense.wi_1", d_model, d_ff, false);
    } else {
      list.Linear(prefix + ".DenseReluDense.wi", d_model, d_ff, false);
    }
    list.Linear(prefix + ".DenseReluDense.wo", d_ff, d_model, false);
    list.LayerNorm(prefix + ".layer_norm", d_model, false);
  };
  for (uint64_t i = 0; i < encoder_layers; ++i) {
    const std::string block = StrCat("encoder.block.", i);
    attention(block + ".layer.0.SelfAttention", i == 0);
    list.LayerNorm(block + ".layer.0.layer_norm", d_model, false);
    feed_forward_block(block + ".layer.1");
  }
  list.LayerNorm("encoder.final_layer_norm", d_model, false);
  for (uint64_t i = 0; i < decoder_layers; ++i) {
    const std::string block = StrCat("decoder.block.", i);
    attention(block + ".layer.0.SelfAttention", i == 0);
    list.LayerNorm(block + ".layer.0.layer_norm", d_model, false);
    attention(block + ".layer.1.EncDecAttention", false);
    list.LayerNorm(block + ".layer.1.layer_norm", d_model, false);
    feed_forward_block(block + ".layer.2");
  }
  list.LayerNorm("decoder.final_layer_norm", d_model, false);
  if (!tie) list.Add("lm_head.weight", vocab, d_model);
  return std::move(list).Finish();
}

}  // namespace

std::string_view LayerOfTensor(std::string_view tensor_name) {
  size_t start = 0;
  while (true) {
    const size_t dot = tensor_name.find('.', start);
    const std::string_view part =
        tensor_name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (IsAllDigits(part)) return tensor_name.substr(0, start + part.size());
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  const size_t last_dot = tensor_name.rfind('.');
  if (last_dot == std::string_view::npos) return tensor_name;
  return tensor_name.substr(0, last_dot);
}

std::optional<uint32_t> BuiltBytesPerElement(std::string_view safetensors_dtype) {
  const std::optional<int> bits = SafetensorsDtypeBits(safetensors_dtype);
  if (!bits) return std::nullopt;
  const bool floating = safetensors_dtype.starts_with('F') || safetensors_dtype == "BF16";
  if (floating) return 4;
  return static_cast<uint32_t>(std::max(*bits / 8, 1));
}

absl::StatusOr<ParameterSummary> SummarizeParameters(std::span<const NamedTensorSize> tensors) {
  ParameterSummary summary;
  struct LayerSize {
    uint64_t elements = 0;
    uint64_t bytes = 0;
  };
  std::map<std::string_view, LayerSize> layers;
  for (const NamedTensorSize& tensor : tensors) {
    uint64_t bytes = 0;
    if (__builtin_add_overflow(summary.total_elements, tensor.elements, &summary.total_elements) ||
        __builtin_mul_overflow(tensor.elements, uint64_t{tensor.built_bytes_per_element}, &bytes) ||
        __builtin_add_overflow(summary.total_bytes, bytes, &summary.total_bytes)) {
      return absl::InvalidArgumentError("the parameter count overflows 64 bits");
    }
    // Cannot overflow: a layer's sums are at most the totals, checked above.
    LayerSize& layer = layers[LayerOfTensor(tensor.name)];
    layer.elements += tensor.elements;
    layer.bytes += bytes;
  }
  summary.tensor_count = tensors.size();
  summary.layer_count = layers.size();
  for (const auto& [name, size] : layers) {
    if (summary.largest_layer.empty() || size.bytes > summary.largest_layer_bytes) {
      summary.largest_layer = std::string(name);
      summary.largest_layer_elements = size.elements;
      summary.largest_layer_bytes = size.bytes;
    }
  }
  return summary;
}

std::span<const std::string_view> SupportedConfigModelTypes() { return kSupportedModelTypes; }

absl::StatusOr<std::vector<NamedTensorSize>> ParametersFromConfig(std::string_view config_json) {
  const Json root = Json::parse(config_json.begin(), config_json.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return absl::InvalidArgumentError("config.json is not valid JSON");
  if (!root.is_object()) return absl::InvalidArgumentError("config.json is not a JSON object");
  const auto model_type = root.find("model_type");
  if (model_type == root.end() || !model_type->is_string()) {
    return absl::InvalidArgumentError(
        StrCat("config.json has no 'model_type'; a config-only estimate needs one of: ",
               StrJoin(kSupportedModelTypes, ", ")));
  }
  const std::string type = model_type->get<std::string>();
  const ConfigReader config(root);
  if (type == "llama") {
    return LlamaStyleParameters(config, {.vocab_size = 32000, .hidden_size = 4096, .intermediate_size = 11008,
                                         .num_hidden_layers = 32, .num_attention_heads = 32,
                                         .num_key_value_heads = std::nullopt, .head_dim = std::nullopt,
                                         .tie_word_embeddings = false, .qkv_bias_always = false,
                                         .reads_attention_bias = true, .reads_mlp_bias = true});
  }
  if (type == "mistral") {
    return LlamaStyleParameters(config, {.vocab_size = 32000, .hidden_size = 4096, .intermediate_size = 14336,
                                         .num_hidden_layers = 32, .num_attention_heads = 32,
                                         .num_key_value_heads = 8, .head_dim = std::nullopt,
                                         .tie_word_embeddings = false, .qkv_bias_always = false,
                                         .reads_attention_bias = false, .reads_mlp_bias = false});
  }
  if (type == "qwen2") {
    return LlamaStyleParameters(config, {.vocab_size = 151936, .hidden_size = 4096, .intermediate_size = 22016,
                                         .num_hidden_layers = 32, .num_attention_heads = 32,
                                         .num_key_value_heads = 32, .head_dim = std::nullopt,
                                         .tie_word_embeddings = false, .qkv_bias_always = true,
                                         .reads_attention_bias = false, .reads_mlp_bias = false});
  }
  if (type == "gemma") {
    return LlamaStyleParameters(config, {.vocab_size = 256000, .hidden_size = 3072, .intermediate_size = 24576,
                                         .num_hidden_layers = 28, .num_attention_heads = 16,
                                         .num_key_value_heads = 16, .head_dim = 256,
                                         .tie_word_embeddings = true, .qkv_bias_always = false,
                                         .reads_attention_bias = true, .reads_mlp_bias = false});
  }
  if (type == "gpt2") return Gpt2Parameters(config);
  if (type == "gpt_neox") return GptNeoXParameters(config);
  if (type == "bert") return BertParameters(config);
  if (type == "t5") return T5Parameters(config);
  return absl::InvalidArgumentError(StrCat("config.json: model_type '", type,
                                           "' has no parameter formula here (supported: ",
                                           StrJoin(kSupportedModelTypes, ", "),
                                           "); download the model's .safetensors files for an exact count"));
}

}  // namespace accel::common
