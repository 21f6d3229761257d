// Parameter counts: the layer-grouping rule, and the config.json formulas checked against the published
// parameter counts of real checkpoints (config files as published on the Hub, trimmed of keys that do
// not affect sizes where noted).
#include "common/model/param_count.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace accel::common {
namespace {

using ::testing::HasSubstr;

TEST(LayerOfTensorTest, NumericComponentEndsTheLayer) {
  EXPECT_EQ(LayerOfTensor("model.layers.3.self_attn.q_proj.weight"), "model.layers.3");
  EXPECT_EQ(LayerOfTensor("model.layers.31.mlp.down_proj.weight"), "model.layers.31");
  EXPECT_EQ(LayerOfTensor("h.11.mlp.c_fc.bias"), "h.11");
  EXPECT_EQ(LayerOfTensor("encoder.block.0.layer.1.DenseReluDense.wi.weight"), "encoder.block.0");
  EXPECT_EQ(LayerOfTensor("bert.encoder.layer.7.output.dense.weight"), "bert.encoder.layer.7");
  EXPECT_EQ(LayerOfTensor("0.weight"), "0");  // nn.Sequential at the top
}

TEST(LayerOfTensorTest, OtherwiseTheModule) {
  EXPECT_EQ(LayerOfTensor("model.embed_tokens.weight"), "model.embed_tokens");
  EXPECT_EQ(LayerOfTensor("lm_head.weight"), "lm_head");
  EXPECT_EQ(LayerOfTensor("model.norm.weight"), "model.norm");
  EXPECT_EQ(LayerOfTensor("layers2.x3.weight"), "layers2.x3");  // digits inside a name are not an index
  EXPECT_EQ(LayerOfTensor("logit_scale"), "logit_scale");       // a top-level parameter is its own layer
  EXPECT_EQ(LayerOfTensor(""), "");
}

TEST(SummarizeParametersTest, TotalsAndLargestLayer) {
  const std::vector<NamedTensorSize> tensors = {
      {"model.embed_tokens.weight", 1000}, {"model.layers.0.a.weight", 400}, {"model.layers.0.b.weight", 700},
      {"model.layers.1.a.weight", 400},    {"model.layers.1.b.weight", 600}, {"lm_head.weight", 1000},
      {"model.norm.weight", 10}};
  auto summary = SummarizeParameters(tensors);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->total_elements, 4110u);
  EXPECT_EQ(summary->tensor_count, 7u);
  EXPECT_EQ(summary->layer_count, 5u);  // embed_tokens, layers.0, layers.1, lm_head, norm
  EXPECT_EQ(summary->largest_layer, "model.layers.0");
  EXPECT_EQ(summary->largest_layer_elements, 1100u);
  EXPECT_EQ(summary->total_bytes, 4 * 4110u);
  EXPECT_EQ(summary->largest_layer_bytes, 4 * 1100u);
}

TEST(SummarizeParametersTest, TiesGoToTheFirstNameAndOverflowIsAnError) {
  auto tie = SummarizeParameters(std::vector<NamedTensorSize>{{"lm_head.weight", 5}, {"embed.weight", 5}});
  ASSERT_TRUE(tie.ok());
  EXPECT_EQ(tie->largest_layer, "embed");
  auto empty = SummarizeParameters({});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->total_elements, 0u);
  EXPECT_EQ(empty->largest_layer, "");
  auto overflow = SummarizeParameters(std::vector<NamedTensorSize>{{"a", ~uint64_t{0}}, {"b", 1}});
  EXPECT_THAT(std::string(overflow.status().message()), HasSubstr("overflows"));
  auto bytes_overflow = SummarizeParameters(std::vector<NamedTensorSize>{{"a", ~uint64_t{0} / 2, 8}});
  EXPECT_THAT(std::string(bytes_overflow.status().message()), HasSubstr("overflows"));
}

TEST(SummarizeParametersTest, IntegerTensorsKeepTheirWidthFloatsAreBuiltInFloat32) {
  ASSERT_EQ(BuiltBytesPerElement("BF16"), 4u);
  ASSERT_EQ(BuiltBytesPerElement("F64"), 4u);
  ASSERT_EQ(BuiltBytesPerElement("F8_E4M3"), 4u);
  ASSERT_EQ(BuiltBytesPerElement("I64"), 8u);
  ASSERT_EQ(BuiltBytesPerElement("I32"), 4u);
  ASSERT_EQ(BuiltBytesPerElement("BOOL"), 1u);
  ASSERT_EQ(BuiltBytesPerElement("U8"), 1u);
  EXPECT_FALSE(BuiltBytesPerElement("Q7").has_value());
  // 100 int64 position ids outweigh 150 floats: the largest layer is chosen by bytes.
  auto summary = SummarizeParameters(std::vector<NamedTensorSize>{
      {"embeddings.position_ids", 100, 8}, {"encoder.weight", 150, 4}});
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->total_elements, 250u);
  EXPECT_EQ(summary->total_bytes, 1400u);
  EXPECT_EQ(summary->largest_layer, "embeddings");
  EXPECT_EQ(summary->largest_layer_bytes, 800u);
}

