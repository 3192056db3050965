// The CBLAS library is loaded at run time (dlopen), not linked, for one reason: OpenBLAS picks
// its kernels once, while it loads, from OPENBLAS_CORETYPE or its own CPU table, and
// OpenBLAS 0.3.21 does not know recent CPUs (on an AVX-512 Xeon of family 6, model 207 it
// falls back to SSE3 kernels at a quarter of the speed). Loading it ourselves lets us read the
// CPU's features with cpuid first and name the right core type before it initialises, while
// the process is still single-threaded (a static initialiser). A core type the user set is
// never overridden, and TG_BLAS_LIBRARY selects another CBLAS (BLIS, a reference BLAS).
#include "core/kernels/blas.hpp"

#include <cpuid.h>
#include <dlfcn.h>
#include <omp.h>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/kernels/onednn.hpp"

namespace tg::kernels {

namespace {

// CBLAS enum values (fixed by the CBLAS standard).
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

using SgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int,
                         float, float*, int);
using DgemmFn = void (*)(int, int, int, int, int, int, double, const double*, int, const double*,
                         int, double, double*, int);
using SetThreadsFn = void (*)(int);
using NameFn = char* (*)();

uint64_t xgetbv0() {
    uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (static_cast<uint64_t>(hi) << 32) | lo;
}

}  // namespace

namespace {

CpuFeatures detected_cpu_features() {
    CpuFeatures f;
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
    f.amd = b == 0x68747541;  // "Auth" of AuthenticAMD
    if (a < 7 || !__get_cpuid(1, &a, &b, &c, &d)) return f;
    const bool osxsave = c & (1u << 27), avx = c & (1u << 28), fma = c & (1u << 12);
    if (!osxsave || !avx) return f;
    const uint64_t xcr0 = xgetbv0();
    const bool ymm_state = (xcr0 & 0x6) == 0x6, zmm_state = (xcr0 & 0xe6) == 0xe6;
    __get_cpuid_count(7, 0, &a, &b, &c, &d);
    const bool avx2 = b & (1u << 5);
    f.avx2_fma = ymm_state && avx2 && fma;
    // SkylakeX's kernels use F, CD, BW, DQ and VL.
    const unsigned need512 = (1u << 16) | (1u << 17) | (1u << 28) | (1u << 30) | (1u << 31);
    f.avx512 = f.avx2_fma && zmm_state && (b & need512) == need512;
    // AMX: AMX-TILE (edx bit 24) and AMX-BF16 (bit 22), with the OS saving tile state (XCR0
    // bits 17 and 18); oneDNN asks Linux for the tiles itself.
    const bool tile_state = (xcr0 & (3u << 17)) == (3u << 17);
    f.amx_bf16 = f.avx512 && tile_state && (d & (1u << 24)) && (d & (1u << 22));
    // AVX512_BF16: leaf 7, sub-leaf 1, eax bit 5.
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) f.avx512_bf16 = f.avx512 && (a & (1u << 5));
    return f;
}

}  // namespace

std::string ascii_lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

CpuFeatures cap_cpu_features(CpuFeatures f, CpuIsaCap cap) {
    switch (cap) {
        case CpuIsaCap::avx2: f.avx512 = false; [[fallthrough]];
        case CpuIsaCap::avx512: f.avx512_bf16 = false; [[fallthrough]];
        case CpuIsaCap::avx512_bf16: f.amx_bf16 = false; [[fallthrough]];
        case CpuIsaCap::none: break;
    }
    return f;
}

const char* cpu_isa_cap_name(CpuIsaCap cap) {
    switch (cap) {
        case CpuIsaCap::avx2: return "avx2";
        case CpuIsaCap::avx512: return "avx512";
        case CpuIsaCap::avx512_bf16: return "avx512_bf16";
        case CpuIsaCap::none: break;
    }
    return "";
}

CpuIsaCap cpu_isa_cap() {
    static const CpuIsaCap cap = [] {
        const char* env = std::getenv("TG_MAX_CPU_ISA");
        if (!env || !*env) return CpuIsaCap::none;
        const std::string v = ascii_lower(env);
        for (CpuIsaCap c : {CpuIsaCap::avx2, CpuIsaCap::avx512, CpuIsaCap::avx512_bf16})
            if (v == cpu_isa_cap_name(c)) return c;
        if (v != "all" && v != "none")
            fmt::print(stderr, "tapegrad: TG_MAX_CPU_ISA={} is not one of avx2, avx512, avx512_bf16, all; "
                               "no ceiling\n", env);
        return CpuIsaCap::none;
    }();
    return cap;
}

