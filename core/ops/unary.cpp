// Elementwise functions of one tensor. Each backward is an elementwise product of dy with the
// local derivative, written in terms of x or of the output y, whichever is cheaper.
#include <cmath>
#include <string_view>

#include "core/check.hpp"
#include "core/kernels/simd.hpp"
#include "core/ops/common.hpp"
#include "core/internal/profiler.hpp"

namespace tg {

using detail::map;
using detail::map2;

/// y = exp(x).  dx = dy * y
Tensor exp(const Tensor& x) {
    const detail::OpScope scope("exp");
    detail::check_floating("exp", x);
    Tensor y = map("exp", x, [](auto v) { return std::exp(v); });
    return record("exp", y, {x}, [](const Tensor& dy, const Tensor& out) {
        if (is_grad_enabled()) return Grads{mul(dy, out)};  // creating a graph
        return Grads{map2("exp", dy, out, [](auto g, auto e) { return g * e; })};
    }, BackwardReads::values, Differentiable::twice);
}

/// y = log(x).  dx = dy / x
Tensor log(const Tensor& x) {
    const detail::OpScope scope("log");
    detail::check_floating("log", x);
    Tensor y = map("log", x, [](auto v) { return std::log(v); });
    return record("log", y, {x}, [x](const Tensor& dy, const Tensor&) {
        if (is_grad_enabled()) return Grads{div(dy, x)};
        return Grads{map2("log", dy, x, [](auto g, auto v) { return g / v; })};
    }, BackwardReads::values, Differentiable::twice);
}

/// y = tanh(x).  dx = dy * (1 - y^2)
Tensor tanh(const Tensor& x) {
    const detail::OpScope scope("tanh");
    detail::check_floating("tanh", x);
    Tensor y = map("tanh", x, [](auto v) { return std::tanh(v); });
    return record("tanh", y, {x}, [](const Tensor& dy, const Tensor& out) {
        if (is_grad_enabled()) return Grads{mul(dy, add(neg(mul(out, out)), 1.0))};
        return Grads{map2("tanh", dy, out, [](auto g, auto t) { return g * (1 - t * t); })};
    }, BackwardReads::values, Differentiable::twice);
}

/// y = sqrt(x).  dx = dy / (2 y)
Tensor sqrt(const Tensor& x) {
    const detail::OpScope scope("sqrt");
    detail::check_floating("sqrt", x);
    Tensor y = map("sqrt", x, [](auto v) { return std::sqrt(v); });
    return record("sqrt", y, {x}, [](const Tensor& dy, const Tensor& out) {
        if (is_grad_enabled()) return Grads{div(dy, mul(out, 2.0))};
        return Grads{map2("sqrt", dy, out, [](auto g, auto s) { return g / (2 * s); })};
    }, BackwardReads::values, Differentiable::twice);
}

/// y = x^2.  dx = 2 x dy
Tensor square(const Tensor& x) {
    const detail::OpScope scope("square");
    detail::check_floating("square", x);
    Tensor y = map("square", x, [](auto v) { return v * v; });
    return record("square", y, {x}, [x](const Tensor& dy, const Tensor&) {
        if (is_grad_enabled()) return Grads{mul(dy, mul(x, 2.0))};
        return Grads{map2("square", dy, x, [](auto g, auto v) { return 2 * v * g; })};
    }, BackwardReads::values, Differentiable::twice);
}

/// y = 1 / sqrt(x).  dx = -dy y^3 / 2
Tensor rsqrt(const Tensor& x) {
    const detail::OpScope scope("rsqrt");
    detail::check_floating("rsqrt", x);
    Tensor y = map("rsqrt", x, [](auto v) { return decltype(v)(1) / std::sqrt(v); });
    return record("rsqrt", y, {x}, [](const Tensor& dy, const Tensor& out) {
        if (is_grad_enabled()) return Grads{mul(dy, mul(mul(out, mul(out, out)), -0.5))};
        return Grads{map2("rsqrt", dy, out, [](auto g, auto r) { return -g * r * r * r / 2; })};
    }, BackwardReads::values, Differentiable::twice);
}

/// y = x^p.  dx = dy * p * x^(p-1)
Tensor pow(const Tensor& x, double p) {
    const detail::OpScope scope("pow");
    detail::check_floating("pow", x);
    TG_CHECK(std::isfinite(p), ValueError, "pow: exponent must be finite, got {}", p);
    Tensor y = map("pow", x, [p](auto v) { return std::pow(v, static_cast<decltype(v)>(p)); });
    return record("pow", y, {x}, [x, p](const Tensor& dy, const Tensor&) {
        // x^0 is constant; p * x^(p-1) would give 0 * inf = NaN at x = 0.
        if (p == 0.0) return Grads{Tensor::zeros(x.shape(), x.dtype())};
        if (is_grad_enabled()) return Grads{mul(dy, p == 1.0 ? Tensor::ones(x.shape(), x.dtype()) : mul(pow(x, p - 1), p))};
        return Grads{map2("pow", dy, x, [p](auto g, auto v) {
            using T = decltype(v);
            return g * static_cast<T>(p) * std::pow(v, static_cast<T>(p - 1));
        })};
    }, BackwardReads::values, Differentiable::twice);
}

/// y = max(x, 0).  dx = dy * [x > 0]
Tensor relu(const Tensor& x) {
    const detail::OpScope scope("relu");
    detail::check_floating("relu", x);
    Tensor y = map("relu", x, [](auto v) { return v > 0 ? v : decltype(v){0}; });
    return record("relu", y, {x}, [](const Tensor& dy, const Tensor& out) {
        // Creating a graph: dy times the (constant) mask, so d(dx)/d(dy) flows and d/dx is zero.
        if (is_grad_enabled()) return Grads{mul(dy, to(gt(out.detach(), 0.0), dy.dtype()))};
        return Grads{map2("relu", dy, out, [](auto g, auto r) { return r > 0 ? g : decltype(g){0}; })};
    }, BackwardReads::values, Differentiable::twice);
}

/// y = 1 / (1 + exp(-x)).  dx = dy * y * (1 - y)
Tensor sigmoid(const Tensor& x) {
    const detail::OpScope scope("sigmoid");
    detail::check_floating("sigmoid", x);
    Tensor y = map("sigmoid", x, [](auto v) {
        using T = decltype(v);
        // Two branches keep exp's argument non-positive, so nothing overflows.
        if (v >= 0) return T(1) / (T(1) + std::exp(-v));
        const T e = std::exp(v);
        return e / (T(1) + e);
    });
    return record("sigmoid", y, {x}, [](const Tensor& dy, const Tensor& out) {
        if (is_grad_enabled()) return Grads{mul(dy, mul(out, add(neg(out), 1.0)))};
        return Grads{map2("sigmoid", dy, out, [](auto g, auto s) { return g * s * (1 - s); })};
    }, BackwardReads::values, Differentiable::twice);
}

namespace {
constexpr double kGeluK = 0.7978845608028654;  // sqrt(2 / pi)
constexpr double kGeluC = 0.044715;

// f'(x) as an op of its own, for the fused functions whose derivative is no short chain of
// ops: creating a graph, their backward is dy * derivative(x), and derivative's backward is
// dy * f''(x), so the gradient can be differentiated once more (a third time names `name`).
// d1 and d2 are called as d(tag, v) with a value of the element type (scalar) or, with simd,
// a batch of them (kernels::vmap).
template <bool simd, class D1, class D2>
Tensor derivative(const char* name, const Tensor& x, D1 d1, D2 d2) {
    Tensor d;
    if constexpr (simd) {
        d = Tensor::empty(x.shape(), x.dtype());
        dispatch_floating(name, x.dtype(), [&](auto tag) {
            using T = decltype(tag);
            kernels::vmap(x.data<T>(), d.data<T>(), x.numel(), [tag, d1](auto v) { return d1(tag, v); });
        });
    } else {
        d = map(name, x, [d1](auto v) { return d1(v, v); });
    }
    return record(name, d, {x}, [x, d2, name](const Tensor& dy, const Tensor&) {
        if constexpr (!simd) {
            return Grads{map2(name, dy, x, [d2](auto g, auto v) { return g * d2(v, v); })};
        } else {
            Tensor dx = Tensor::empty(x.shape(), x.dtype());
            dispatch_floating(name, x.dtype(), [&](auto tag) {
                using T = decltype(tag);
                kernels::vmap2(dy.data<T>(), x.data<T>(), dx.data<T>(), x.numel(),
                               [tag, d2](auto g, auto v) { return g * d2(tag, v); });
            });
            return Grads{dx};
        }
    });
}

// The tanh form's first and second derivatives, over SIMD batches: with t = tanh u,
// u = k (x + c x^3) and u' = k (1 + 3 c x^2),
//   f' = (1 + t) / 2 + x (1 - t^2) u' / 2,   f'' = (1 - t^2) (u' - x t u'^2 + 3 k c x^2).
auto gelu_tanh_d1 = [](auto tag, auto v) {
    using T = decltype(tag);
    const auto t = kernels::tanh<T>(T(kGeluK) * (v + T(kGeluC) * v * v * v));
    const auto du = T(kGeluK) * (T(1) + T(3 * kGeluC) * v * v);
    return T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * du;
};
auto gelu_tanh_d2 = [](auto tag, auto v) {
    using T = decltype(tag);
    const auto t = kernels::tanh<T>(T(kGeluK) * (v + T(kGeluC) * v * v * v));
    const auto du = T(kGeluK) * (T(1) + T(3 * kGeluC) * v * v);
    return (T(1) - t * t) * (du - v * t * du * du + T(3 * kGeluK * kGeluC) * v * v);
};
}  // namespace

/// y = x/2 (1 + tanh u), u = k (x + c x^3).
/// dx = dy * (1/2 (1 + tanh u) + x/2 (1 - tanh^2 u) k (1 + 3 c x^2))
Tensor gelu(const Tensor& x) {
    const detail::OpScope scope("gelu");
    detail::check_floating("gelu", x);
    Tensor y = Tensor::empty(x.shape(), x.dtype());
    dispatch_floating("gelu", x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        kernels::vmap(x.data<T>(), y.data<T>(), x.numel(), [](auto v) {
            const auto u = T(kGeluK) * (v + T(kGeluC) * v * v * v);
            return T(0.5) * v * (T(1) + kernels::tanh<T>(u));
        });
    });
    return record("gelu", y, {x}, [x](const Tensor& dy, const Tensor&) {
        if (is_grad_enabled()) return Grads{mul(dy, derivative<true>("gelu_backward", x, gelu_tanh_d1, gelu_tanh_d2))};
        Tensor dx = Tensor::empty(x.shape(), x.dtype());
        dispatch_floating("gelu", x.dtype(), [&](auto tag) {
            using T = decltype(tag);
            kernels::vmap2(dy.data<T>(), x.data<T>(), dx.data<T>(), x.numel(),
                           [tag](auto g, auto v) { return g * gelu_tanh_d1(tag, v); });
        });
        return Grads{dx};
    }, BackwardReads::values, Differentiable::twice);
}

