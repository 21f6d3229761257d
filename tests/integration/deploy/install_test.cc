// Install layout, the systemd unit and the .deb:
// - `cmake --install` into a scratch prefix puts every file in its usual place, rewrites the unit's
//   and scripts' paths for that prefix, and `systemd-analyze verify` accepts the installed unit;
// - deploy/systemd/acceld.service itself verifies (with its binary path pointed at the build);
// - CPack builds a .deb whose file list, control data and extracted acceld are checked, and the
//   extracted acceld starts with the packaged config (sockets moved to a scratch folder).
#include <csignal>

#include "gtest/gtest.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace accel {
namespace {

using std::chrono::seconds;
using testing::ReadFile;
using testing::RunProcess;

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

bool HasSystemdAnalyze() {
  return RunProcess({"/usr/bin/systemd-analyze", "--version"}, testing::EnvWith({}), seconds(20)).exit_code == 0;
}

TEST(InstallTest, InstallsEveryFileInItsPlaceAndTheUnitVerifies) {
  testing::TempDir dir;
  const std::filesystem::path prefix = dir.path() / "prefix";
  const auto installed = RunProcess({ACCEL_CMAKE_COMMAND, "--install", ACCEL_BUILD_DIR, "--prefix", prefix.string(),
                                     "--component", "runtime"},
                                    testing::EnvWith({{"DESTDIR", ""}}), seconds(120));
  ASSERT_EQ(installed.exit_code, 0) << installed.out << installed.err;
  for (const char* file : {"bin/acceld", "bin/accelctl", "libexec/accel/accelctl-cluster", "lib/systemd/system/acceld.service", "etc/accel/acceld.yaml",
                           "share/accel/slurm/prolog.sh", "share/accel/slurm/epilog.sh",
                           "share/accel/slurm/slurm.conf.example", "share/accel/slurm/train-srun.sbatch",
                           "share/accel/slurm/train-cluster.sbatch", "share/doc/accel/README.md",
                           "share/doc/accel/examples/acceld.yaml"}) {
    EXPECT_TRUE(std::filesystem::is_regular_file(prefix / file)) << file;
  }
  const auto perms = std::filesystem::status(prefix / "share/accel/slurm/prolog.sh").permissions();
  EXPECT_NE(perms & std::filesystem::perms::others_exec, std::filesystem::perms::none);

  // Paths follow the prefix.
  const std::string unit = ReadFile(prefix / "lib/systemd/system/acceld.service");
  EXPECT_NE(unit.find("ExecStart=" + (prefix / "bin/acceld").string() + " --config " +
                      (prefix / "etc/accel/acceld.yaml").string()),
            std::string::npos)
      << unit;
  EXPECT_NE(unit.find("Type=notify"), std::string::npos);
  EXPECT_NE(unit.find("WatchdogSec="), std::string::npos);
  EXPECT_NE(ReadFile(prefix / "share/accel/slurm/prolog.sh").find("ACCEL_BIN_DIR:-" + (prefix / "bin").string() + "}"),
            std::string::npos);

  const auto version = RunProcess({(prefix / "bin/acceld").string(), "--version"}, testing::EnvWith({}), seconds(10));
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out.rfind("acceld ", 0), 0u) << version.out;

  if (!HasSystemdAnalyze()) GTEST_SKIP() << "systemd-analyze cannot run here (apt-get install systemd)";
  const auto verified = RunProcess({"/usr/bin/systemd-analyze", "verify", (prefix / "lib/systemd/system/acceld.service").string()},
                                   testing::EnvWith({{"SYSTEMD_LOG_COLOR", "0"}}), seconds(60));
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  EXPECT_EQ(verified.err.find("acceld.service"), std::string::npos) << verified.err;
}

TEST(InstallTest, TheUnitInTheSourceTreeVerifies) {
  if (!HasSystemdAnalyze()) GTEST_SKIP() << "systemd-analyze cannot run here (apt-get install systemd)";
  // verify checks that ExecStart's program exists: point it at the build's acceld (and the config
  // condition at a scratch file); everything else is checked as written.
  testing::TempDir dir;
  const std::filesystem::path config = dir.Write("acceld.yaml", "role: agent\n");
  std::string unit = ReadFile(testing::SourcePath("deploy/systemd/acceld.service"));
  ASSERT_NE(unit.find("ExecStart=/usr/bin/acceld --config /etc/accel/acceld.yaml"), std::string::npos);
  unit = Replace(unit, "/usr/bin/acceld", testing::BinaryPath("acceld"));
  unit = Replace(unit, "/etc/accel/acceld.yaml", config.string());
  const std::filesystem::path path = dir.Write("acceld.service", unit);
  const auto verified = RunProcess({"/usr/bin/systemd-analyze", "verify", path.string()},
                                   testing::EnvWith({{"SYSTEMD_LOG_COLOR", "0"}}), seconds(60));
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  EXPECT_EQ(verified.err.find("acceld.service"), std::string::npos) << verified.err;
}

