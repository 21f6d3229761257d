// A fresh directory under $TMPDIR, removed with everything in it when the object goes away.
#pragma once

#include <filesystem>
#include <string>

namespace accel::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  /// Writes `text` to path()/name (creating folders); returns the full path.
  std::filesystem::path Write(const std::string& name, const std::string& text, bool executable = false) const;

 private:
  std::filesystem::path path_;
};

std::string ReadFile(const std::filesystem::path& path);

}  // namespace accel::testing