CpuFeatures cpu_features() {
    static const CpuFeatures f = cap_cpu_features(detected_cpu_features(), cpu_isa_cap());
    return f;
}

namespace {

struct Library {
    void* handle = nullptr;
    SgemmFn sgemm = nullptr;
    DgemmFn dgemm = nullptr;
    SetThreadsFn set_threads = nullptr;
    int (*get_threads)() = nullptr;  // OpenBLAS only
    NameFn corename = nullptr, config = nullptr;
    std::string path, chosen_core, error;
};

}  // namespace

CoreChoice choose_openblas_core(const CpuFeatures& cpu, const std::string& user) {
    const char* best = cpu.avx512 ? "SkylakeX" : cpu.avx2_fma ? (cpu.amd ? "Zen" : "Haswell") : "";
    if (!user.empty()) {
        // A user's choice stands, unless its kernels need instructions this CPU lacks (OpenBLAS
        // would die with SIGILL on the first product).
        const std::string u = ascii_lower(user);
        const bool needs512 = u == "skylakex" || u == "cooperlake" || u == "sapphirerapids";
        const bool needs2 = needs512 || u == "haswell" || u == "zen";
        if ((needs512 && !cpu.avx512) || (needs2 && !cpu.avx2_fma))
            return {best, fmt::format("{} (chosen by tapegrad: OPENBLAS_CORETYPE={} needs {}, which this CPU lacks)",
                                      *best ? best : "OpenBLAS's own choice", user, needs512 ? "AVX-512" : "AVX2")};
        return {user, fmt::format("{} (set by the user)", user)};
    }
    if (!*best) return {"", ""};
    return {best, fmt::format("{} (chosen by tapegrad: {})", best, cpu.avx512 ? "AVX-512 F/CD/BW/DQ/VL" : "AVX2 + FMA")};
}

namespace {

Library load() {
    Library lib;
    const char* env = std::getenv("OPENBLAS_CORETYPE");
    const CoreChoice choice = choose_openblas_core(cpu_features(), env ? env : "");
    if (choice.core.empty()) unsetenv("OPENBLAS_CORETYPE");
    else setenv("OPENBLAS_CORETYPE", choice.core.c_str(), 1);
    lib.chosen_core = choice.description;
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("TG_BLAS_LIBRARY"); env && *env) candidates.push_back(env);
    // OpenBLAS built for OpenMP first: its threads are then tapegrad's OpenMP threads (one
    // pool); the pthread build keeps a second pool that spins against OpenMP's on 2 cores.
#ifdef TG_SYSTEM_LIBDIR
    candidates.push_back(TG_SYSTEM_LIBDIR "/openblas-openmp/libopenblas.so.0");
#endif
    candidates.insert(candidates.end(), {"libopenblas.so.0", "libopenblas.so"});
#ifdef TG_OPENBLAS_LIBDIR
    candidates.push_back(TG_OPENBLAS_LIBDIR "/libopenblas.so.0");
#endif
    candidates.insert(candidates.end(), {"libcblas.so.3", "libblas.so.3"});
    std::string tried;
    for (const std::string& name : candidates) {
        void* h = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            tried += fmt::format("\n  {}: {}", name, dlerror());
            continue;
        }
        auto* sgemm = reinterpret_cast<SgemmFn>(dlsym(h, "cblas_sgemm"));
        auto* dgemm = reinterpret_cast<DgemmFn>(dlsym(h, "cblas_dgemm"));
        if (!sgemm || !dgemm) {
            tried += fmt::format("\n  {}: no cblas_sgemm/cblas_dgemm", name);
            dlclose(h);
            continue;
        }
        lib.handle = h;
        lib.sgemm = sgemm;
        lib.dgemm = dgemm;
        lib.path = name;
        lib.set_threads = reinterpret_cast<SetThreadsFn>(dlsym(h, "openblas_set_num_threads"));
        if (!lib.set_threads) lib.set_threads = reinterpret_cast<SetThreadsFn>(dlsym(h, "bli_thread_set_num_threads"));
        lib.get_threads = reinterpret_cast<int (*)()>(dlsym(h, "openblas_get_num_threads"));
        lib.corename = reinterpret_cast<NameFn>(dlsym(h, "openblas_get_corename"));
        lib.config = reinterpret_cast<NameFn>(dlsym(h, "openblas_get_config"));
        return lib;
    }
    lib.error = fmt::format(
        "no CBLAS library could be loaded (install Debian's libopenblas0, or set TG_BLAS_LIBRARY "
        "to a CBLAS shared library); tried:{}", tried);
    return lib;
}

