#!/usr/bin/env bash
# Cut the CIFAR-10 archive into pieces under .device-data/ (ignored by git), each small enough to
# travel to a GPU machine in one call (64 MiB a call). Usage: scripts/gpu/split-cifar.sh [mirror]
set -euo pipefail
mirror=${1:-${LANDMARKS_DATA_MIRROR:-../shared/datasets}}
src="$mirror/cifar-10/cifar-10-binary.tar.xz"
[ -f "$src" ] || { echo "no $src; pass the mirror folder as the first argument" >&2; exit 2; }
mkdir -p .device-data
rm -f .device-data/cifar-10.part-*
split -b 60m -d "$src" .device-data/cifar-10.part-
mkdir -p .device-data/mnist
cp "$mirror"/mnist/*.gz .device-data/mnist/
ls -l .device-data .device-data/mnist
echo "carry .device-data/cifar-10.part-00, -01, -02 in three calls (one each), and .device-data/mnist with any"
