#!/usr/bin/env bash
# Installs every build and test dependency of accel from Debian bookworm packages.
# Nothing is fetched from anywhere else. Safe to run repeatedly: apt-get skips what is installed.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ccache git python3
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libyaml-cpp-dev libspdlog-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev
  # Metrics: prometheus-cpp (core; pulls in civetweb, the /metrics HTTP server) and, for the tests, a
  # real Prometheus server and promtool (check metrics / rules / config).
  prometheus-cpp-dev libcivetweb-dev prometheus
  # Control-plane security tests: certificates made at test time (openssl), libFuzzer targets (clang).
  openssl clang libclang-rt-14-dev
  # libtorch (CPU, with c10d) for the distributed self-test `accel_selftest`; the Gloo headers are a
  # separate package that libtorch-dev's c10d headers need. About 520 MiB, ~25 s to install.
  libtorch-dev libgloo-dev
  # Deployment: sd_notify for acceld (pkg-config libsystemd), `systemd-analyze verify` of the unit,
  # and a real one-node SLURM cluster (slurmctld, slurmd, munge) for the Prolog/Epilog tests.
  libsystemd-dev systemd slurm-wlm munge
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
