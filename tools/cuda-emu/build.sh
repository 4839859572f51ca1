#!/usr/bin/env bash
# Builds the CUDA emulator (tools/cuda-emu: a CPU stand-in for libcuda.so.1, libnvrtc.so.13, libcublas.so.13 and
# libcublasLt.so.13) into OUT, and prints OUT. Point BERTSHARP_CUDA_LIBS at OUT to run BertSharp's CUDA device on it.
#   tools/cuda-emu/build.sh [OUT]     (default: tools/cuda-emu/out)
# Idempotent: nothing is rebuilt when OUT/.stamp matches the hash of the sources and the compiler.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/out}
cxx=${BERTSHARP_CUDA_EMU_CXX:-g++}
if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "error: the CUDA emulator needs a C++ compiler ($cxx): apt-get install g++" >&2
  exit 3
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$here"
sources=(emu_abi.h emu_device.h driver.cpp nvrtc.cpp cublas.cpp cublaslt.cpp build.sh include/*.h)
stamp=$( (cat "${sources[@]}"; "$cxx" --version | head -1) | sha256sum | cut -c1-32)
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then echo "$out"; exit 0; fi
tmp=$(mktemp -d "$out/.build-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
flags=(-std=c++17 -O2 -g0 -fPIC -shared -fvisibility=hidden -Wall -Wno-unused-function)
"$cxx" "${flags[@]}" -Wl,-soname,libcuda.so.1 -o "$tmp/libcuda.so.1" driver.cpp -ldl -lpthread &
"$cxx" "${flags[@]}" -Wl,-soname,libnvrtc.so.13 -o "$tmp/libnvrtc.so.13" nvrtc.cpp -ldl &
"$cxx" "${flags[@]}" -Wl,-soname,libcublasLt.so.13 -o "$tmp/libcublasLt.so.13" cublaslt.cpp &
wait %1 && wait %2 && wait %3
"$cxx" "${flags[@]}" -O3 -ffp-contract=off -Wl,-soname,libcublas.so.13 -Wl,-rpath,'$ORIGIN' -o "$tmp/libcublas.so.13" cublas.cpp \
  "$tmp/libcuda.so.1" "$tmp/libcublasLt.so.13"
cp emu_abi.h emu_device.h "$tmp/"
mkdir -p "$tmp/include" && cp include/*.h "$tmp/include/"
# NVRTC's builtins library, which real NVRTC loads at compile time (empty here: the emulator's NVRTC needs none).
echo 'int bsemu_nvrtc_builtins;' | "$cxx" -x c++ -shared -fPIC -o "$tmp/libnvrtc-builtins.so.13.0" -Wl,-soname,libnvrtc-builtins.so.13.0 -
for f in libcuda.so.1 libnvrtc.so.13 libcublas.so.13 libcublasLt.so.13 libnvrtc-builtins.so.13.0 emu_abi.h emu_device.h; do mv -f "$tmp/$f" "$out/$f"; done
rm -rf "$out/include" && mv "$tmp/include" "$out/include"
echo "$stamp" > "$out/.stamp"
echo "$out"
