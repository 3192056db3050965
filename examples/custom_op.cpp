// README's "Writing your own op": a user-defined op with its own backward, recorded through the
// public record() API, checked with gradcheck, and trained through like any built-in op.
#include <fmt/format.h>

#include <cmath>
#include <tapegrad.hpp>

using namespace tg;

/// softplus(x) = log(1 + exp(x)), computed stably as max(x, 0) + log1p(exp(-|x|)).
/// Its derivative is the logistic sigmoid: dx = dy * sigmoid(x).
Tensor softplus(const Tensor& x) {
    if (x.dtype() != Dtype::f32 && x.dtype() != Dtype::f64)
        throw DtypeError(fmt::format("softplus: expected f32 or f64, got {}", dtype_name(x.dtype())));
    Tensor y = Tensor::empty(x.shape(), x.dtype());
    auto forward = [&](auto zero) {  // the loop, for float or double
        using T = decltype(zero);
        const T* in = x.data<T>();
        T* out = y.data<T>();
        for (int64_t i = 0; i < x.numel(); ++i) out[i] = std::max(in[i], zero) + std::log1p(std::exp(-std::abs(in[i])));
    };
    x.dtype() == Dtype::f32 ? forward(0.0f) : forward(0.0);
    return record("softplus", y, {x}, [x](const Tensor& dy, const Tensor& /*y*/) {
        return Grads{dy * sigmoid(x)};
    });
}

int main() {
    // 1. The backward agrees with central differences in float64.
    Tensor x = Tensor::randn({3, 5}, Dtype::f64, /*seed=*/1).requires_grad_();
    GradcheckResult r = gradcheck([](const std::vector<Tensor>& in) { return softplus(in[0]); }, {x});
    fmt::print("softplus gradcheck: {}\n", r.message());
    if (!r.ok || r.max_rel_error > 1e-6) return 1;

    // 2. It trains like a built-in op: fit w so that softplus(w) matches a target.
    Tensor w = Tensor::zeros({4}).requires_grad_();
    Tensor target = tensor({0.5f, 1.0f, 2.0f, 3.0f});
    optim::SGD opt({w}, {.lr = 2.0});
    float loss = 0;
    for (int step = 0; step < 300; ++step) {
        Tensor l = mse_loss(softplus(w), target);
        opt.zero_grad();
        l.backward();
        opt.step();
        loss = l.item<float>();
    }
    fmt::print("after 300 SGD steps: loss {:.2e}, softplus(w) = {}\n", loss, softplus(w).detach());
    return loss < 1e-6 ? 0 : 1;
}
