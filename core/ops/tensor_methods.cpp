// Tensor's op methods: each forwards to the free function (one definition of every op).
#include "core/ops.hpp"

namespace tg {

Tensor Tensor::sum() const { return tg::sum(*this); }
Tensor Tensor::sum(int64_t dim, bool keepdim) const { return tg::sum(*this, dim, keepdim); }
Tensor Tensor::mean() const { return tg::mean(*this); }
Tensor Tensor::mean(int64_t dim, bool keepdim) const { return tg::mean(*this, dim, keepdim); }
Tensor Tensor::max() const { return tg::max(*this); }
Tensor Tensor::max(int64_t dim, bool keepdim) const { return tg::max(*this, dim, keepdim); }
Tensor Tensor::reshape(const Shape& shape) const { return tg::reshape(*this, shape); }
Tensor Tensor::transpose(int64_t dim0, int64_t dim1) const { return tg::transpose(*this, dim0, dim1); }
Tensor Tensor::permute(const std::vector<int64_t>& dims) const { return tg::permute(*this, dims); }
Tensor Tensor::slice(int64_t dim, int64_t start, int64_t end, int64_t step) const {
    return tg::slice(*this, dim, start, end, step);
}
Tensor Tensor::matmul(const Tensor& other) const { return tg::matmul(*this, other); }
Tensor Tensor::neg() const { return tg::neg(*this); }
Tensor Tensor::exp() const { return tg::exp(*this); }
Tensor Tensor::log() const { return tg::log(*this); }
Tensor Tensor::tanh() const { return tg::tanh(*this); }
Tensor Tensor::sqrt() const { return tg::sqrt(*this); }
Tensor Tensor::pow(double exponent) const { return tg::pow(*this, exponent); }
Tensor Tensor::relu() const { return tg::relu(*this); }
Tensor Tensor::sigmoid() const { return tg::sigmoid(*this); }
Tensor Tensor::gelu() const { return tg::gelu(*this); }
Tensor Tensor::softmax(int64_t dim) const { return tg::softmax(*this, dim); }
Tensor Tensor::log_softmax(int64_t dim) const { return tg::log_softmax(*this, dim); }

}  // namespace tg
