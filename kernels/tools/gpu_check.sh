#!/usr/bin/env bash
# Builds algoperf_kernels with nvcc + g++ for this machine's python3 (no Bazel: mirrors the
# //kernels targets), then runs the CUDA tests and the GPU benchmark. For a GPU machine, e.g. an
# H200 with python3.12, torch+cu13x, jax + CUDA plugin, pybind11 and nvcc 13.
#
#   kernels/tools/gpu_check.sh [--quick] [--out DIR]
#
# Environment: PYTHON (default python3), NVCC (default: nvcc on PATH, else /usr/local/cuda/bin/nvcc), CUDA_HOME,
# CUDA_ARCHS (default "90"; e.g. "80 90"), JOBS (parallel compiles, default nproc).
# Writes DIR/build.log, DIR/tests.log, DIR/bench_cuda.json, DIR/bench_cpu.json (DIR defaults to
# $OUT when set, else a temp directory) and prints a summary.
set -euo pipefail
cd "$(dirname "$0")/../.."

quick=0
out_dir="${OUT:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --out) out_dir="$2"; shift ;;
    *) echo "gpu_check: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
out_dir="${out_dir:-$(mktemp -d)}"
mkdir -p "$out_dir"

PY="${PYTHON:-python3}"
NVCC="${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
CUDA_HOME="${CUDA_HOME:-$(dirname "$(dirname "$(readlink -f "$NVCC")")")}"
[ -f "$CUDA_HOME/lib64/libcudart_static.a" ] || CUDA_HOME=/usr/local/cuda
JOBS="${JOBS:-$(nproc)}"
archs=""
for a in ${CUDA_ARCHS:-90}; do archs="$archs -gencode arch=compute_$a,code=sm_$a"; done
last="$(echo ${CUDA_ARCHS:-90} | awk '{print $NF}')"
archs="$archs -gencode arch=compute_$last,code=compute_$last"

read -r PYINC PBINC FFIINC SUFFIX < <("$PY" - <<'EOF'
import sysconfig, pybind11, jax.ffi
print(sysconfig.get_path('include'), pybind11.get_include(), jax.ffi.include_dir(), sysconfig.get_config_var('EXT_SUFFIX'))
EOF
)
echo "gpu_check: python $("$PY" -V 2>&1 | cut -d' ' -f2), nvcc $("$NVCC" --version | tail -1), archs:$archs"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true

build="$out_dir/build"
pkg="$out_dir/pkg"
rm -rf "$build" "$pkg"
mkdir -p "$build" "$pkg"
cp -r kernels/algoperf_kernels kernels/benchmark "$pkg/"
rm -f "$pkg"/algoperf_kernels/_C*.so
ver=$(sed -n 's/^VERSION = "\(.*\)"/\1/p' version.bzl)
echo "__version__ = '$ver'  # generated from version.bzl" > "$pkg/algoperf_kernels/_version.py"

COPTS="-std=c++17 -O3 -pthread -ffp-contract=off -fno-math-errno -fPIC -fvisibility=hidden -I. -I$PYINC -I$PBINC -isystem $FFIINC -DALGOPERF_WITH_CUDA=1"
{
  pids=()
  "$NVCC" -O3 -std=c++17 -Xcompiler -fPIC -Xcompiler -fvisibility=hidden -I. $archs \
    -c kernels/csrc/cuda_kernels.cu -o "$build/cuda_kernels.o" & pids+=($!)
  g++ $COPTS -mavx2 -mfma -c kernels/csrc/cpu_avx2.cc -o "$build/cpu_avx2.o" & pids+=($!)
  for f in cpu_generic cpu_dispatch op_info thread_pool ffi_handlers cuda_stub module; do
    g++ $COPTS -c "kernels/csrc/$f.cc" -o "$build/$f.o" & pids+=($!)
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 0.2; done
  done
  for p in "${pids[@]}"; do wait "$p"; done
  g++ -shared -pthread -o "$pkg/algoperf_kernels/_C$SUFFIX" "$build"/*.o \
    "$CUDA_HOME/lib64/libcudart_static.a" -ldl -lpthread -lrt
} >"$out_dir/build.log" 2>&1 || { tail -n 40 "$out_dir/build.log"; echo "gpu_check: build failed" >&2; exit 1; }
echo "gpu_check: built $pkg/algoperf_kernels/_C$SUFFIX"

export PYTHONPATH="$pkg"
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # torch and jax share the GPU in one process
"$PY" -c "import algoperf_kernels as ak; print('gpu_check: built_with_cuda', ak.built_with_cuda(), 'devices', ak.cuda_device_count(), 'cpu isa', ak.cpu_isa())"

status=0
tests="kernels/tests/cuda_test.py kernels/tests/module_test.py kernels/tests/cpu_parity_test.py kernels/tests/reduce_parity_test.py"
[ "$quick" = 1 ] || tests="$tests kernels/tests/torch_test.py kernels/tests/jax_test.py"
(cd "$pkg" && "$PY" -m pytest -q -rs -p no:cacheprovider $(for t in $tests; do echo "$OLDPWD/$t"; done)) \
  2>&1 | tee "$out_dir/tests.log" | tail -n 25 || true
grep -qE "failed|error" "$out_dir/tests.log" && status=1

if [ "$quick" = 1 ]; then
  bench_args=(--sizes=1e6,1.6e7,resnet50 --kernels=adamw,ema --reps=5)
else
  bench_args=(--sizes=1e6,1.6e7,1e8,resnet50 --kernels=adamw,nadamw,adamw_bf16,sgd_nesterov,ema --reps=10)
fi
(cd "$pkg" && "$PY" -m benchmark.main --device=cuda --triad-elems=$((1 << 28)) "${bench_args[@]}" \
  --out="$out_dir/bench_cuda.json") 2>&1 | tee "$out_dir/bench_cuda.log" || status=1
if [ "$quick" = 0 ]; then
  (cd "$pkg" && "$PY" -m benchmark.main --sizes=1.6e7,resnet50 --kernels=adamw --out="$out_dir/bench_cpu.json") \
    2>&1 | tee "$out_dir/bench_cpu.log" || status=1
fi
echo "gpu_check: results in $out_dir (status $status)"
exit "$status"
