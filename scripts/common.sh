# Shared by scripts/test and scripts/train: installs what tapegrad needs from Debian and
# configures + builds it. Sourced, not run.
TG_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TG_BUILD="${TG_BUILD_DIR:-$TG_ROOT/build}"
# make: CMake's default generator, which README's install steps and the consumer tests use.
TG_PACKAGES=(g++ cmake make ninja-build pkg-config libxtensor-dev libxsimd-dev libfmt-dev catch2
             libopenblas-dev libopenblas0-openmp nlohmann-json3-dev libcli11-dev
             libbenchmark-dev libopenmpi-dev openmpi-bin zlib1g-dev libpcre2-dev libdnnl-dev
             dataset-fashion-mnist)

# What only the tests need besides: procps (pgrep, pkill) for the kill-and-resume test, python3
# for the check of the profiler's Chrome trace (tests/check_trace.py).
TG_TEST_PACKAGES=(procps python3)

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

# The value of NAME in the build's CMake cache ("" when absent).
tg_cache_value() {
    sed -n "s/^$1:[A-Z]*=//p" "$TG_BUILD/CMakeCache.txt" 2>/dev/null | head -n 1
}

# True when a CMake boolean or value matches what was asked for.
tg_same_setting() {
    local have="${1^^}" want="${2^^}"
    case "$want" in ON | TRUE | YES | 1) [[ "$have" =~ ^(ON|TRUE|YES|1|Y)$ ]]; return ;; esac
    case "$want" in OFF | FALSE | NO | 0) [[ "$have" =~ ^(OFF|FALSE|NO|0|N|)$ ]]; return ;; esac
    [ "$have" = "$2" ]
}

# tg_build [-DNAME=VALUE ...] [TARGET ...]: configures $TG_BUILD when it is new or lacks one of
# the settings asked for (keeping everything else the user chose there, generator included),
# then builds the targets (all by default). Quiet when there is nothing to do; the full output
# goes to $TG_BUILD/tapegrad-*.log and is printed when a step fails.
tg_build() {
    local defs=() targets=() need=0
    for a in "$@"; do
        case "$a" in -D*) defs+=("$a") ;; *) targets+=("$a") ;; esac
    done
    if [ ! -f "$TG_BUILD/CMakeCache.txt" ]; then
        need=1
        defs=(-G Ninja -DCMAKE_BUILD_TYPE=Release "${defs[@]}")
    else
        for d in "${defs[@]}"; do
            local kv="${d#-D}" name value
            name="${kv%%=*}" value="${kv#*=}"
            name="${name%%:*}"
            tg_same_setting "$(tg_cache_value "$name")" "$value" || need=1
        done
    fi
    mkdir -p "$TG_BUILD"
    if [ $need -eq 1 ]; then
        echo "tapegrad: configuring $TG_BUILD ${defs[*]}"
        cmake -S "$TG_ROOT" -B "$TG_BUILD" "${defs[@]}" > "$TG_BUILD/tapegrad-configure.log" 2>&1 ||
            { cat "$TG_BUILD/tapegrad-configure.log" >&2; echo "tapegrad: configuring failed" >&2; return 1; }
    fi
    local target_args=()
    for t in "${targets[@]}"; do target_args+=(--target "$t"); done
    if ! cmake --build "$TG_BUILD" --parallel "$(nproc)" "${target_args[@]}" > "$TG_BUILD/tapegrad-build.log" 2>&1; then
        cat "$TG_BUILD/tapegrad-build.log" >&2
        echo "tapegrad: the build failed (log: $TG_BUILD/tapegrad-build.log)" >&2
        return 1
    fi
    # Ninja and Make both name each compile and link step; nothing of the kind: nothing to say.
    if grep -Eq "Building|Linking|Re-running CMake" "$TG_BUILD/tapegrad-build.log"; then
        echo "tapegrad: built ${targets[*]:-everything} in $TG_BUILD"
    fi
}
