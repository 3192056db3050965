// Elementwise + - * / with numpy/PyTorch broadcasting. The backward of a broadcast operand
// sums the gradient over the dims it was stretched along (detail::sum_to).
#include <algorithm>

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xnoalias.hpp>

#include "core/ops/common.hpp"
#include "core/internal/profiler.hpp"

namespace tg {

namespace {

enum class BinOp { add, sub, mul, div };

std::vector<std::size_t> xshape(const Shape& s) { return {s.begin(), s.end()}; }

template <class T>
auto adapt(const Tensor& t) {
    return xt::adapt(t.data<T>(), static_cast<std::size_t>(t.numel()), xt::no_ownership(),
                     xshape(t.shape()));
}

template <BinOp K, class T>
T apply(T x, T y) {
    if constexpr (K == BinOp::add) return x + y;
    else if constexpr (K == BinOp::sub) return x - y;
    else if constexpr (K == BinOp::mul) return x * y;
    else return x / y;
}

// The sizes (outer, mid, inner) of full around the one run of dims where small (right-aligned,
// padded with 1s) has full's sizes, when small is 1 on every other dim: a row (C) against
// (N, C), a column (N, 1), a channel (1, C, 1), a mask (T, S) against (B, H, T, S).
struct Block {
    int64_t outer = 1, mid = 1, inner = 1;
};
bool block_broadcast(const Shape& full, const Shape& small, Block& b) {
    const std::size_t nd = full.size(), off = nd - small.size();
    std::size_t first = nd, last = 0;
    for (std::size_t k = off; k < nd; ++k)
        if (small[k - off] != 1) {
            first = std::min(first, k);
            last = k;
        }
    if (first == nd) return false;
    for (std::size_t k = first; k <= last; ++k)
        if (small[k - off] != full[k]) return false;
    b = {};
    for (std::size_t k = 0; k < nd; ++k) (k < first ? b.outer : k <= last ? b.mid : b.inner) *= full[k];
    return true;
}

// z = a (op) b with broadcasting: flat loops when shapes match, one side is a single value or
// broadcasts as a block (above), xtensor's broadcasting otherwise.
template <BinOp K>
Tensor binary_forward(const char* op, const Tensor& a, const Tensor& b) {
    detail::check_same_floating(op, a, b);
    const Shape shape = broadcast_shapes(op, a.shape(), b.shape());
    Tensor z = Tensor::empty(shape, a.dtype());
    dispatch_floating(op, a.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* pa = a.data<T>();
        const T* pb = b.data<T>();
        T* pz = z.data<T>();
        const int64_t n = z.numel();
        if (a.shape() == b.shape()) {
            for (int64_t i = 0; i < n; ++i) pz[i] = apply<K>(pa[i], pb[i]);
        } else if (b.numel() == 1 && a.shape() == shape) {
            const T s = pb[0];
            for (int64_t i = 0; i < n; ++i) pz[i] = apply<K>(pa[i], s);
        } else if (a.numel() == 1 && b.shape() == shape) {
            const T s = pa[0];
            for (int64_t i = 0; i < n; ++i) pz[i] = apply<K>(s, pb[i]);
        } else if (Block k; (a.shape() == shape && block_broadcast(shape, b.shape(), k)) ||
                            (b.shape() == shape && block_broadcast(shape, a.shape(), k))) {
            const bool a_full = a.shape() == shape;
            const T* full = a_full ? pa : pb;
            const T* part = a_full ? pb : pa;
            for (int64_t o = 0; k.inner == 1 && o < k.outer; ++o) {  // a row against each row: one loop
                const T* f = full + o * k.mid;
                T* zr = pz + o * k.mid;
                if (a_full)
                    for (int64_t m = 0; m < k.mid; ++m) zr[m] = apply<K>(f[m], part[m]);
                else
                    for (int64_t m = 0; m < k.mid; ++m) zr[m] = apply<K>(part[m], f[m]);
            }
            for (int64_t o = 0; k.inner > 1 && o < k.outer; ++o)
                for (int64_t m = 0; m < k.mid; ++m) {
                    const int64_t base = (o * k.mid + m) * k.inner;
                    const T v = part[m];
                    if (a_full)
                        for (int64_t i = 0; i < k.inner; ++i) pz[base + i] = apply<K>(full[base + i], v);
                    else
                        for (int64_t i = 0; i < k.inner; ++i) pz[base + i] = apply<K>(v, full[base + i]);
                }
        } else {
            auto xa = adapt<T>(a);
            auto xb = adapt<T>(b);
            auto xz = adapt<T>(z);
            if constexpr (K == BinOp::add) xt::noalias(xz) = xa + xb;
            else if constexpr (K == BinOp::sub) xt::noalias(xz) = xa - xb;
            else if constexpr (K == BinOp::mul) xt::noalias(xz) = xa * xb;
            else xt::noalias(xz) = xa / xb;
        }
    });
    return z;
}

}  // namespace

