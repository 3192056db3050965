# Shared by scripts/test and scripts/train: installs what tapegrad needs from Debian and
# configures + builds it. Sourced, not run.
TG_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TG_BUILD="${TG_BUILD_DIR:-$TG_ROOT/build}"
TG_PACKAGES=(g++ cmake ninja-build pkg-config libxtensor-dev libxsimd-dev libfmt-dev catch2
             libopenblas-dev libopenblas0-openmp nlohmann-json3-dev libcli11-dev
             libbenchmark-dev libopenmpi-dev openmpi-bin)

# The sanitizer and fuzz stages (scripts/sanitize) also need clang, its sanitizer and libFuzzer
# runtimes, and its OpenMP runtime.
TG_SANITIZE_PACKAGES=(clang libclang-rt-dev libomp-dev)

# Installs TG_PACKAGES plus any packages given as arguments.
tg_install_deps() {
    local missing=()
    for p in "${TG_PACKAGES[@]}" "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "tapegrad: missing Debian packages: ${missing[*]}" >&2
        echo "          install them with: sudo apt-get install ${missing[*]}" >&2
        return 1
    fi
    echo "tapegrad: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

tg_build() {
    cmake -S "$TG_ROOT" -B "$TG_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
    cmake --build "$TG_BUILD" --parallel "$(nproc)"
}
