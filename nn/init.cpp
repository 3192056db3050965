#include "nn/init.hpp"

#include "core/dispatch.hpp"

namespace tg::nn::init {

void normal_(Tensor& t, double mean, double std, Generator& gen) {
    dispatch_floating("normal_", t.dtype(), [&](auto tag) {
        using T = decltype(tag);
        T* p = t.data<T>();
        for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(mean + std * gen.normal());
    });
    ++t.impl()->version;
}

void uniform_(Tensor& t, double low, double high, Generator& gen) {
    dispatch_floating("uniform_", t.dtype(), [&](auto tag) {
        using T = decltype(tag);
        T* p = t.data<T>();
        for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(low + (high - low) * gen.uniform());
    });
    ++t.impl()->version;
}

}  // namespace tg::nn::init
