#pragma once
// bfloat16 products with float32 accumulation (autocast's products): where they run, and the
// product itself. Operands are bf16 bits (uint16_t), row-major with leading dimensions and
// optional transposes as in kernels::gemm; C is float32.
#include <cstdint>
#include <string>

#include "core/kernels/blas.hpp"

namespace tg::kernels {

/// Where a bf16 product runs: not at all (float32 instead), through oneDNN's bf16 kernels, or
/// emulated (operands widened to float32, then a float32 product: bf16's numbers, float32's
/// speed or less; only when asked for, for tests and for checking accuracy on any CPU).
enum class Bf16Route { float32, onednn, emulated };

/// Products below 2^20 multiply-adds, or with a side under 32, stay float32: the casts and a
/// oneDNN call would cost more than bf16 saves (AMX multiplies 16 x 32 tiles).
inline constexpr int64_t kBf16MinMacs = int64_t{1} << 20, kBf16MinSide = 32;

/// The rule, a pure function of the CPU, the build and the shape: oneDNN when it is there and
/// the CPU has AMX-BF16 or AVX512_BF16; otherwise emulated if asked for, else float32.
Bf16Route choose_bf16_route(const CpuFeatures& cpu, bool onednn_available, bool emulate, int64_t m, int64_t n,
                            int64_t k);
/// The route for this machine and process (TG_AUTOCAST_EMULATE=1 asks for emulation).
Bf16Route bf16_route(int64_t m, int64_t n, int64_t k);
/// For tests: turn emulation on or off (returns the previous setting).
bool set_bf16_emulation(bool on);
/// One line on what bf16 products do here and why (autocast_info()).
std::string bf16_description();

/// C = alpha * op(A) @ op(B) + beta * C with bf16 A and B, float32 accumulation, by `route`
/// (onednn or emulated).
void gemm_bf16(Bf16Route route, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const uint16_t* a, int64_t lda, const uint16_t* b, int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace tg::kernels
