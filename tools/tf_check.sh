#!/usr/bin/env bash
# Static checks of terraform/: checkov (every failed check fails this script) and, when a
# terraform binary is on PATH, `terraform fmt -check`. checkov lives in its own virtualenv,
# .venv-checkov: its dependencies conflict with the project's.
set -euo pipefail

cd "$(dirname "$0")/.."
CHECKOV_VERSION=3.3.30
VENV=.venv-checkov
PYTHON=${PYTHON:-python3}

if [ ! -x "$VENV/bin/checkov" ] || ! "$VENV/bin/checkov" --version 2>/dev/null | grep -qx "$CHECKOV_VERSION"; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION"
fi

if command -v terraform >/dev/null; then
  TF_CLI_CONFIG_FILE=/dev/null terraform fmt -check -recursive terraform
fi

# --quiet prints failed checks only; a failure exits 1. Skips are `#checkov:skip=` comments
# beside the resource, each with its reason.
"$VENV/bin/checkov" -d terraform --framework terraform --quiet --compact --skip-download
