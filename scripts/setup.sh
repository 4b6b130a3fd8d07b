#!/usr/bin/env bash
# Sets up this checkout from nothing: the virtual environment at .venv with the project
# installed (editable), and -- with --test -- the Debian packages and services the test suite
# talks to (PostgreSQL, MariaDB + a one-node SLURM cluster with accounting, Chromium, ffmpeg).
# Idempotent: a second run only checks.
#
#   scripts/setup.sh          # the venv, for running experiments
#   scripts/setup.sh --test   # + test dependencies, apt packages, services
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

log() { printf '[setup] %s\n' "$*"; }

python_bin="${PYTHON:-python3.11}"
command -v "$python_bin" >/dev/null 2>&1 || python_bin=python3
if ! "$python_bin" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "[setup] Python 3.11 is required (found $("$python_bin" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

if [[ ! -x .venv/bin/python ]]; then
  log "creating the virtual environment at .venv"
  "$python_bin" -m venv .venv
fi

extras=""
[[ $want_test == 1 ]] && extras="[test]"
stamp=".venv/.installed${extras:+-test}"
if [[ ! -f "$stamp" || pyproject.toml -nt "$stamp" ]]; then
  log "installing the project and its pinned dependencies (torch comes from the local wheel cache)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".${extras}"
  touch "$stamp"
else
  log "virtual environment up to date"
fi

[[ $want_test == 1 ]] || exit 0

# Debian packages the tests use. Only missing ones are installed; apt-get update runs once,
# and only if something is missing.
packages=(slurm-wlm slurmdbd munge mariadb-server postgresql chromium ffmpeg)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if (( ${#missing[@]} )); then
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

scripts/services/start-postgres.sh
scripts/slurm/start-local-cluster.sh
