#include "core/tensor.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "core/check.hpp"
#include "core/grad_mode.hpp"
#include "core/internal/dispatch.hpp"
#include "core/internal/rng_log.hpp"
#include "core/internal/tensor_impl.hpp"
#include "core/kernels/bf16.hpp"
#include "core/random.hpp"

namespace tg {

namespace detail {

namespace {

// A float as an i64 (truncated toward zero, as static_cast), refusing what has no i64 value:
// casting NaN, inf or anything outside [-2^63, 2^63) is undefined behaviour in C++.
int64_t to_int64(double v, Dtype from, int64_t at) {
    TG_CHECK(v >= -0x1p63 && v < 0x1p63, ValueError,
             "to(i64): {} value {} at flat position {} has no i64 value (not finite, or outside the i64 range)",
             dtype_name(from), v, at);
    return static_cast<int64_t>(v);
}

}  // namespace

// bf16 goes through the conversion kernels (each rounding done once, from the source itself);
// b8 converts to 0 and 1 and from "nonzero" (NaN is nonzero, as in C++ and PyTorch); the other
// pairs are plain casts.
template <class To>
void convert_elements(const void* src, Dtype from, To* dst, int64_t n) {
    if constexpr (std::is_same_v<To, bool>) {
        dispatch_all(from, [&](auto tag) {
            using From = decltype(tag);
            const From* s = static_cast<const From*>(src);
            if constexpr (std::is_same_v<From, bfloat16>) {
                for (int64_t i = 0; i < n; ++i) dst[i] = s[i].to_float() != 0.0f || s[i].to_float() != s[i].to_float();
            } else {
                for (int64_t i = 0; i < n; ++i) dst[i] = s[i] != From(0) || s[i] != s[i];
            }
        });
    } else if (from == Dtype::b8) {
        const bool* s = static_cast<const bool*>(src);
        for (int64_t i = 0; i < n; ++i) dst[i] = To(s[i] ? 1.0f : 0.0f);
    } else if constexpr (std::is_same_v<To, bfloat16>) {
        auto* out = reinterpret_cast<uint16_t*>(dst);
        switch (from) {
            case Dtype::f32: return kernels::to_bf16(static_cast<const float*>(src), out, n);
            case Dtype::f64: return kernels::to_bf16(static_cast<const double*>(src), out, n);
            case Dtype::i64: return kernels::to_bf16(static_cast<const int64_t*>(src), out, n);
            case Dtype::bf16:
            case Dtype::b8: break;
        }
        if (n) std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(bfloat16));
    } else {
        if (from == Dtype::bf16) {
            const auto* in = static_cast<const uint16_t*>(src);
            if constexpr (std::is_same_v<To, int64_t>) {
                for (int64_t i = 0; i < n; ++i) dst[i] = to_int64(bfloat16::from_bits(in[i]), from, i);
            } else {
                kernels::from_bf16(in, dst, n);
            }
            return;
        }
        dispatch_numeric("to", from, [&](auto tag) {
            using From = decltype(tag);
            const From* s = static_cast<const From*>(src);
            if constexpr (std::is_same_v<To, int64_t> && !std::is_same_v<From, int64_t>) {
                for (int64_t i = 0; i < n; ++i) dst[i] = to_int64(s[i], from, i);
            } else {
                for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<To>(s[i]);
            }
        });
    }
}
template void convert_elements<float>(const void*, Dtype, float*, int64_t);
template void convert_elements<double>(const void*, Dtype, double*, int64_t);
template void convert_elements<int64_t>(const void*, Dtype, int64_t*, int64_t);
template void convert_elements<bfloat16>(const void*, Dtype, bfloat16*, int64_t);
template void convert_elements<bool>(const void*, Dtype, bool*, int64_t);
}  // namespace detail

// ---- factories ----

Tensor Tensor::empty(const Shape& shape, Dtype dtype) {
    const int64_t n = shape_numel(shape);
    auto storage = std::make_shared<Storage>(static_cast<std::size_t>(n) * dtype_size(dtype));
    return Tensor(std::make_shared<TensorImpl>(std::move(storage), shape, dtype));
}

Tensor Tensor::zeros(const Shape& shape, Dtype dtype) {
    Tensor t = empty(shape, dtype);
    std::memset(t.raw_data(), 0, t.nbytes());
    return t;
}

Tensor Tensor::ones(const Shape& shape, Dtype dtype) { return full(shape, 1.0, dtype); }

