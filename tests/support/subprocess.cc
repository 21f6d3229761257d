#include "tests/support/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <fstream>

#include "tests/support/temp_dir.h"

extern char** environ;  // NOLINT

namespace accel::testing {
namespace {

int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::filesystem::path UniqueOutputPath(const char* suffix) {
  static std::atomic<int> counter{0};
  return std::filesystem::temp_directory_path() /
         ("accel_subprocess_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + suffix);
}

}  // namespace

std::map<std::string, std::string> EnvWith(const std::map<std::string, std::string>& overrides) {
  std::map<std::string, std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string text(*entry);
    const size_t eq = text.find('=');
    if (eq != std::string::npos) env[text.substr(0, eq)] = text.substr(eq + 1);
  }
  for (const auto& [key, value] : overrides) {
    if (value.empty()) {
      env.erase(key);
    } else {
      env[key] = value;
    }
  }
  return env;
}

Subprocess::Subprocess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                       const std::filesystem::path& cwd, const std::string& stdin_text)
    : out_path_(UniqueOutputPath(".out")), err_path_(UniqueOutputPath(".err")) {
  const std::filesystem::path in_path = UniqueOutputPath(".in");
  std::ofstream(in_path) << stdin_text;
  std::vector<std::string> envp_text;
  for (const auto& [key, value] : env) envp_text.push_back(key + "=" + value);
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& entry : envp_text) envp.push_back(entry.data());
  envp.push_back(nullptr);
  const int in_fd = ::open(in_path.c_str(), O_RDONLY | O_CLOEXEC);
  const int out_fd = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int err_fd = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  std::filesystem::remove(in_path);
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(in_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  ::close(in_fd);
  ::close(out_fd);
  ::close(err_fd);
}

Subprocess::~Subprocess() {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  std::error_code ignored;
  std::filesystem::remove(out_path_, ignored);
  std::filesystem::remove(err_path_, ignored);
}

void Subprocess::Signal(int signal) const {
  if (pid_ > 0 && !reaped_) ::kill(pid_, signal);
}

ProcessResult Subprocess::Wait(std::chrono::milliseconds timeout) {
  ProcessResult result;
  if (!reaped_) {
    const bool done = WaitFor(
        [&] {
          const pid_t got = ::waitpid(pid_, &status_, WNOHANG);
          if (got == pid_) reaped_ = true;
          return reaped_;
        },
        timeout);
    if (!done) {
      result.timed_out = true;
      result.out = Out();
      result.err = Err();
      return result;
    }
  }
  result.exit_code = DecodeStatus(status_);
  result.out = Out();
  result.err = Err();
  return result;
}

std::string Subprocess::Out() const { return ReadFile(out_path_); }
std::string Subprocess::Err() const { return ReadFile(err_path_); }

ProcessResult RunProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                  std::chrono::milliseconds timeout, const std::filesystem::path& cwd, const std::string& stdin_text) {
  Subprocess process(argv, env, cwd, stdin_text);
  ProcessResult result = process.Wait(timeout);
  if (result.timed_out) process.Signal(SIGKILL);
  return result;
}

bool ProcessAlive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return false;
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  const size_t paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] != 'Z';
}

std::string BinaryPath(const std::string& name) { return std::string(ACCEL_BINARY_DIR) + "/" + name; }
std::string SourcePath(const std::string& relative) { return std::string(ACCEL_SOURCE_DIR) + "/" + relative; }

}  // namespace accel::testing