/// z = a + b.  da = sum_to(dz), db = sum_to(dz)
Tensor add(const Tensor& a, const Tensor& b) {
    const detail::OpScope scope("add");
    Tensor z = binary_forward<BinOp::add>("add", a, b);
    return record("add", z, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& dz, const Tensor&) {
        return Grads{detail::sum_to(dz, sa), detail::sum_to(dz, sb)};
    },
                  BackwardReads::shapes, Differentiable::twice);
}

/// z = a - b.  da = sum_to(dz), db = -sum_to(dz)
Tensor sub(const Tensor& a, const Tensor& b) {
    const detail::OpScope scope("sub");
    Tensor z = binary_forward<BinOp::sub>("sub", a, b);
    return record("sub", z, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& dz, const Tensor&) {
        return Grads{detail::sum_to(dz, sa), neg(detail::sum_to(dz, sb))};
    },
                  BackwardReads::shapes, Differentiable::twice);
}

/// z = a * b.  da = sum_to(dz * b), db = sum_to(dz * a)
Tensor mul(const Tensor& a, const Tensor& b) {
    const detail::OpScope scope("mul");
    Tensor z = binary_forward<BinOp::mul>("mul", a, b);
    return record("mul", z, {a, b}, [a, b](const Tensor& dz, const Tensor&) {
        return Grads{a.requires_grad() ? detail::sum_to(mul(dz, b), a.shape()) : Tensor(),
                     b.requires_grad() ? detail::sum_to(mul(dz, a), b.shape()) : Tensor()};
    }, BackwardReads::values, Differentiable::twice);
}

/// z = a / b.  da = sum_to(dz / b), db = -sum_to(dz * z / b)
Tensor div(const Tensor& a, const Tensor& b) {
    const detail::OpScope scope("div");
    Tensor z = binary_forward<BinOp::div>("div", a, b);
    return record("div", z, {a, b}, [a, b](const Tensor& dz, const Tensor& out) {
        Tensor dzb = div(dz, b);
        return Grads{a.requires_grad() ? detail::sum_to(dzb, a.shape()) : Tensor(),
                     b.requires_grad() ? neg(detail::sum_to(mul(dzb, out), b.shape())) : Tensor()};
    }, BackwardReads::values, Differentiable::twice);
}

/// z = a + s.  da = dz
Tensor add(const Tensor& a, double s) {
    const detail::OpScope scope("add");
    detail::check_floating("add", a);
    Tensor z = detail::map("add", a, [s](auto x) { return x + static_cast<decltype(x)>(s); });
    return record("add", z, {a}, [](const Tensor& dz, const Tensor&) { return Grads{dz}; },
                  BackwardReads::shapes, Differentiable::twice);
}

/// z = a * s.  da = dz * s
Tensor mul(const Tensor& a, double s) {
    const detail::OpScope scope("mul");
    detail::check_floating("mul", a);
    Tensor z = detail::map("mul", a, [s](auto x) { return x * static_cast<decltype(x)>(s); });
    return record("mul", z, {a}, [s](const Tensor& dz, const Tensor&) { return Grads{mul(dz, s)}; },
                  BackwardReads::values, Differentiable::twice);
}

/// z = -a.  da = -dz
Tensor neg(const Tensor& a) {
    const detail::OpScope scope("neg");
    detail::check_floating("neg", a);
    Tensor z = detail::map("neg", a, [](auto x) { return -x; });
    return record("neg", z, {a}, [](const Tensor& dz, const Tensor&) { return Grads{neg(dz)}; },
                  BackwardReads::shapes, Differentiable::twice);
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, double b) { return add(a, b); }
Tensor operator+(double a, const Tensor& b) { return add(b, a); }
Tensor operator-(const Tensor& a, double b) { return add(a, -b); }
Tensor operator-(double a, const Tensor& b) { return add(neg(b), a); }
Tensor operator*(const Tensor& a, double b) { return mul(a, b); }
Tensor operator*(double a, const Tensor& b) { return mul(b, a); }
Tensor operator/(const Tensor& a, double b) { return mul(a, 1.0 / b); }
Tensor operator/(double a, const Tensor& b) { return mul(pow(b, -1.0), a); }

}  // namespace tg