Tensor Tensor::full(const Shape& shape, double value, Dtype dtype) {
    Tensor t = empty(shape, dtype);
    t.fill_(value);
    return t;
}

Tensor Tensor::scalar(double value, Dtype dtype) { return full({}, value, dtype); }

Tensor Tensor::arange(double start, double end, double step, Dtype dtype) {
    if (step == 0.0 || !std::isfinite(start) || !std::isfinite(end) || !std::isfinite(step))
        throw ValueError(
            fmt::format("arange: bad range start={} end={} step={}", start, end, step));
    TG_CHECK(dtype != Dtype::b8, DtypeError, "arange: b8 (bool) is not a range dtype; use f32, f64 or i64");
    const double span = (end - start) / step;
    const int64_t n = span > 0 ? static_cast<int64_t>(std::ceil(span)) : 0;
    Tensor t = empty({n}, dtype);
    dispatch_all(dtype, [&](auto tag) {
        using T = decltype(tag);
        T* p = t.data<T>();
        for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + static_cast<double>(i) * step);
    });
    return t;
}

Tensor Tensor::arange(int64_t n, Dtype dtype) {
    return arange(0.0, static_cast<double>(n), 1.0, dtype);
}

Tensor Tensor::randn(const Shape& shape, Dtype dtype) { return randn(shape, dtype, draw_seed()); }
Tensor Tensor::rand(const Shape& shape, Dtype dtype) { return rand(shape, dtype, draw_seed()); }

Tensor Tensor::randn(const Shape& shape, Dtype dtype, uint64_t seed) {
    Generator gen(seed);
    return randn(shape, dtype, gen);
}

Tensor Tensor::randn(const Shape& shape, Dtype dtype, Generator& gen) {
    detail::note_generator(gen);
    TG_CHECK(dtype != Dtype::bf16, DtypeError,
             "randn: bf16 is a storage dtype; draw f32 values and convert them with .to(Dtype::bf16)");
    TG_CHECK(dtype != Dtype::b8, DtypeError, "randn: b8 (bool) has no normal values; compare f32 values instead");
    Tensor t = empty(shape, dtype);
    dispatch_floating("randn", dtype, [&](auto tag) {
        using T = decltype(tag);
        T* p = t.data<T>();
        for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(gen.normal());
    });
    return t;
}

Tensor Tensor::rand(const Shape& shape, Dtype dtype, uint64_t seed) {
    Generator gen(seed);
    return rand(shape, dtype, gen);
}

Tensor Tensor::rand(const Shape& shape, Dtype dtype, Generator& gen) {
    detail::note_generator(gen);
    TG_CHECK(dtype != Dtype::bf16, DtypeError,
             "rand: bf16 is a storage dtype; draw f32 values and convert them with .to(Dtype::bf16)");
    TG_CHECK(dtype != Dtype::b8, DtypeError, "rand: b8 (bool) has no uniform values; compare, as rand(shape) < p");
    Tensor t = empty(shape, dtype);
    dispatch_floating("rand", dtype, [&](auto tag) {
        using T = decltype(tag);
        T* p = t.data<T>();
        for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(gen.uniform());
    });
    return t;
}

Tensor Tensor::randint(int64_t low, int64_t high, const Shape& shape) {
    Generator gen(draw_seed());
    return randint(low, high, shape, gen);
}

Tensor Tensor::randint(int64_t low, int64_t high, const Shape& shape, Generator& gen) {
    detail::note_generator(gen);
    if (high <= low)
        throw ValueError(fmt::format("randint: empty range [{}, {})", low, high));
    Tensor t = empty(shape, Dtype::i64);
    int64_t* p = t.data<int64_t>();
    const auto n = static_cast<uint64_t>(high - low);
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = low + static_cast<int64_t>(gen.below(n));
    return t;
}

namespace {
template <class T>
Tensor from_values(const T* values, std::size_t count, const Shape& shape) {
    const int64_t n = shape_numel(shape);
    TG_CHECK(n == static_cast<int64_t>(count), ShapeError, "tensor: {} values do not fill shape {} ({} elements)",
             count, shape_str(shape), n);
    Tensor t = Tensor::empty(shape, dtype_of<T>());
    if (count) std::memcpy(t.raw_data(), values, count * sizeof(T));
    return t;
}
}  // namespace

