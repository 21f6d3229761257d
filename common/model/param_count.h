// Parameter counts: from a checkpoint's tensor names, or by formula from a transformers config.json.
//
// "Largest layer". accelerate builds the model and walks its modules: a layer is a module with no
// children, or one whose class is in `_no_split_modules` (a decoder block), and the largest layer is the
// biggest such module. Without the Python classes we group tensor names instead:
//   - a name with a purely numeric component belongs to the layer named by its prefix up to and
//     including the first such component: `model.layers.3.self_attn.q_proj.weight` -> `model.layers.3`,
//     `h.11.mlp.c_fc.bias` -> `h.11`, `encoder.block.0.layer.1.DenseReluDense.wi.weight` -> `encoder.block.0`
//     (one decoder / encoder block, which is what `_no_split_modules` names in every common model);
//   - any other name belongs to its module, the name minus its last component:
//     `model.embed_tokens.weight` -> `model.embed_tokens`, `lm_head.weight` -> `lm_head`;
//   - a name with a single component (a parameter held directly by the top-level model) is its own layer.
// The largest layer is the group with the most bytes (ties: the first in name order).
//
// Bytes are those of the model accelerate builds, in float32: 4 per element of a floating tensor
// whatever the checkpoint stores, and an integer or bool tensor's own width (an int64 buffer stays 8).
//
// Config formulas count the model that the architecture's checkpoints hold: the `*ForCausalLM` class for
// decoder LMs (llama, mistral, qwen2, gemma, gpt2, gpt_neox: lm_head counted unless tie_word_embeddings),
// `BertModel` with its pooler for bert, `T5ForConditionalGeneration` for t5. Missing keys take the
// transformers config class defaults (save_pretrained omits keys equal to those). Buffers (rotary
// frequencies, causal masks, position ids) are not parameters and are not counted.
//
// Pure functions; thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace accel::common {

/// One parameter tensor by name and element count.
struct NamedTensorSize {
  std::string name;
  uint64_t elements = 0;
  uint32_t built_bytes_per_element = 4;  // see the file comment: 4 for floating tensors
};

/// Bytes per element, in the model accelerate builds, of a tensor stored as safetensors `dtype`
/// (see the file comment); nullopt when the dtype is unknown.
std::optional<uint32_t> BuiltBytesPerElement(std::string_view safetensors_dtype);

/// The layer a tensor belongs to, by the rule in the file comment.
std::string_view LayerOfTensor(std::string_view tensor_name);

struct ParameterSummary {
  uint64_t total_elements = 0;
  uint64_t total_bytes = 0;   // built in float32, see the file comment
  std::string largest_layer;  // empty when there are no tensors
  uint64_t largest_layer_elements = 0;
  uint64_t largest_layer_bytes = 0;
  size_t tensor_count = 0;
  size_t layer_count = 0;
};

/// Totals and the largest layer. InvalidArgument if the total overflows 64 bits.
absl::StatusOr<ParameterSummary> SummarizeParameters(std::span<const NamedTensorSize> tensors);

/// model_type values ParametersFromConfig knows.
std::span<const std::string_view> SupportedConfigModelTypes();

/// The parameters of the model that config.json (`config_json`, its text) describes, one entry per
/// tensor with the names transformers gives them. InvalidArgument for bad JSON, a missing or
/// unsupported model_type, or a size field that is not a positive integer (message names the key).
absl::StatusOr<std::vector<NamedTensorSize>> ParametersFromConfig(std::string_view config_json);

}  // namespace accel::common
