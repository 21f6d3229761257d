#include "common/model/model_location.h"

#include <algorithm>
#include <fstream>

#include "common/config/cluster_config.h"
#include "common/status_macros.h"
#include "common/strings.h"

namespace accel::common {
namespace {

namespace fs = std::filesystem;

bool EndsWith(std::string_view text, std::string_view suffix) { return text.ends_with(suffix); }

bool IsRegularFile(const fs::path& path) {
  std::error_code error;
  return fs::is_regular_file(path, error);  // follows the cache's symlinks into blobs/
}

// Reads the folder's safetensors weights (see the header for the order).
absl::StatusOr<ModelLocation> InspectFolder(const fs::path& folder, std::string origin) {
  ModelLocation location;
  location.folder = folder;
  location.origin = std::move(origin);
  if (IsRegularFile(folder / "config.json")) location.config = folder / "config.json";

  std::vector<std::string> indexes;
  std::vector<std::string> files;
  std::error_code error;
  for (fs::directory_iterator it(folder, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    // A dangling link (blob not downloaded) is listed here and reported when it is read.
    if (EndsWith(name, ".safetensors.index.json")) {
      indexes.push_back(name);
    } else if (EndsWith(name, ".safetensors")) {
      files.push_back(name);
    } else if (EndsWith(name, ".bin") || EndsWith(name, ".pt") || EndsWith(name, ".pth") || EndsWith(name, ".gguf") ||
               EndsWith(name, ".h5") || EndsWith(name, ".msgpack")) {
      location.unreadable_weights.push_back(name);
    }
  }
  if (error) {
    return absl::FailedPreconditionError(StrCat("cannot list ", folder.string(), ": ", error.message()));
  }
  std::sort(indexes.begin(), indexes.end());
  std::sort(files.begin(), files.end());
  std::sort(location.unreadable_weights.begin(), location.unreadable_weights.end());

  auto contains = [](const std::vector<std::string>& names, std::string_view name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  if (contains(indexes, "model.safetensors.index.json")) {
    location.weights = ModelLocation::Weights::kShardIndex;
    location.weights_path = folder / "model.safetensors.index.json";
  } else if (contains(files, "model.safetensors")) {
    location.weights = ModelLocation::Weights::kSingleFile;
    location.weights_path = folder / "model.safetensors";
  } else if (indexes.size() == 1) {
    location.weights = ModelLocation::Weights::kShardIndex;
    location.weights_path = folder / indexes.front();
  } else if (indexes.empty() && files.size() == 1) {
    location.weights = ModelLocation::Weights::kSingleFile;
    location.weights_path = folder / files.front();
  } else if (indexes.size() > 1) {
    return absl::InvalidArgumentError(StrCat(folder.string(), " has several safetensors indexes (",
                                             StrJoin(indexes, ", "), "); pass the one to use"));
  } else if (files.size() > 1) {
    return absl::InvalidArgumentError(StrCat(folder.string(), " has several .safetensors files (",
                                             StrJoin(files, ", "), ") and no index; pass the file to use"));
  } else if (!location.config) {
    const std::string only = location.unreadable_weights.empty()
                                 ? std::string()
                                 : StrCat(" (only ", StrJoin(location.unreadable_weights, ", "), ")");
    return absl::InvalidArgumentError(
        StrCat(folder.string(), " has no .safetensors weights and no config.json", only));
  }
  return location;
}

absl::StatusOr<fs::path> SnapshotFolder(const fs::path& repo_folder) {
  const fs::path snapshots = repo_folder / "snapshots";
  const fs::path ref = repo_folder / "refs" / "main";
  if (IsRegularFile(ref)) {
    std::ifstream in(ref);
    std::string revision;
    std::getline(in, revision);
    revision = std::string(StripWhitespace(revision));
    if (revision.empty() || revision.find('/') != std::string::npos || revision == "." || revision == "..") {
      return absl::InvalidArgumentError(StrCat(ref.string(), " does not hold a revision"));
    }
    const fs::path folder = snapshots / revision;
    std::error_code error;
    if (!fs::is_directory(folder, error)) {
      return absl::NotFoundError(
          StrCat(ref.string(), " names revision ", revision, " but ", folder.string(), " does not exist"));
    }
    return folder;
  }
  // No refs/main: the newest snapshot (name order breaks ties, so the choice is stable).
  std::optional<fs::path> newest;
  fs::file_time_type newest_time;
  std::error_code error;
  for (fs::directory_iterator it(snapshots, error), end; !error && it != end; it.increment(error)) {
    std::error_code entry_error;
    if (!it->is_directory(entry_error)) continue;
    const fs::file_time_type time = fs::last_write_time(it->path(), entry_error);
    if (entry_error) continue;
    if (!newest || time > newest_time || (time == newest_time && it->path().filename() > newest->filename())) {
      newest = it->path();
      newest_time = time;
    }
  }
  if (!newest) return absl::NotFoundError(StrCat(repo_folder.string(), " has no snapshot (", snapshots.string(), ")"));
  return *newest;
}

}  // namespace

fs::path HubCacheDir(const Environment& env) {
  if (auto cache = env.GetNonEmpty("HF_HUB_CACHE")) return *cache;
  if (auto cache = env.GetNonEmpty("HUGGINGFACE_HUB_CACHE")) return *cache;
  return HuggingFaceCacheHome(env) / "hub";
}

bool IsHubRepoId(std::string_view name) {
  const std::vector<std::string_view> parts = StrSplit(name, '/');
  if (parts.size() > 2) return false;
  for (std::string_view part : parts) {
    if (part.empty() || part.size() > 96 || part.front() == '.' || part.front() == '-') return false;
    if (part.find("..") != std::string_view::npos || part.find("--") != std::string_view::npos) return false;
    for (char c : part) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '_' || c == '-';
      if (!ok) return false;
    }
  }
  return true;
}

absl::StatusOr<ModelLocation> LocateModel(std::string_view model, const fs::path& hub_cache) {
  const fs::path as_path(model);
  std::error_code error;
  const fs::file_status status = fs::status(as_path, error);
  if (!model.empty() && fs::exists(status)) {
    if (fs::is_directory(status)) return InspectFolder(as_path, "local folder");
    const std::string name = as_path.filename().string();
    ModelLocation location;
    location.folder = as_path.parent_path().empty() ? fs::path(".") : as_path.parent_path();
    location.origin = "local file";
    if (IsRegularFile(location.folder / "config.json")) location.config = location.folder / "config.json";
    location.weights_path = as_path;
    if (EndsWith(name, ".safetensors")) {
      location.weights = ModelLocation::Weights::kSingleFile;
      return location;
    }
    if (EndsWith(name, ".index.json")) {
      location.weights = ModelLocation::Weights::kShardIndex;
      return location;
    }
    if (name == "config.json") {
      location.weights = ModelLocation::Weights::kNone;
      location.weights_path.clear();
      return location;
    }
    return absl::InvalidArgumentError(
        StrCat(as_path.string(), " is not a .safetensors file, a safetensors index or a config.json"));
  }
  if (!IsHubRepoId(model)) {
    return absl::NotFoundError(
        StrCat("model `", model, "` not found: no such file or folder, and not a Hub model name"));
  }
  std::string cache_name = "models--";
  for (char c : model) {
    if (c == '/') {
      cache_name += "--";
    } else {
      cache_name += c;
    }
  }
  const fs::path repo_folder = hub_cache / cache_name;
  if (!fs::is_directory(repo_folder, error)) {
    return absl::NotFoundError(StrCat("model `", model, "` not found: no local folder ./", model,
                                      " and not in the Hugging Face cache (", repo_folder.string(),
                                      " does not exist); download it first, e.g. `huggingface-cli download ", model,
                                      "`"));
  }
  ASSIGN_OR_RETURN(const fs::path snapshot, SnapshotFolder(repo_folder));
  return InspectFolder(snapshot, StrCat("Hugging Face cache, revision ", snapshot.filename().string().substr(0, 12)));
}

}  // namespace accel::common
