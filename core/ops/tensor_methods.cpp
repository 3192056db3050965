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
Tensor Tensor::narrow(int64_t dim, int64_t start, int64_t length) const {
    return tg::narrow(*this, dim, start, length);
}
Tensor Tensor::select(int64_t dim, int64_t index) const { return tg::select(*this, dim, index); }
Tensor Tensor::operator[](int64_t index) const { return tg::select(*this, 0, index); }
std::vector<Tensor> Tensor::unbind(int64_t dim) const { return tg::unbind(*this, dim); }
Tensor Tensor::view(const Shape& shape) const { return tg::view(*this, shape); }
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
Tensor Tensor::abs() const { return tg::abs(*this); }
Tensor Tensor::sin() const { return tg::sin(*this); }
Tensor Tensor::cos() const { return tg::cos(*this); }
Tensor Tensor::silu() const { return tg::silu(*this); }
Tensor Tensor::clamp(double min, double max) const { return tg::clamp(*this, min, max); }
Tensor Tensor::masked_fill(const Tensor& mask, double value) const { return tg::masked_fill(*this, mask, value); }
Tensor Tensor::gather(int64_t dim, const Tensor& index) const { return tg::gather(*this, dim, index); }
Tensor Tensor::index_select(int64_t dim, const Tensor& index) const { return tg::index_select(*this, dim, index); }
Tensor Tensor::squeeze(int64_t dim) const { return tg::squeeze(*this, dim); }
Tensor Tensor::unsqueeze(int64_t dim) const { return tg::unsqueeze(*this, dim); }
Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const { return tg::flatten(*this, start_dim, end_dim); }
Tensor Tensor::expand(const Shape& shape) const { return tg::expand(*this, shape); }
Tensor Tensor::var(int64_t dim, bool unbiased, bool keepdim) const { return tg::var(*this, dim, unbiased, keepdim); }
Tensor Tensor::min() const { return tg::min(*this); }
Tensor Tensor::min(int64_t dim, bool keepdim) const { return tg::min(*this, dim, keepdim); }
Tensor Tensor::argmax(int64_t dim, bool keepdim) const { return tg::argmax(*this, dim, keepdim); }
Tensor Tensor::logsumexp(int64_t dim, bool keepdim) const { return tg::logsumexp(*this, dim, keepdim); }
Tensor Tensor::sum(const std::vector<int64_t>& dims, bool keepdim) const { return tg::sum(*this, dims, keepdim); }
Tensor Tensor::mean(const std::vector<int64_t>& dims, bool keepdim) const { return tg::mean(*this, dims, keepdim); }
Tensor Tensor::var(const std::vector<int64_t>& dims, bool unbiased, bool keepdim) const {
    return tg::var(*this, dims, unbiased, keepdim);
}
Tensor Tensor::amax(const std::vector<int64_t>& dims, bool keepdim) const { return tg::amax(*this, dims, keepdim); }
Tensor Tensor::amax(int64_t dim, bool keepdim) const { return tg::amax(*this, dim, keepdim); }
Tensor Tensor::amin(const std::vector<int64_t>& dims, bool keepdim) const { return tg::amin(*this, dims, keepdim); }
Tensor Tensor::amin(int64_t dim, bool keepdim) const { return tg::amin(*this, dim, keepdim); }
Tensor Tensor::norm(double p, const std::vector<int64_t>& dims, bool keepdim) const {
    return tg::norm(*this, p, dims, keepdim);
}
Tensor Tensor::cumsum(int64_t dim) const { return tg::cumsum(*this, dim); }
Tensor Tensor::square() const { return tg::square(*this); }
Tensor Tensor::rsqrt() const { return tg::rsqrt(*this); }
Tensor Tensor::gelu(std::string_view approximate) const { return tg::gelu(*this, approximate); }
Tensor Tensor::repeat(const Shape& reps) const { return tg::repeat(*this, reps); }
Tensor Tensor::tril(int64_t diagonal) const { return tg::tril(*this, diagonal); }
Tensor Tensor::triu(int64_t diagonal) const { return tg::triu(*this, diagonal); }
Tensor Tensor::argsort(int64_t dim, bool descending) const { return tg::argsort(*this, dim, descending); }
ValuesIndices Tensor::sort(int64_t dim, bool descending) const { return tg::sort(*this, dim, descending); }
ValuesIndices Tensor::topk(int64_t k, int64_t dim, bool largest) const { return tg::topk(*this, k, dim, largest); }

}  // namespace tg