const Library& library() {
    static const Library lib = load();
    return lib;
}

const Library& checked() {
    const Library& lib = library();
    if (!lib.handle) throw Error("matmul: " + lib.error);
    return lib;
}

// Load while static initialisers run (single-threaded, before main), so that setenv cannot
// race with another thread's getenv.
[[maybe_unused]] const bool g_loaded_early = (library(), true);

int transpose(bool t) { return t ? kTrans : kNoTrans; }

// Products too small to repay a second thread's fork and join run on one. OpenBLAS's OpenMP
// build sizes its team from omp_get_max_threads() at each call, so lowering it around the call
// is enough (the pthread build ignores it).
// The cut-off, 2^25 multiply-adds (a 2048 x 128 x 128 product), was measured on the benchmark
// GPTs: S at 2 threads went from 4.0 to 3.3 ms per step, M and L did not change.
constexpr int64_t kSerialMacs = int64_t{1} << 25;
struct SerialIfSmall {
    int saved = 0;
    explicit SerialIfSmall(int64_t macs) {
        if (macs < kSerialMacs && !omp_in_parallel() && (saved = omp_get_max_threads()) > 1) omp_set_num_threads(1);
        else saved = 0;
    }
    ~SerialIfSmall() {
        if (saved <= 1) return;
        omp_set_num_threads(saved);
        // OpenBLAS followed the 1 down if it sized a team during the call, and stays at one
        // thread until told otherwise (its OpenMP build checks omp_get_max_threads() only while
        // above one).
        blas_raise_threads(saved);
    }
    SerialIfSmall(const SerialIfSmall&) = delete;
    SerialIfSmall& operator=(const SerialIfSmall&) = delete;
};

// An empty inner dimension leaves C = beta * C; CBLAS would reject the zero leading dims.
template <class T>
void scale_only(int64_t m, int64_t n, T beta, T* c, int64_t ldc) {
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
}

}  // namespace

// The automatic rule, from measurements. A oneDNN call costs about 5 us before any arithmetic
// (primitive lookup, memory descriptors, its dispatch) against OpenBLAS's 0.4 us, so products
// below 2^18 multiply-adds (a 64^3 product) stay with the CBLAS. Above it, the CPU decides:
// - AVX-512: oneDNN. On an Intel Xeon its float32 kernels ran 1.1-1.25x faster than OpenBLAS
//   sgemm on 2048 x 768 x 256-sized products and 3x faster on 512 x 64 x 64 at two threads.
// - AVX2 only: OpenBLAS. On an AMD EPYC (Zen, AVX2) oneDNN's float32 matmul (its gemm:jit
//   kernel) was even with OpenBLAS at 64^3-128^3 and up to 1.2x slower on the GPT's products
//   (bench/kernels_bench: BM_matmul_engine, BM_linear_engine); the L model's step was 1.1x
//   slower with it.
// bf16 products go to oneDNN whatever this rule says (kernels/mixed.cpp).
constexpr int64_t kOnednnMinMacs = int64_t{1} << 18;

GemmEngine choose_gemm_engine(const CpuFeatures& cpu, int64_t m, int64_t n, int64_t k, bool onednn_available,
                              MatmulEngine setting) {
    if (!onednn_available || setting == MatmulEngine::cblas) return GemmEngine::cblas;
    if (setting == MatmulEngine::onednn) return GemmEngine::onednn;
    return cpu.avx512 && m * n * k >= kOnednnMinMacs ? GemmEngine::onednn : GemmEngine::cblas;
}

