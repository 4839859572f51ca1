#!/usr/bin/env bash
# Runs a benchmark suite: bench/run.sh <suite> [options]. Installs what the suite needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
suite=${1:-}
[ -n "$suite" ] || { echo "usage: bench/run.sh <suite> [options]" >&2; exit 2; }
shift
case "$suite" in
  gemm|train)
    # OpenBLAS is loaded by the benchmark only, to compare against (gemm: directly; train: as PyTorch's BLAS,
    # which is otherwise Debian's reference BLAS); never a dependency of the library.
    if ! ldconfig -p | grep -q 'libopenblas.so.0'; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas0-pthread >/dev/null
    fi ;;
esac
# These machines export OPENBLAS_CORETYPE=Haswell (and may set OPENBLAS_L2_SIZE), which holds Debian's OpenBLAS to
# its AVX2 kernels. The baselines get their best: the train suite unsets both for the PyTorch processes (OpenBLAS
# then picks its AVX-512 kernels); the gemm suite's in-process OpenBLAS is told SkylakeX (AVX-512) on such CPUs.
if grep -qw avx512f /proc/cpuinfo && [ "$suite" = gemm ]; then export OPENBLAS_CORETYPE=SkylakeX; unset OPENBLAS_L2_SIZE; fi
dotnet build -c Release bench/BertSharp.Bench -v q -nologo >/dev/null
exec dotnet bench/BertSharp.Bench/bin/Release/net10.0/BertSharp.Bench.dll "$suite" "$@"
