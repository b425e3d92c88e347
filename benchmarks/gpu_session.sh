#!/usr/bin/env bash
# The GPU half of benchmarks/train_speed.py, in one `device` call (10 minutes at most per call).
#
# The GPU machines have JAX and PyTorch but no Keras or TensorFlow, and only the working tree travels, so
# on this machine first prepare what the call carries (the data sets: at most 64 MiB together, so
# CIFAR-10 goes in a call of its own):
#     ../shared/tools/device-prep.sh --data fashion_mnist pyyaml   # or: --data cifar10 pyyaml
# (kerasforge needs PyYAML, which the GPU image lacks; tracking and tuning stay off in the benchmark)
# then call `run` with carry [".carry"] and the command
#     bash benchmarks/gpu_session.sh fashion_cnn,fashion_mlp      # or: cifar10_cnn
# The results come back as $OUT/train_speed_gpu.json (+ .log with every child's output) and $OUT/summary.txt.
set -eu
workloads=${1:-fashion_cnn,fashion_mlp}
variants=${2:-keras,torch,kerasforge,kerasforge_warm}
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .carry/whl/*.whl
export PYTHONPATH=/tmp/site:$PWD/src KFORGE_DATA_DIR=$PWD/.carry/data KERAS_BACKEND=jax
out=${OUT:-/tmp/out}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
python3 benchmarks/train_speed.py --workloads "$workloads" --variants "$variants" \
  --out "$out/train_speed_gpu.json" 2>&1 | tee "$out/summary.txt" | tail -40