Tensor tensor(std::initializer_list<float> v, const Shape& s) { return from_values(v.begin(), v.size(), s); }
Tensor tensor(std::initializer_list<double> v, const Shape& s) { return from_values(v.begin(), v.size(), s); }
Tensor tensor(const std::vector<float>& v, const Shape& s) { return from_values(v.data(), v.size(), s); }
Tensor tensor(const std::vector<double>& v, const Shape& s) { return from_values(v.data(), v.size(), s); }
Tensor tensor(const std::vector<int64_t>& v, const Shape& s) { return from_values(v.data(), v.size(), s); }
Tensor tensor(std::initializer_list<float> v) { return tensor(v, {static_cast<int64_t>(v.size())}); }
Tensor tensor(std::initializer_list<double> v) { return tensor(v, {static_cast<int64_t>(v.size())}); }
Tensor tensor(const std::vector<float>& v) { return tensor(v, {static_cast<int64_t>(v.size())}); }
Tensor tensor(const std::vector<double>& v) { return tensor(v, {static_cast<int64_t>(v.size())}); }
Tensor tensor(const std::vector<int64_t>& v) { return tensor(v, {static_cast<int64_t>(v.size())}); }
Tensor tensor(const std::vector<bool>& v, const Shape& s) {  // vector<bool> packs bits: copy one by one
    const int64_t n = shape_numel(s);
    TG_CHECK(n == static_cast<int64_t>(v.size()), ShapeError, "tensor: {} values do not fill shape {} ({} elements)",
             v.size(), shape_str(s), n);
    Tensor t = Tensor::empty(s, Dtype::b8);
    bool* p = t.data<bool>();
    for (int64_t i = 0; i < n; ++i) p[i] = v[static_cast<std::size_t>(i)];
    return t;
}
Tensor tensor(std::initializer_list<bool> v, const Shape& s) { return tensor(std::vector<bool>(v), s); }
Tensor tensor(const std::vector<bool>& v) { return tensor(v, {static_cast<int64_t>(v.size())}); }
Tensor tensor(std::initializer_list<bool> v) { return tensor(std::vector<bool>(v)); }

namespace {
const Tensor& like_source(const char* op, const Tensor& t) {
    TG_CHECK(t.defined(), ValueError, "{}: the tensor given is undefined (a default-constructed Tensor)", op);
    return t;
}
}  // namespace

Tensor empty_like(const Tensor& t, Dtype d) { return Tensor::empty(like_source("empty_like", t).shape(), d); }
Tensor zeros_like(const Tensor& t, Dtype d) { return Tensor::zeros(like_source("zeros_like", t).shape(), d); }
Tensor ones_like(const Tensor& t, Dtype d) { return Tensor::ones(like_source("ones_like", t).shape(), d); }
Tensor full_like(const Tensor& t, double v, Dtype d) { return Tensor::full(like_source("full_like", t).shape(), v, d); }
Tensor rand_like(const Tensor& t, Dtype d) { return Tensor::rand(like_source("rand_like", t).shape(), d); }
Tensor randn_like(const Tensor& t, Dtype d) { return Tensor::randn(like_source("randn_like", t).shape(), d); }
Tensor empty_like(const Tensor& t) { return empty_like(t, like_source("empty_like", t).dtype()); }
Tensor zeros_like(const Tensor& t) { return zeros_like(t, like_source("zeros_like", t).dtype()); }
Tensor ones_like(const Tensor& t) { return ones_like(t, like_source("ones_like", t).dtype()); }
Tensor full_like(const Tensor& t, double v) { return full_like(t, v, like_source("full_like", t).dtype()); }
Tensor rand_like(const Tensor& t) { return rand_like(t, like_source("rand_like", t).dtype()); }
Tensor randn_like(const Tensor& t) { return randn_like(t, like_source("randn_like", t).dtype()); }

// ---- accessors ----

TensorImpl& Tensor::checked() const {
    TG_CHECK(impl_, ValueError, "tensor: use of an undefined Tensor");
    return *impl_;
}

const Shape& Tensor::shape() const { return checked().shape; }
int64_t Tensor::numel() const { return checked().numel; }
Dtype Tensor::dtype() const { return checked().dtype; }
void* Tensor::raw_data() const { return checked().storage->data; }
bool Tensor::requires_grad() const { return checked().requires_grad; }
bool Tensor::is_leaf() const { return checked().grad_fn == nullptr; }
uint64_t Tensor::version() const { return checked().storage->version; }

int64_t Tensor::size(int64_t d) const { return shape()[normalize_dim("size", d, dim())]; }

void Tensor::check_dtype(Dtype want, const char* what) const {
    TG_CHECK(dtype() == want, DtypeError, "{}: tensor has dtype {}, accessed as {}", what, dtype_name(dtype()),
             dtype_name(want));
}

