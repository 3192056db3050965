#pragma once
/// \file
/// Mixed precision for matrix products, with PyTorch's autocast semantics on the CPU. While an
/// Autocast(Dtype::bf16) guard is alive on a thread, matmul and linear on float32 operands take
/// bfloat16 copies of their inputs, multiply them with float32 accumulation and return float32;
/// their backward, whenever it runs, does the same with the copies the forward made. Everything
/// else (layer_norm, softmax, attention, losses, reductions) stays float32, and so do parameters,
/// gradients and optimizer state: the float32 weights are the masters, so no loss scaling is
/// needed. A weight's bf16 copy is made once while the guard lives and reused by every product
/// that reads it (forward and backward), until the weight changes.
///
/// Where bf16 runs: on CPUs with bf16 instructions (AMX tiles or AVX512_BF16) through oneDNN,
/// for products big enough to repay the casts (autocast_info() states the rule). Elsewhere the
/// products stay float32 and autocast_info() says why (the example and tapegrad-bench print it):
/// never a slow emulation by surprise; TG_AUTOCAST_EMULATE=1 asks for one, to check accuracy.
/// float64 operands are never touched, so gradcheck is unaffected.
#include <cstdint>
#include <string>

#include "dtype.hpp"

namespace tg {

/// While alive, float32 products on this thread run in `dtype` (only Dtype::bf16 is supported)
/// where this CPU can; `enabled = false` turns autocast off inside an enclosing guard. Guards
/// nest; the outermost one's end drops the cached weight copies.
class Autocast {
public:
    /// Turns autocast on (or, with `enabled = false`, off) for this thread until destruction.
    /// Throws DtypeError for any dtype but Dtype::bf16.
    explicit Autocast(Dtype dtype = Dtype::bf16, bool enabled = true);
    ~Autocast();
    Autocast(const Autocast&) = delete;
    Autocast& operator=(const Autocast&) = delete;

private:
    bool prev_enabled_;
    int prev_depth_;
};

/// Whether an Autocast guard is on for this thread.
bool is_autocast_enabled();

/// What autocast does on this machine, e.g. "bf16 through oneDNN (AMX-BF16), for products of at
/// least 2^20 multiply-adds with every side >= 32; smaller ones stay float32" or "float32: this
/// CPU has no bf16 instructions (AMX-BF16 or AVX512_BF16), so products under Autocast run in
/// float32".
std::string autocast_info();

}  // namespace tg