struct Counted {
  uint64_t total = 0;
  std::string largest_layer;
  uint64_t largest_layer_elements = 0;
};

Counted Count(const std::string& config) {
  auto tensors = ParametersFromConfig(config);
  EXPECT_TRUE(tensors.ok()) << tensors.status();
  if (!tensors.ok()) return {};
  auto summary = SummarizeParameters(*tensors);
  EXPECT_TRUE(summary.ok());
  return {summary->total_elements, summary->largest_layer, summary->largest_layer_elements};
}

std::string ErrorFor(const std::string& config) {
  auto tensors = ParametersFromConfig(config);
  EXPECT_FALSE(tensors.ok()) << config;
  return std::string(tensors.status().message());
}

// openai-community/gpt2: 124,439,808 parameters (GPT2LMHeadModel, lm_head tied to wte).
TEST(ParametersFromConfigTest, Gpt2Small) {
  const Counted counted = Count(R"({
    "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
    "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02,
    "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768, "n_head": 12,
    "n_layer": 12, "n_positions": 1024, "resid_pdrop": 0.1, "summary_activation": null,
    "summary_first_dropout": 0.1, "summary_proj_to_labels": true, "summary_type": "cls_index",
    "summary_use_proj": true, "task_specific_params": {"text-generation": {"do_sample": true, "max_length": 50}},
    "vocab_size": 50257})");
  EXPECT_EQ(counted.total, 124'439'808u);
  EXPECT_EQ(counted.largest_layer, "transformer.wte");
  EXPECT_EQ(counted.largest_layer_elements, 50257u * 768);
  // GPT2Config's defaults are gpt2 small: a config that leaves every key out counts the same.
  EXPECT_EQ(Count(R"({"model_type": "gpt2"})").total, 124'439'808u);
  // Untied: + the lm_head.
  EXPECT_EQ(Count(R"({"model_type": "gpt2", "tie_word_embeddings": false})").total, 124'439'808u + 50257u * 768);
}

// google-bert/bert-base-uncased: 109,482,240 parameters as BertModel with its pooler.
TEST(ParametersFromConfigTest, BertBaseUncased) {
  const Counted counted = Count(R"({
    "architectures": ["BertForMaskedLM"], "attention_probs_dropout_prob": 0.1, "gradient_checkpointing": false,
    "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02,
    "intermediate_size": 3072, "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "bert",
    "num_attention_heads": 12, "num_hidden_layers": 12, "pad_token_id": 0, "position_embedding_type": "absolute",
    "transformers_version": "4.6.0.dev0", "type_vocab_size": 2, "use_cache": true, "vocab_size": 30522})");
  EXPECT_EQ(counted.total, 109'482'240u);
  EXPECT_EQ(counted.largest_layer, "embeddings.word_embeddings");
  EXPECT_EQ(counted.largest_layer_elements, 30522u * 768);
}

// meta-llama/Llama-2-7b-hf: 6,738,415,616 parameters (LlamaForCausalLM, untied lm_head).
TEST(ParametersFromConfigTest, Llama2_7b) {
  const Counted counted = Count(R"({
    "architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
    "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 11008, "max_position_embeddings": 4096,
    "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
    "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null, "tie_word_embeddings": false,
    "torch_dtype": "float16", "transformers_version": "4.31.0.dev0", "use_cache": true, "vocab_size": 32000})");
  EXPECT_EQ(counted.total, 6'738'415'616u);
  // One decoder layer: attention 4 x 4096^2 + MLP 3 x 4096 x 11008 + two RMSNorms 2 x 4096.
  EXPECT_EQ(counted.largest_layer, "model.layers.0");
  EXPECT_EQ(counted.largest_layer_elements, 4u * 4096 * 4096 + 3u * 4096 * 11008 + 2 * 4096);
  // LlamaConfig's defaults are Llama 7B.
  EXPECT_EQ(Count(R"({"model_type": "llama"})").total, 6'738'415'616u);
}

TEST(ParametersFromConfigTest, LlamaBiasesAndGqa) {
  // attention_bias adds q/k/v/o biases, mlp_bias gate/up/down biases; GQA shrinks k/v.
  const uint64_t base = Count(R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
    "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 100})").total;
  // embed 6400 + lm_head 6400 + norm 64 + 2 x (q 4096 + k 1024 + v 1024 + o 4096 + mlp 3 x 8192 + norms 128)
  EXPECT_EQ(base, 6400u + 6400 + 64 + 2 * (4096 + 1024 + 1024 + 4096 + 3 * 8192 + 128));
  const uint64_t biased = Count(R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
    "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 100,
    "attention_bias": true, "mlp_bias": true})").total;
  EXPECT_EQ(biased - base, 2u * ((64 + 16 + 16 + 64) + (128 + 128 + 64)));
  // An explicit head_dim (not hidden / heads) sizes q/k/v/o.
  const uint64_t wide_heads = Count(R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
    "num_hidden_layers": 1, "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 100,
    "tie_word_embeddings": true})").total;
  EXPECT_EQ(wide_heads, 6400u + 64 + (64 * 128 + 64 * 32 + 64 * 32 + 128 * 64 + 3 * 8192 + 128));
}

