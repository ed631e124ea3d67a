#!/usr/bin/env bash
# The GPU check, in one command on a machine with CUDA (and no network):
#   1. reassemble CIFAR-10 from .device-data/cifar-10.part-* and MNIST from .device-data/mnist,
#      verify both against the registry's content hashes, prepare them;
#   2. the GPU tests (CUDA-graph fast path against eager, bf16, channels_last);
#   3. `landmarks bench step` (eager fp32 vs fast path: LeNet-5 bs64, ResNet-20/56/110 bs128),
#      `landmarks bench epoch` (engine vs tutorial loop on MNIST) and `landmarks bench loader`
#      (the ImageNet JPEG pipeline, nvJPEG included, vs torchvision's reference);
#   4. one full-recipe ResNet-20 run (64k steps, paper profile, seed 0), its wall time and error;
#   5. `landmarks bench step --device cpu` for ResNet-20 and cnn4 on the host's CPUs, which name the
#      CPU and its bf16 unit (a GPU host's CPU often has AMX, the 2-core reference CPU does not).
# Results go to $OUT (or ./gpu-out): logs, reports/bench/*.md|csv, the run's metrics.json.
# Needs torch, pandas, matplotlib, pydantic, pyyaml, tabulate; not mlflow or dvc (wheels.sh brings
# pydantic, pyyaml and tabulate along, for a Python that lacks them).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 LANDMARKS_DATA_MIRROR=$PWD/.device-data/mirror
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}          # DEVICE=cpu STEPS=2 WARMUP=1 IMAGES=2000 dry-runs the script on a CPU
STEPS=${STEPS:-200}
WARMUP=${WARMUP:-20}
IMAGES=${IMAGES:-0}
step=${1:-all}

# pydantic and PyYAML from the wheels scripts/gpu/wheels.sh put in .whl/, where this Python lacks them
if ! $PY -c "import pydantic, yaml, tabulate" 2>/dev/null; then
  $PY -m pip install --quiet --no-index --find-links .whl --target .device-data/site pydantic pyyaml tabulate
  export PYTHONPATH=$PWD/.device-data/site:$PYTHONPATH
fi

if [ -d .device-data ]; then
  mkdir -p .device-data/mirror/cifar-10 .device-data/mirror/mnist
  if ls .device-data/cifar-10.part-* >/dev/null 2>&1; then
    cat .device-data/cifar-10.part-* > .device-data/mirror/cifar-10/cifar-10-binary.tar.xz
  fi
  cp -f .device-data/mnist/*.gz .device-data/mirror/mnist/ 2>/dev/null || true
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$OUT/gpu.txt" || true
$PY -m landmarks fetch mnist cifar-10 2>&1 | tee "$OUT/fetch.log"
$PY -m landmarks prepare mnist cifar-10 2>&1 | tee "$OUT/prepare.log"

if [ "$step" = all ] || [ "$step" = tests ]; then
  $PY -m pytest -q -m gpu tests/test_gpu.py 2>&1 | tee "$OUT/gpu-tests.log"
fi
if [ "$step" = all ] || [ "$step" = bench ]; then
  $PY -m landmarks bench step --device "$DEVICE" --steps "$STEPS" --warmup "$WARMUP" --repeats 3 \
    --out "$OUT/bench" 2>&1 | tee "$OUT/bench-step.log"
  $PY -m landmarks bench epoch --device "$DEVICE" --images "$IMAGES" --out "$OUT/bench" 2>&1 | tee "$OUT/bench-epoch.log"
  # the ImageNet input pipeline on this machine's CPUs and GPU (nvJPEG row), on generated JPEGs
  $PY -m landmarks bench loader --device "$DEVICE" --images "${LOADER_IMAGES:-2048}" --repeats 3 \
    --out "$OUT/bench" 2>&1 | tee "$OUT/bench-loader.log"
fi
if [ "$step" = all ] || [ "$step" = resnet20 ]; then
  start=$(date +%s)
  $PY -m landmarks train he2016-resnet-cifar10 --profile paper --claims ResNet-20 --seeds 0 \
    --no-tracking --device "$DEVICE" --models "$OUT/models" 2>&1 | tee "$OUT/resnet20.log"
  echo "ResNet-20, 64k steps: $(( $(date +%s) - start )) s wall, including data loading" | tee -a "$OUT/resnet20.log"
fi
if [ "$step" = all ] || [ "$step" = cpu ]; then
  # last, and allowed to fail: torch.compile's column needs a C++ compiler, which a GPU image may lack
  $PY -m landmarks bench step --device cpu --models resnet20,cnn4 --steps 20 --warmup 3 --repeats 3 \
    --out "$OUT/bench" 2>&1 | tee "$OUT/bench-step-cpu.log" || echo "bench step --device cpu failed; see its log"
fi
echo "done: $(ls "$OUT")"