namespace {
constexpr double kInvSqrt2 = 0.7071067811865476;    // 1 / sqrt(2)
constexpr double kInvSqrt2Pi = 0.3989422804014327;  // 1 / sqrt(2 pi)
}  // namespace

/// approximate "tanh": gelu(x) above. approximate "none": the exact form, x Phi(x) with
/// Phi(x) = (1 + erf(x / sqrt 2)) / 2.  dx = dy * (Phi(x) + x phi(x)), phi(x) = exp(-x^2/2) / sqrt(2 pi)
Tensor gelu(const Tensor& x, std::string_view approximate) {
    const detail::OpScope scope("gelu");
    if (approximate == "tanh") return gelu(x);
    TG_CHECK(approximate == "none", ValueError, "gelu: approximate must be \"none\" (exact) or \"tanh\", got \"{}\"",
             approximate);
    detail::check_floating("gelu", x);
    Tensor y = map("gelu", x, [](auto v) {
        using T = decltype(v);
        return T(0.5) * v * (T(1) + std::erf(v * T(kInvSqrt2)));
    });
    auto d1 = [](auto, auto v) {
        using T = decltype(v);
        return T(0.5) * (T(1) + std::erf(v * T(kInvSqrt2))) + v * T(kInvSqrt2Pi) * std::exp(T(-0.5) * v * v);
    };
    return record("gelu", y, {x}, [x, d1](const Tensor& dy, const Tensor&) {
        // Creating a graph: f'' = 2 phi(x) + x phi'(x) = phi(x) (2 - x^2).
        if (is_grad_enabled())
            return Grads{mul(dy, derivative<false>("gelu_backward", x, d1, [](auto, auto v) {
                using T = decltype(v);
                return T(kInvSqrt2Pi) * std::exp(T(-0.5) * v * v) * (2 - v * v);
            }))};
        return Grads{map2("gelu", dy, x, [d1](auto g, auto v) { return g * d1(v, v); })};
    }, BackwardReads::values, Differentiable::twice);
}

