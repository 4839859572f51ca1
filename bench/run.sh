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
# Debian's OpenBLAS 0.3.21 does not know AMD's AVX-512 cores (Zen 4/5) and falls back to its AVX2 (Haswell)
# kernels, half as fast there; the baselines get OpenBLAS's AVX-512 kernels unless the caller chose a core.
if grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX}; fi
dotnet build -c Release bench/BertSharp.Bench -v q -nologo >/dev/null
exec dotnet bench/BertSharp.Bench/bin/Release/net10.0/BertSharp.Bench.dll "$suite" "$@"
