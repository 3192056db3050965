#!/usr/bin/env bash
# Configuring never fails on a missing or half-installed optional part: each turns off with one
# status line saying what is missing and which package brings it, and the library builds
# without it. Each case configures a fresh build folder (tests, examples off) with one part
# made unusable on purpose:
#   - OpenCL unusable, as on a new machine without ocl-icd-opencl-dev: oneDNN is still used
#     (when its header is installed), and nothing asks for OpenCL;
#   - oneDNN missing (its header's folders hidden);
#   - oneDNN half-installed (a header whose library does not link), and a oneDNN 3.x header:
#     oneDNN is off, and asking for it with TG_WITH_ONEDNN=ON stops the configure, naming why;
#   - MPI's compiler wrapper missing: tapegrad::distributed is off;
#   - libtorch half-installed (its config file stops with FATAL_ERROR, as Caffe2's does without
#     glog): the benchmarks configure without torch-bench;
# then builds tapegrad::core in the half-installed-oneDNN folder: the CBLAS-only library.
# Usage: configure_optional.sh SOURCE_DIR
set -euo pipefail
src="$(cd "$1" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
gen=()
command -v ninja > /dev/null && gen=(-G Ninja)

fail() { echo "configure_optional: $*" >&2; exit 1; }
configure() {  # configure NAME [cmake args]: configures $work/NAME; the log is $work/NAME.log
    local name="$1"; shift
    cmake -S "$src" -B "$work/$name" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DTG_BUILD_TESTS=OFF \
        -DTG_BUILD_EXAMPLES=OFF "$@" > "$work/$name.log" 2>&1
}
says() {  # says NAME REGEX: the configure log of NAME has a line matching REGEX
    grep -Eq -- "$2" "$work/$1.log" || { cat "$work/$1.log"; fail "$1: no line matching '$2'"; }
}
configured() {  # configured NAME ARGS...: configure must succeed
    local name="$1"; shift
    configure "$name" "$@" || { cat "$work/$name.log"; fail "$name: configuring failed"; }
    echo "== $name: configured"
    grep "^-- tapegrad: " "$work/$name.log" | sed 's/^/   /'
}

# OpenCL unusable. Debian's oneDNN package would stop here (find_package(OpenCL REQUIRED)).
configured no_opencl -DCMAKE_DISABLE_FIND_PACKAGE_OpenCL=ON
if [ -e /usr/include/oneapi/dnnl/dnnl.hpp ]; then
    says no_opencl '^-- tapegrad: oneDNN 2\.[0-9]+\.[0-9]+: matrix products can run through it'
fi
! grep -Eq "Could NOT find OpenCL|Looking for CL_VERSION" "$work/no_opencl.log" || fail "no_opencl: the configure looked for OpenCL"

# No oneDNN at all (as without libdnnl-dev): its header's folders are hidden from the search
# (zlib's header, which the library needs, lives there too: it is given by hand).
zlib_lib="$(ls /usr/lib/*/libz.so /usr/lib/libz.so 2> /dev/null | head -n 1 || true)"
configured no_onednn "-DCMAKE_IGNORE_PATH=/usr/include;/usr/include/x86_64-linux-gnu;/usr/local/include" \
    -DZLIB_INCLUDE_DIR=/usr/include -DZLIB_LIBRARY="$zlib_lib"
says no_onednn "^-- tapegrad: oneDNN not used: no oneapi/dnnl/dnnl.hpp \(Debian's libdnnl-dev\); products run through the CBLAS only"

# A half-installed oneDNN: headers, but a library that is not one.
fake="$work/fake-dnnl"
mkdir -p "$fake/include/oneapi/dnnl" "$fake/lib"
printf '#define DNNL_VERSION_MAJOR 2\n#define DNNL_VERSION_MINOR 6\n#define DNNL_VERSION_PATCH 3\n' \
    > "$fake/include/oneapi/dnnl/dnnl_version.h"
echo '#error "a half-installed oneDNN"' > "$fake/include/oneapi/dnnl/dnnl.hpp"
: > "$fake/lib/libdnnl.so"
half=(-DTG_ONEDNN_INCLUDE_DIR="$fake/include" -DTG_ONEDNN_LIBRARY="$fake/lib/libdnnl.so")
configured half_onednn "${half[@]}"
says half_onednn "^-- tapegrad: oneDNN 2\.6\.3 not used: a program using oneDNN 2\.6\.3 .* does not build.*; products run through the CBLAS only"
if configure half_onednn_required "${half[@]}" -DTG_WITH_ONEDNN=ON; then
    fail "half_onednn_required: TG_WITH_ONEDNN=ON configured with a broken oneDNN"
fi
says half_onednn_required "tapegrad: TG_WITH_ONEDNN=ON, but a program using oneDNN 2\.6\.3"
echo "== half_onednn_required: refused, naming why"

# oneDNN 3.x: another API.
fake3="$work/fake-dnnl3"
mkdir -p "$fake3/include/oneapi/dnnl"
printf '#define DNNL_VERSION_MAJOR 3\n#define DNNL_VERSION_MINOR 1\n#define DNNL_VERSION_PATCH 0\n' \
    > "$fake3/include/oneapi/dnnl/dnnl_version.h"
: > "$fake3/include/oneapi/dnnl/dnnl.hpp"
configured onednn3 -DTG_ONEDNN_INCLUDE_DIR="$fake3/include"
says onednn3 "^-- tapegrad: oneDNN 3\.1\.0 not used: .* is not 2\.x"

# Turned off by hand.
configured onednn_off -DTG_WITH_ONEDNN=OFF -DTG_WITH_MPI=OFF
says onednn_off "^-- tapegrad: oneDNN not used \(TG_WITH_ONEDNN=OFF\); products run through the CBLAS only"
says onednn_off "^-- tapegrad: MPI not used \(TG_WITH_MPI=OFF\); no tapegrad::distributed"

# MPI without its compiler wrapper (libopenmpi-dev half there).
configured no_mpi -DMPI_CXX_COMPILER=/nonexistent/mpicxx -DMPI_C_COMPILER=/nonexistent/mpicc
says no_mpi "^-- tapegrad: MPI not used: .*libopenmpi-dev"

# A libtorch whose config file stops the configure (the benchmarks need CLI11 and Google
# Benchmark, which the scripts install).
mkdir -p "$work/fake-torch"
echo 'message(FATAL_ERROR "a half-installed libtorch: glog is missing")' > "$work/fake-torch/TorchConfig.cmake"
configured half_torch -DTG_BUILD_BENCH=ON -DTorch_DIR="$work/fake-torch"
says half_torch "^-- tapegrad: libtorch not used: not found or not usable"

# The CBLAS-only library builds, and nothing in it refers to oneDNN.
echo "== half_onednn: building tapegrad::core"
cmake --build "$work/half_onednn" --target tapegrad_core --parallel "$(nproc)" > "$work/build.log" 2>&1 ||
    { tail -40 "$work/build.log"; fail "the CBLAS-only tapegrad::core did not build"; }
lib="$(find "$work/half_onednn" -name 'libtapegrad_core.a' | head -n 1)"
[ -n "$lib" ] || fail "no libtapegrad_core.a"
if nm -C "$lib" 2> /dev/null | grep -q "dnnl"; then fail "the CBLAS-only library refers to oneDNN"; fi
echo "configure_optional: ok"
