#!/usr/bin/env bash
# Installs what mmapurl needs to build and test on Debian 12: compilers, Boost 1.81, liburing,
# OpenSSL, GoogleTest, and the real servers the tests start (nginx, s3rver via npm, awscli), the
# parser the metrics test checks mmapurl_metrics_text with (Debian's /usr/bin/python3 has it) and
# tmux, in which the progress-line tests watch the tools' screens.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
pkgs=(build-essential cmake pkg-config g++ clang libclang-rt-14-dev
      libboost1.81-dev liburing-dev libssl-dev libgtest-dev googletest
      nginx python3 python3-botocore awscli curl openssl strace passwd tinyproxy
      python3-prometheus-client tmux)
# Node.js and npm: use the machine's own if it has them (a NodeSource nodejs bundles npm and
# conflicts with Debian's npm package); otherwise Debian's.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then pkgs+=(nodejs npm); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
bash tests/fixtures/s3/install.sh