// mistralai/Mistral-7B-v0.1: 7,241,732,096 parameters (8 KV heads).
TEST(ParametersFromConfigTest, Mistral7b) {
  EXPECT_EQ(Count(R"({
    "architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
    "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 32768,
    "model_type": "mistral", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
    "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096, "tie_word_embeddings": false,
    "torch_dtype": "bfloat16", "transformers_version": "4.34.0.dev0", "use_cache": true, "vocab_size": 32000})")
                .total,
            7'241'732'096u);
  EXPECT_EQ(Count(R"({"model_type": "mistral", "head_dim": null})").total, 7'241'732'096u);
}

// Qwen/Qwen2-0.5B: 494,032,768 parameters (q/k/v biases, tied embeddings).
TEST(ParametersFromConfigTest, Qwen2_0_5b) {
  const Counted counted = Count(R"({
    "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
    "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
    "intermediate_size": 4864, "max_position_embeddings": 131072, "max_window_layers": 24, "model_type": "qwen2",
    "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2, "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0, "sliding_window": 131072, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
    "transformers_version": "4.40.1", "use_cache": true, "use_sliding_window": false, "vocab_size": 151936})");
  EXPECT_EQ(counted.total, 494'032'768u);
  EXPECT_EQ(counted.largest_layer, "model.embed_tokens");
  EXPECT_EQ(counted.largest_layer_elements, 151936u * 896);
}

// google/gemma-2b: 2,506,172,416 parameters (head_dim 256, one KV head, tied embeddings).
TEST(ParametersFromConfigTest, Gemma2b) {
  EXPECT_EQ(Count(R"({
    "architectures": ["GemmaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0, "bos_token_id": 2,
    "eos_token_id": 1, "head_dim": 256, "hidden_act": "gelu", "hidden_size": 2048, "initializer_range": 0.02,
    "intermediate_size": 16384, "max_position_embeddings": 8192, "model_type": "gemma", "num_attention_heads": 8,
    "num_hidden_layers": 18, "num_key_value_heads": 1, "pad_token_id": 0, "rms_norm_eps": 1e-06,
    "rope_scaling": null, "rope_theta": 10000.0, "torch_dtype": "bfloat16", "transformers_version": "4.38.0.dev0",
    "use_cache": true, "vocab_size": 256000})")
                .total,
            2'506'172'416u);
}

// EleutherAI/pythia-160m: 162,322,944 parameters (the Pythia paper's "total params", untied embed_out).
TEST(ParametersFromConfigTest, Pythia160m) {
  EXPECT_EQ(Count(R"({
    "architectures": ["GPTNeoXForCausalLM"], "bos_token_id": 0, "eos_token_id": 0, "hidden_act": "gelu",
    "hidden_size": 768, "initializer_range": 0.02, "intermediate_size": 3072, "layer_norm_eps": 1e-05,
    "max_position_embeddings": 2048, "model_type": "gpt_neox", "num_attention_heads": 12, "num_hidden_layers": 12,
    "rotary_emb_base": 10000, "rotary_pct": 0.25, "tie_word_embeddings": false, "torch_dtype": "float16",
    "transformers_version": "4.24.0", "use_cache": true, "use_parallel_residual": true, "vocab_size": 50304})")
                .total,
            162'322'944u);
}

