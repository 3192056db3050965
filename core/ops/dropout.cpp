// Inverted dropout: survivors are scaled at training time so evaluation is the identity.
#include "core/ops/common.hpp"
#include "core/random.hpp"
#include "core/internal/profiler.hpp"
#include "core/internal/rng_log.hpp"

namespace tg {

/// y = x * mask, mask_i = 1/(1-p) with probability 1-p, else 0.  dx = dy * mask
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
    const detail::OpScope scope("dropout");
    detail::check_floating("dropout", x);
    check_probability("dropout", p);
    if (!training || p == 0.0) return x;
    detail::note_generator(gen);
    Tensor mask = Tensor::empty(x.shape(), x.dtype());
    dispatch_floating("dropout", x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        T* m = mask.data<T>();
        const T keep = p < 1.0 ? static_cast<T>(1.0 / (1.0 - p)) : T(0);
        for (int64_t i = 0; i < mask.numel(); ++i) m[i] = gen.uniform() < p ? T(0) : keep;
    });
    Tensor y;
    {
        NoGradGuard ng;
        y = mul(x, mask);
    }
    return record("dropout", y, {x}, [mask](const Tensor& dy, const Tensor&) {
        return Grads{mul(dy, mask)};  // recorded when a graph is being created
    }, BackwardReads::values, Differentiable::twice);
}

}  // namespace tg