namespace {

MatmulEngine setting_from_env() {
    const char* env = std::getenv("TG_MATMUL_ENGINE");
    if (!env || !*env) return MatmulEngine::automatic;
    const std::string v = ascii_lower(env);
    if (v == "auto" || v == "automatic") return MatmulEngine::automatic;
    if (v == "cblas" || v == "openblas" || v == "blas") return MatmulEngine::cblas;
    if (v == "onednn" || v == "dnnl") {
        if (onednn::available()) return MatmulEngine::onednn;
        // What set_matmul_engine refuses, the variable cannot force: the setting (and so
        // matmul_engine() and blas_info()) must say what runs.
        fmt::print(stderr, "tapegrad: TG_MATMUL_ENGINE={} asks for oneDNN, but {}; using auto\n", env,
                   onednn::description());
        return MatmulEngine::automatic;
    }
    fmt::print(stderr, "tapegrad: TG_MATMUL_ENGINE={} is not one of auto, cblas, onednn; using auto\n", env);
    return MatmulEngine::automatic;
}

std::atomic<MatmulEngine>& engine_setting() {
    static std::atomic<MatmulEngine> s{setting_from_env()};
    return s;
}

}  // namespace

MatmulEngine gemm_engine_setting() { return engine_setting().load(std::memory_order_relaxed); }

void set_gemm_engine_setting(MatmulEngine setting) {
    if (setting == MatmulEngine::onednn && !onednn::available())
        throw Error("set_matmul_engine: oneDNN was asked for, but " + onednn::description());
    engine_setting().store(setting, std::memory_order_relaxed);
}

void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
    if (m == 0 || n == 0) return;
    if (k == 0) return scale_only(m, n, beta, c, ldc);
    const SerialIfSmall serial(m * n * k);
    static const bool have_onednn = onednn::available();
    static const CpuFeatures cpu = cpu_features();
    if (choose_gemm_engine(cpu, m, n, k, have_onednn, gemm_engine_setting()) == GemmEngine::onednn)
        return onednn::gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    checked().sgemm(kRowMajor, transpose(ta), transpose(tb), static_cast<int>(m), static_cast<int>(n),
                    static_cast<int>(k), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb),
                    beta, c, static_cast<int>(ldc));
}

void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
          int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
    if (m == 0 || n == 0) return;
    if (k == 0) return scale_only(m, n, beta, c, ldc);
    const SerialIfSmall serial(m * n * k);
    checked().dgemm(kRowMajor, transpose(ta), transpose(tb), static_cast<int>(m), static_cast<int>(n),
                    static_cast<int>(k), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb),
                    beta, c, static_cast<int>(ldc));
}

void blas_set_num_threads(int n) {
    const Library& lib = library();
    if (lib.set_threads) lib.set_threads(n);
}

void blas_raise_threads(int n) {
    const Library& lib = library();
    if (!lib.get_threads || !lib.set_threads || lib.get_threads() >= n) return;
    static std::mutex m;  // OpenBLAS's thread count is process-wide: one caller at a time
    const std::lock_guard lock(m);
    if (lib.get_threads() < n) lib.set_threads(n);
}

std::string blas_description() {
    const Library& lib = library();
    std::string s;
    if (!lib.handle) s = "none: " + lib.error;
    else {
        s = lib.config ? std::string(lib.config()) : lib.path;
        if (lib.corename) s += fmt::format(", core {}", lib.corename());
        if (!lib.chosen_core.empty()) s += fmt::format(", OPENBLAS_CORETYPE={}", lib.chosen_core);
    }
    if (const CpuIsaCap cap = cpu_isa_cap(); cap != CpuIsaCap::none)
        s += fmt::format("; CPU taken as at most {} (TG_MAX_CPU_ISA)", cpu_isa_cap_name(cap));
    const bool wide = cpu_features().avx512 && onednn::available();
    const char* setting = gemm_engine_setting() == MatmulEngine::cblas    ? "cblas (forced)"
                          : gemm_engine_setting() == MatmulEngine::onednn ? "onednn (forced)"
                          : wide ? "automatic (oneDNN from 2^18 multiply-adds, the CBLAS below)"
                                 : "automatic (the CBLAS; oneDNN's float32 kernels are used on AVX-512 CPUs only)";
    return fmt::format("{}; {}; f32 engine: {}", s, onednn::description(), setting);
}

}  // namespace tg::kernels
