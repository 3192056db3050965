#pragma once
// In-place initialisers for parameters (not recorded on the tape).
#include "../core/random.hpp"
#include "../core/tensor.hpp"

namespace tg::nn::init {

/// t = mean + std * N(0, 1), drawn from gen.
void normal_(Tensor& t, double mean, double std, Generator& gen);
/// t = U(low, high), drawn from gen.
void uniform_(Tensor& t, double low, double high, Generator& gen);

}  // namespace tg::nn::init