/// y = x sigmoid(x).  dx = dy * s (1 + x (1 - s)), s = sigmoid(x)
Tensor silu(const Tensor& x) {
    const detail::OpScope scope("silu");
    detail::check_floating("silu", x);
    // The same two-branch sigmoid as sigmoid(): exp's argument stays non-positive.
    auto sig = [](auto v) {
        using T = decltype(v);
        if (v >= 0) return T(1) / (T(1) + std::exp(-v));
        const T e = std::exp(v);
        return e / (T(1) + e);
    };
    Tensor y = map("silu", x, [sig](auto v) { return v * sig(v); });
    return record("silu", y, {x}, [x, sig](const Tensor& dy, const Tensor&) {
        if (is_grad_enabled()) {  // creating a graph: the same formula from ops
            const Tensor s = sigmoid(x);
            return Grads{mul(dy, mul(s, add(mul(x, 1.0 - s), 1.0)))};
        }
        return Grads{map2("silu", dy, x, [sig](auto g, auto v) {
            const auto s = sig(v);
            return g * s * (1 + v * (1 - s));
        })};
    }, BackwardReads::values, Differentiable::twice);
}

/// y = x where x > 0, else slope x.  dx = dy where x > 0, else slope dy (slope at 0, as torch)
Tensor leaky_relu(const Tensor& x, double negative_slope) {
    const detail::OpScope scope("leaky_relu");
    detail::check_floating("leaky_relu", x);
    TG_CHECK(std::isfinite(negative_slope), ValueError, "leaky_relu: negative_slope must be finite, got {}",
             negative_slope);
    Tensor y = map("leaky_relu", x, [negative_slope](auto v) {
        return v > 0 ? v : static_cast<decltype(v)>(negative_slope) * v;
    });
    return record("leaky_relu", y, {x}, [x, negative_slope](const Tensor& dy, const Tensor&) {
        // Creating a graph: dy times the local slope, a constant (the second derivative is zero).
        if (is_grad_enabled())
            return Grads{mul(dy, map("leaky_relu", x, [negative_slope](auto v) {
                return v > 0 ? decltype(v)(1) : static_cast<decltype(v)>(negative_slope);
            }))};
        return Grads{map2("leaky_relu", dy, x, [negative_slope](auto g, auto v) {
            return v > 0 ? g : static_cast<decltype(g)>(negative_slope) * g;
        })};
    }, BackwardReads::values, Differentiable::twice);
}

