#!/usr/bin/env bash
# Wheels the GPU check needs beyond the device's Python (3.12 with torch, torchvision, pandas and
# matplotlib, no network): pydantic (the catalog's schema) and PyYAML, into .whl/ (ignored by git),
# to pass in `carry`. check.sh installs them from there when its Python lacks them.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-python3}
$PY -m pip download --quiet --only-binary=:all: --platform manylinux_2_17_x86_64 --python-version 3.12 \
  --implementation cp --abi cp312 --dest .whl pydantic pyyaml tabulate
ls -1 .whl
