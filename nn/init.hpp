#pragma once
/// \file
/// In-place initialisers for parameters (not recorded on the tape).
#include "../core/random.hpp"
#include "../core/tensor.hpp"

/// In-place initialisers for parameters, as PyTorch's torch.nn.init: they write t's data
/// without recording on the tape, for f32 and f64 tensors (DtypeError otherwise).
namespace tg::nn::init {

/// t = mean + std * N(0, 1), drawn from gen.
void normal_(Tensor& t, double mean, double std, Generator& gen);
/// t = U(low, high), drawn from gen.
void uniform_(Tensor& t, double low, double high, Generator& gen);
/// Xavier (Glorot) uniform for a weight (out, in, ...): U(-a, a), a = sqrt(6 / (fan_in +
/// fan_out)), fan_in = in * receptive field, fan_out = out * receptive field, as PyTorch's
/// nn.init.xavier_uniform_. t must have at least 2 dims.
void xavier_uniform_(Tensor& t, Generator& gen);

}  // namespace tg::nn::init
