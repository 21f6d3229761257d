// Finding a model's files on this machine, without the network.
//
// A model is named as on the Hub ("gpt2", "meta-llama/Llama-2-7b-hf"), or by a local path. Lookup order:
//   1. an existing path: a `.safetensors` file, a `*.safetensors.index.json` file, or a folder;
//   2. a Hub name, in the Hugging Face cache (huggingface_hub's layout):
//        <hub cache>/models--ORG--NAME/snapshots/<revision>/
//      where <revision> is the commit named by refs/main when that file exists, else the most recently
//      modified snapshot (a cache filled by `snapshot_download(revision=...)` has no refs/main).
// In the folder, the weights are, first match wins: model.safetensors.index.json, model.safetensors,
// the only `*.safetensors.index.json`, the only `*.safetensors`. A folder with no safetensors weights
// (only pytorch_model.bin, or only config.json) has Weights::kNone and the caller falls back to
// config.json. Several unindexed `.safetensors` files are ambiguous and an error.
//
// Reads directory listings and the small refs/main file only. Thread-compatible.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/environment.h"

namespace accel::common {

struct ModelLocation {
  enum class Weights { kShardIndex, kSingleFile, kNone };

  Weights weights = Weights::kNone;
  std::filesystem::path folder;                 // where config.json and the weights live
  std::filesystem::path weights_path;           // the index or the .safetensors file; empty for kNone
  std::optional<std::filesystem::path> config;  // folder/config.json when it exists
  std::string origin;                           // "local folder", "Hugging Face cache, revision 1a2b3c4d5e6f"
  std::vector<std::string> unreadable_weights;  // e.g. "pytorch_model.bin": weights present but not read
};

/// huggingface_hub's cache folder: $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE, else
/// <HF home>/hub where HF home is $HF_HOME, else $XDG_CACHE_HOME/huggingface, else $HOME/.cache/huggingface.
std::filesystem::path HubCacheDir(const Environment& env);

/// Whether `name` can be a Hub repo id: NAME or ORG/NAME of [A-Za-z0-9._-], no "..", no "--".
bool IsHubRepoId(std::string_view name);

/// Finds `model` as described above. NotFound (one line, naming every place looked at) when it is
/// nowhere; InvalidArgument for a folder or file that holds no usable model files.
absl::StatusOr<ModelLocation> LocateModel(std::string_view model, const std::filesystem::path& hub_cache);

}  // namespace accel::common
