#include "nn/init.hpp"

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

}  // namespace tg::nn::init
