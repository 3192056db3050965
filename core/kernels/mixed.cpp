// The bf16 route is decided once per product from the CPU's features (cpuid), the build
// (oneDNN or not) and the product's shape. Emulation exists so that bf16's numbers can be
// tested and a model's accuracy checked on CPUs without bf16 units; it is never chosen on its
// own.
#include "core/kernels/mixed.hpp"

#include <atomic>
#include <bit>
#include <cstdlib>
#include <vector>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/kernels/bf16.hpp"
#include "core/kernels/onednn.hpp"

namespace tg::kernels {

Bf16Route choose_bf16_route(const CpuFeatures& cpu, bool onednn_available, bool emulate, int64_t m, int64_t n,
                            int64_t k) {
    if (m * n * k < kBf16MinMacs || m < kBf16MinSide || n < kBf16MinSide || k < kBf16MinSide)
        return Bf16Route::float32;
    if (onednn_available && (cpu.amx_bf16 || cpu.avx512_bf16)) return Bf16Route::onednn;
    return emulate ? Bf16Route::emulated : Bf16Route::float32;
}

namespace {

std::atomic<bool>& emulation() {
    static std::atomic<bool> on{[] {
        const char* env = std::getenv("TG_AUTOCAST_EMULATE");
        if (!env || !*env) return false;
        const std::string v = ascii_lower(env);
        if (v == "1" || v == "true" || v == "on" || v == "yes") return true;
        if (v != "0" && v != "false" && v != "off" && v != "no")
            fmt::print(stderr, "tapegrad: TG_AUTOCAST_EMULATE={} is not one of 1, true, on, yes, 0, false, off, no; "
                               "emulation stays off\n", env);
        return false;
    }()};
    return on;
}

// The stored extent of an operand: rows x cols seen through ld, transposed or not.
int64_t stored_elems(bool trans, int64_t rows, int64_t cols, int64_t ld) {
    const int64_t stored_rows = trans ? cols : rows, stored_cols = trans ? rows : cols;
    return stored_rows == 0 ? 0 : (stored_rows - 1) * ld + stored_cols;
}

}  // namespace

Bf16Route bf16_route(int64_t m, int64_t n, int64_t k) {
    static const CpuFeatures cpu = cpu_features();
    static const bool have_onednn = onednn::available();
    return choose_bf16_route(cpu, have_onednn, emulation().load(std::memory_order_relaxed), m, n, k);
}

bool set_bf16_emulation(bool on) { return emulation().exchange(on); }

std::string bf16_description() {
    const CpuFeatures cpu = cpu_features();
    const char* units = cpu.amx_bf16 ? "AMX-BF16" : cpu.avx512_bf16 ? "AVX512_BF16" : nullptr;
    static_assert(std::has_single_bit(static_cast<uint64_t>(kBf16MinMacs)), "the rule names a power of two");
    const std::string rule = fmt::format("products of at least 2^{} multiply-adds with every side >= {}; smaller "
                                         "ones stay float32",
                                         std::countr_zero(static_cast<uint64_t>(kBf16MinMacs)), kBf16MinSide);
    if (units && onednn::available()) return fmt::format("bf16 through oneDNN ({}), for {}", units, rule);
    const CpuIsaCap cap = cpu_isa_cap();
    const std::string who = cap == CpuIsaCap::none ? std::string("this CPU")
                                                   : fmt::format("this CPU (taken as at most {} by TG_MAX_CPU_ISA)",
                                                                 cpu_isa_cap_name(cap));
    std::string why = units ? fmt::format("{} has {}, but {}", who, units, onednn::description())
                            : who + " has no bf16 instructions (AMX-BF16 or AVX512_BF16)";
    if (emulation().load()) return fmt::format("bf16 emulated in float32 (TG_AUTOCAST_EMULATE; {}), for {}", why, rule);
    return fmt::format("float32: {}, so products under Autocast run in float32", why);
}

void gemm_bf16(Bf16Route route, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const uint16_t* a,
               int64_t lda, const uint16_t* b, int64_t ldb, float beta, float* c, int64_t ldc) {
    if (route == Bf16Route::onednn) return onednn::gemm_bf16(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    if (route != Bf16Route::emulated) throw Error("matmul: a bf16 product was asked for on the float32 route");
    // bf16 -> float32 is exact and a product of two bf16 values is exact in float32, so this is
    // bf16's arithmetic with float32 accumulation.
    // The widened copies live in per-thread buffers that only grow, so steady state allocates
    // nothing here either.
    static thread_local std::vector<float> fa, fb;
    const int64_t na = stored_elems(ta, m, k, lda), nb = stored_elems(tb, k, n, ldb);
    if (static_cast<int64_t>(fa.size()) < na) fa.resize(static_cast<std::size_t>(na));
    if (static_cast<int64_t>(fb.size()) < nb) fb.resize(static_cast<std::size_t>(nb));
    from_bf16(a, fa.data(), na);
    from_bf16(b, fb.data(), nb);
    gemm(ta, tb, m, n, k, alpha, fa.data(), lda, fb.data(), ldb, beta, c, ldc);
}

}  // namespace tg::kernels