TEST(PackageTest, CpackBuildsADebThatHoldsEverythingAndItsAcceldRuns) {
  testing::TempDir dir;
  const auto packed = RunProcess({ACCEL_CPACK_COMMAND, "-G", "DEB", "--config",
                                  std::string(ACCEL_BUILD_DIR) + "/CPackConfig.cmake", "-B", dir.path().string()},
                                 testing::EnvWith({}), seconds(240));
  ASSERT_EQ(packed.exit_code, 0) << packed.out << packed.err;
  std::filesystem::path deb;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    if (entry.path().extension() == ".deb") deb = entry.path();
  }
  ASSERT_FALSE(deb.empty()) << packed.out;
  EXPECT_EQ(deb.filename().string().rfind("accel_", 0), 0u) << deb;

  const auto contents = RunProcess({"/usr/bin/dpkg-deb", "-c", deb.string()}, testing::EnvWith({}), seconds(60));
  ASSERT_EQ(contents.exit_code, 0) << contents.err;
  for (const char* file : {"./usr/bin/acceld", "./usr/bin/accelctl", "./usr/libexec/accel/accelctl-cluster",
                           "./usr/lib/systemd/system/acceld.service",
                           "./etc/accel/acceld.yaml", "./usr/share/accel/slurm/prolog.sh",
                           "./usr/share/accel/slurm/epilog.sh", "./usr/share/accel/slurm/slurm.conf.example",
                           "./usr/share/doc/accel/README.md"}) {
    EXPECT_NE(contents.out.find(std::string(file) + "\n"), std::string::npos) << file << "\n" << contents.out;
  }
  EXPECT_EQ(contents.out.find("accel_selftest"), std::string::npos) << "the .deb must not need libtorch";
  EXPECT_NE(contents.out.find("-rwxr-xr-x root/root"), std::string::npos);

  const auto info = RunProcess({"/usr/bin/dpkg-deb", "-I", deb.string()}, testing::EnvWith({}), seconds(60));
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find("Package: accel"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("libsystemd0"), std::string::npos) << info.out;     // from dpkg-shlibdeps
  EXPECT_NE(info.out.find("libgrpc++"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("conffiles"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("postinst"), std::string::npos) << info.out;
  const auto conffiles = RunProcess({"/usr/bin/dpkg-deb", "-I", deb.string(), "conffiles"}, testing::EnvWith({}), seconds(60));
  EXPECT_EQ(conffiles.out, "/etc/accel/acceld.yaml\n");

  const std::filesystem::path root = dir.path() / "root";
  const auto extracted = RunProcess({"/usr/bin/dpkg", "-x", deb.string(), root.string()}, testing::EnvWith({}), seconds(60));
  ASSERT_EQ(extracted.exit_code, 0) << extracted.err;
  const auto version = RunProcess({(root / "usr/bin/acceld").string(), "--version"}, testing::EnvWith({}), seconds(10));
  EXPECT_EQ(version.exit_code, 0) << version.err;
  EXPECT_EQ(version.out.rfind("acceld ", 0), 0u) << version.out;
  EXPECT_EQ(RunProcess({(root / "usr/bin/accelctl").string(), "--version"}, testing::EnvWith({}), seconds(10)).exit_code, 0);
  const std::string unit = ReadFile(root / "usr/lib/systemd/system/acceld.service");
  EXPECT_NE(unit.find("ExecStart=/usr/bin/acceld --config /etc/accel/acceld.yaml"), std::string::npos) << unit;

  // The packaged acceld starts with the packaged config, its socket moved into the scratch folder
  // (flags override the file), and answers.
  const std::string socket = "unix:" + (dir.path() / "acceld.sock").string();
  testing::Subprocess acceld({(root / "usr/bin/acceld").string(), "--config", (root / "etc/accel/acceld.yaml").string(),
                              "--role", "both", "--listen", socket, "--log_root", (dir.path() / "logs").string(),
                              "--state_dir", (dir.path() / "state").string()},
                             testing::EnvWith({}));
  const auto shown = RunProcess({(root / "usr/bin/accelctl").string(), "allocation", "show", "--agent", socket, "--wait", "15"},
                                testing::EnvWith({}), seconds(30));
  EXPECT_EQ(shown.exit_code, 0) << shown.err << acceld.Err();
  EXPECT_EQ(shown.out, "not allocated\n");
  acceld.Signal(SIGTERM);
  EXPECT_EQ(acceld.Wait(seconds(15)).exit_code, 0) << acceld.Err();
}

}  // namespace
}  // namespace accel