// google-t5/t5-small: 60,506,624 parameters; google/t5-v1_1-small (gated-gelu, untied): 76,961,152.
TEST(ParametersFromConfigTest, T5) {
  EXPECT_EQ(Count(R"({
    "architectures": ["T5ForConditionalGeneration"], "d_ff": 2048, "d_kv": 64, "d_model": 512,
    "decoder_start_token_id": 0, "dropout_rate": 0.1, "eos_token_id": 1, "initializer_factor": 1.0,
    "is_encoder_decoder": true, "layer_norm_epsilon": 1e-06, "model_type": "t5", "n_positions": 512,
    "num_heads": 8, "num_layers": 6, "output_past": true, "pad_token_id": 0,
    "relative_attention_num_buckets": 32, "vocab_size": 32128})")
                .total,
            60'506'624u);
  const Counted v1_1 = Count(R"({
    "architectures": ["T5ForConditionalGeneration"], "d_ff": 1024, "d_kv": 64, "d_model": 512,
    "decoder_start_token_id": 0, "dropout_rate": 0.1, "eos_token_id": 1, "feed_forward_proj": "gated-gelu",
    "initializer_factor": 1.0, "is_encoder_decoder": true, "layer_norm_epsilon": 1e-06, "model_type": "t5",
    "num_decoder_layers": 8, "num_heads": 6, "num_layers": 8, "output_past": true, "pad_token_id": 0,
    "relative_attention_num_buckets": 32, "tie_word_embeddings": false, "vocab_size": 32128})");
  EXPECT_EQ(v1_1.total, 76'961'152u);
  EXPECT_EQ(v1_1.largest_layer, "lm_head");  // ties with `shared`; "lm_head" sorts first
  EXPECT_EQ(v1_1.largest_layer_elements, 32128u * 512);
}

TEST(ParametersFromConfigTest, ErrorsNameTheProblem) {
  EXPECT_THAT(ErrorFor("{"), HasSubstr("config.json is not valid JSON"));
  EXPECT_THAT(ErrorFor("[]"), HasSubstr("not a JSON object"));
  EXPECT_THAT(ErrorFor(R"({"hidden_size": 8})"), HasSubstr("config.json has no 'model_type'"));
  EXPECT_EQ(ErrorFor(R"({"model_type": "mamba"})"),
            "config.json: model_type 'mamba' has no parameter formula here (supported: bert, gemma, gpt2, gpt_neox, "
            "llama, mistral, qwen2, t5); download the model's .safetensors files for an exact count");
  EXPECT_THAT(ErrorFor(R"({"model_type": "llama", "hidden_size": "4096"})"),
              HasSubstr("config.json: 'hidden_size' is \"4096\", expected an integer from 1 to"));
  EXPECT_THAT(ErrorFor(R"({"model_type": "llama", "hidden_size": 0})"), HasSubstr("'hidden_size' is 0"));
  EXPECT_THAT(ErrorFor(R"({"model_type": "llama", "hidden_size": -4})"), HasSubstr("'hidden_size' is -4"));
  EXPECT_THAT(ErrorFor(R"({"model_type": "llama", "hidden_size": 4096.5})"), HasSubstr("'hidden_size' is 4096.5"));
  EXPECT_THAT(ErrorFor(R"({"model_type": "llama", "num_hidden_layers": 1000000000})"),
              HasSubstr("'num_hidden_layers' is 1000000000, expected an integer from 1 to 10000"));
  EXPECT_THAT(ErrorFor(R"({"model_type": "llama", "num_attention_heads": 32, "num_key_value_heads": 5})"),
              HasSubstr("num_attention_heads 32 is not a multiple of num_key_value_heads 5"));
  EXPECT_THAT(ErrorFor(R"({"model_type": "llama", "hidden_size": 100, "num_attention_heads": 32})"),
              HasSubstr("hidden_size 100 is not a multiple of num_attention_heads 32"));
  EXPECT_THAT(ErrorFor(R"({"model_type": "gpt2", "tie_word_embeddings": "yes"})"),
              HasSubstr("'tie_word_embeddings' is \"yes\", expected true or false"));
  EXPECT_THAT(ErrorFor(R"({"model_type": "t5", "feed_forward_proj": "gated-gelu-new"})"),
              HasSubstr("feed_forward_proj 'gated-gelu-new' is not of the form ACT or gated-ACT"));
  // Sizes at the limit multiply past 64 bits: an error, not a wrapped count.
  EXPECT_THAT(ErrorFor(R"({"model_type": "bert", "vocab_size": 2147483648, "hidden_size": 2147483648,
                           "intermediate_size": 2147483648, "num_hidden_layers": 10000})"),
              HasSubstr("overflow"));
}

}  // namespace
}  // namespace accel::common