/// y = |x|.  dx = dy * sign(x), with sign(0) = 0 as torch (NaN stays NaN)
Tensor abs(const Tensor& x) {
    const detail::OpScope scope("abs");
    detail::check_floating("abs", x);
    Tensor y = map("abs", x, [](auto v) { return std::abs(v); });
    return record("abs", y, {x}, [x](const Tensor& dy, const Tensor&) {
        if (is_grad_enabled())  // creating a graph: dy times sign(x), a constant
            return Grads{mul(dy, map("abs", x, [](auto v) {
                using T = decltype(v);
                return v > 0 ? T(1) : v < 0 ? T(-1) : v == 0 ? T(0) : v;
            }))};
        return Grads{map2("abs", dy, x, [](auto g, auto v) {
            using T = decltype(v);
            return v > 0 ? g : v < 0 ? -g : v == 0 ? T(0) : v;
        })};
    }, BackwardReads::values, Differentiable::twice);
}

/// y = min(max(x, lo), hi).  dx = dy where lo <= x <= hi, else 0 (both ends pass, as torch)
Tensor clamp(const Tensor& x, double min, double max) {
    const detail::OpScope scope("clamp");
    detail::check_floating("clamp", x);
    TG_CHECK(!std::isnan(min) && !std::isnan(max), ValueError, "clamp: bounds must not be NaN, got min {} and max {}",
             min, max);
    TG_CHECK(min <= max, ValueError, "clamp: min {} is greater than max {}", min, max);
    // NaN fails both comparisons and comes out as NaN, as in torch.
    Tensor y = map("clamp", x, [min, max](auto v) {
        using T = decltype(v);
        const T lo = static_cast<T>(min), hi = static_cast<T>(max);
        return v < lo ? lo : v > hi ? hi : v;
    });
    return record("clamp", y, {x}, [x, min, max](const Tensor& dy, const Tensor&) {
        if (is_grad_enabled())  // creating a graph: dy times the (constant) pass-through mask
            return Grads{mul(dy, map("clamp", x, [min, max](auto v) {
                using T = decltype(v);
                return v >= static_cast<T>(min) && v <= static_cast<T>(max) ? T(1) : T(0);
            }))};
        return Grads{map2("clamp", dy, x, [min, max](auto g, auto v) {
            using T = decltype(v);
            return v >= static_cast<T>(min) && v <= static_cast<T>(max) ? g : T(0);
        })};
    }, BackwardReads::values, Differentiable::twice);
}

/// y = sin(x).  dx = dy cos(x)
Tensor sin(const Tensor& x) {
    const detail::OpScope scope("sin");
    detail::check_floating("sin", x);
    Tensor y = map("sin", x, [](auto v) { return std::sin(v); });
    return record("sin", y, {x}, [x](const Tensor& dy, const Tensor&) {
        if (is_grad_enabled()) return Grads{mul(dy, cos(x))};
        return Grads{map2("sin", dy, x, [](auto g, auto v) { return g * std::cos(v); })};
    }, BackwardReads::values, Differentiable::twice);
}

/// y = cos(x).  dx = -dy sin(x)
Tensor cos(const Tensor& x) {
    const detail::OpScope scope("cos");
    detail::check_floating("cos", x);
    Tensor y = map("cos", x, [](auto v) { return std::cos(v); });
    return record("cos", y, {x}, [x](const Tensor& dy, const Tensor&) {
        if (is_grad_enabled()) return Grads{neg(mul(dy, sin(x)))};
        return Grads{map2("cos", dy, x, [](auto g, auto v) { return -g * std::sin(v); })};
    }, BackwardReads::values, Differentiable::twice);
}

}  // namespace tg
