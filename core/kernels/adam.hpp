#pragma once
// The Adam / AdamW element update over whole buffers, as xsimd vector code. The step's
// coefficients come in as doubles and are rounded to the element type once per call.
#include <cstdint>

namespace tg::kernels {

/// The hyperparameters of one step, with bias corrections bc1 = 1 - beta1^t, bc2 = 1 - beta2^t.
struct AdamStepArgs {
    double lr, beta1, beta2, eps, weight_decay;
    double bias_correction1, bias_correction2;
    bool decoupled;  // AdamW: p *= 1 - lr wd; otherwise (Adam) g += wd p
};

/// One step over n elements, as torch.optim defines it (PyTorch's operation order):
///   (AdamW) p *= 1 - lr wd;  (Adam) g += wd p
///   m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2;   (v_max non-null) v_max = max(v_max, v)
///   p -= lr / bc1 * m / (sqrt(v or v_max) / sqrt(bc2) + eps)
/// All buffers 64-byte aligned (tensor storage is); v_max is null without amsgrad.
template <class T>
void adam_step(T* p, const T* g, T* m, T* v, T* v_max, int64_t n, const AdamStepArgs& args);

}  // namespace tg::kernels