Tensor Tensor::detach() const { return detail::alias(*this, shape()); }

namespace detail {
Tensor alias(const Tensor& x, const Shape& shape) {
    return Tensor(std::make_shared<TensorImpl>(x.impl()->storage, shape, x.dtype()));
}

Tensor copy_values(const Tensor& x) {
    Tensor y = Tensor::empty(x.shape(), x.dtype());
    if (x.nbytes()) std::memcpy(y.raw_data(), x.raw_data(), x.nbytes());
    return y;
}
}  // namespace detail

// ---- in-place writes ----

Tensor& Tensor::mark_modified() {
    ++checked().storage->version;
    return *this;
}

Tensor& Tensor::set_data(const Tensor& source) {
    TensorImpl& me = checked();
    TG_CHECK(source.shape() == me.shape, ShapeError, "set_data: source shape {} differs from the tensor's {}",
             shape_str(source.shape()), shape_str(me.shape));
    TG_CHECK(!me.requires_grad || is_floating(source.dtype()), DtypeError,
             "set_data: a tensor that requires grad cannot hold {} values", dtype_name(source.dtype()));
    // The new storage's count starts above the old one's, so the bump below leaves a version
    // no op recorded for this tensor (its old values are gone).
    const uint64_t old_version = me.storage->version;
    me.storage = source.impl()->storage;
    me.storage->version = std::max(me.storage->version, old_version);
    me.dtype = source.dtype();
    me.grad.reset();
    return mark_modified();
}

// A leaf that requires grad is a parameter or an input the user differentiates with respect
// to; changing it in place while grad mode is on would silently detach what was recorded.
void Tensor::check_inplace(const char* op) const {
    const TensorImpl& t = checked();
    TG_CHECK(!t.requires_grad || t.grad_fn || !is_grad_enabled(), ValueError,
             "{}: a leaf tensor that requires grad ({} {}) cannot be modified in place while grad mode is on; do it "
             "inside NoGradGuard (as optimizers do)",
             op, shape_str(t.shape), dtype_name(t.dtype));
}

Tensor& Tensor::zero_() {
    check_inplace("zero_");
    std::memset(raw_data(), 0, nbytes());
    return mark_modified();
}

Tensor& Tensor::fill_(double value) {
    check_inplace("fill_");
    dispatch_all(dtype(), [&](auto tag) {
        using T = decltype(tag);
        T* p = static_cast<T*>(raw_data());
        const T v = static_cast<T>(value);
        for (int64_t i = 0; i < numel(); ++i) p[i] = v;
    });
    return mark_modified();
}

Tensor& Tensor::add_(const Tensor& other, double alpha) {
    check_inplace("add_");
    TG_CHECK(other.shape() == shape() && other.dtype() == dtype(), ShapeError,
             "add_: {} {} += {} {}: shapes and dtypes must match", shape_str(shape()), dtype_name(dtype()),
             shape_str(other.shape()), dtype_name(other.dtype()));
    dispatch_numeric("add_", dtype(), [&](auto tag) {
        using T = decltype(tag);
        T* p = static_cast<T*>(raw_data());
        const T* q = static_cast<const T*>(other.raw_data());
        const T a = static_cast<T>(alpha);
        const int64_t n = numel();
        if (alpha == 1.0)
            for (int64_t i = 0; i < n; ++i) p[i] += q[i];
        else
            for (int64_t i = 0; i < n; ++i) p[i] += a * q[i];
    });
    return mark_modified();
}

Tensor& Tensor::mul_(double factor) {
    check_inplace("mul_");
    dispatch_numeric("mul_", dtype(), [&](auto tag) {
        using T = decltype(tag);
        T* p = static_cast<T*>(raw_data());
        const T f = static_cast<T>(factor);
        for (int64_t i = 0; i < numel(); ++i) p[i] *= f;
    });
    return mark_modified();
}

Tensor& Tensor::copy_(const Tensor& other) {
    check_inplace("copy_");
    TG_CHECK(other.shape() == shape(), ShapeError, "copy_: source shape {} differs from destination {}",
             shape_str(other.shape()), shape_str(shape()));
    dispatch_all(dtype(), [&](auto tag) {
        using T = decltype(tag);
        detail::convert_elements<T>(other.raw_data(), other.dtype(), static_cast<T*>(raw_data()),
                                    numel());
    });
    return mark_modified();
}


}  // namespace tg
