#!/usr/bin/env bash
# Installs the Debian packages clustersim needs, only those that are missing. Uses sudo when not root.
# The build includes the Python module (python3-dev, python3-pybind11; docs/python.md).
# --test adds what the test suite needs beyond the build: Chromium (the HTML report is rendered headless and
# checked), python3 (the screenshot check and the hostile-input test), pytest and pandas (the Python module's tests
# and the docs/python.md walkthrough), clang with libFuzzer (the fuzz tests) and ninja-build (the build is also
# configured with the Ninja generator).
set -euo pipefail
pkgs=(cmake g++ make pkg-config libsimgrid-dev libboost-graph-dev libprotobuf-dev protobuf-compiler libgtest-dev
      libcli11-dev libfmt-dev zlib1g-dev libopenmpi-dev openmpi-bin python3-dev python3-pybind11)
if [ "${1:-}" = "--test" ]; then
  # clang + libFuzzer: the fuzz tests; ninja: the Ninja generator check
  pkgs+=(chromium python3 python3-pytest python3-pandas clang libclang-rt-14-dev ninja-build)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
