#include "nn/init.hpp"

#include <cmath>

#include "core/check.hpp"
#include "core/internal/dispatch.hpp"

namespace tg::nn::init {

void normal_(Tensor& t, double mean, double std, Generator& gen) {
    dispatch_floating("normal_", t.dtype(), [&](auto tag) {
        using T = decltype(tag);
        T* p = t.data<T>();
        for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(mean + std * gen.normal());
    });
    t.mark_modified();
}

void uniform_(Tensor& t, double low, double high, Generator& gen) {
    dispatch_floating("uniform_", t.dtype(), [&](auto tag) {
        using T = decltype(tag);
        T* p = t.data<T>();
        for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(low + (high - low) * gen.uniform());
    });
    t.mark_modified();
}

void xavier_uniform_(Tensor& t, Generator& gen) {
    TG_CHECK(t.dim() >= 2, ShapeError, "xavier_uniform_: needs a weight of at least 2 dims (out, in, ...), got {}",
             shape_str(t.shape()));
    const int64_t receptive = t.numel() / (t.shape()[0] * t.shape()[1]);
    const double fan_in = static_cast<double>(t.shape()[1] * receptive);
    const double fan_out = static_cast<double>(t.shape()[0] * receptive);
    const double a = std::sqrt(6.0 / (fan_in + fan_out));
    uniform_(t, -a, a, gen);
}

}  // namespace tg::nn::init
