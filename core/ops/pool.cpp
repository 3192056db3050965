// Pooling: max_pool2d and avg_pool2d over the last two dims of (N, C, H, W) or (C, H, W), with
// PyTorch's semantics for ceil_mode = false: windows of kernel (kH, kW) every stride, on the
// input padded by padding on each side (at most half the kernel, so every window holds at
// least one input position), Ho = floor((H + 2 ph - kH) / sh) + 1.
#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include "core/check.hpp"
#include "core/kernels/simd.hpp"
#include "core/ops/common.hpp"
#include "core/internal/profiler.hpp"

namespace tg {

namespace {

struct PoolGeom {
    int64_t planes, H, W, OH, OW, kh, kw, sh, sw, ph, pw;
    // The window of output (oh, ow), clipped to the input: rows [h0, h1), columns [w0, w1).
    int64_t h0(int64_t oh) const { return std::max<int64_t>(oh * sh - ph, 0); }
    int64_t h1(int64_t oh) const { return std::min(oh * sh - ph + kh, H); }
    int64_t w0(int64_t ow) const { return std::max<int64_t>(ow * sw - pw, 0); }
    int64_t w1(int64_t ow) const { return std::min(ow * sw - pw + kw, W); }
    bool parallel() const { return planes > 1 && planes * OH * OW * kh * kw >= kernels::kParallelElems; }
};

std::string pair_str(const std::array<int64_t, 2>& v) { return fmt::format("({}, {})", v[0], v[1]); }

PoolGeom pool_geometry(const char* op, const Tensor& x, const Pool2dArgs& args, Shape& out_shape) {
    detail::check_floating(op, x);
    const Shape& xs = x.shape();
    TG_CHECK(x.dim() == 3 || x.dim() == 4, ShapeError, "{}: x must be 4-d (N, C, H, W) or 3-d (C, H, W), got {}", op,
             shape_str(xs));
    TG_CHECK(xs[x.dim() - 2] >= 1 && xs.back() >= 1, ShapeError, "{}: x {} has an empty spatial dim", op,
             shape_str(xs));
    const auto &k = args.kernel, &p = args.padding;
    TG_CHECK(k[0] >= 1 && k[1] >= 1, ValueError, "{}: kernel must be >= 1, got {}", op, pair_str(k));
    TG_CHECK(args.stride[0] >= 0 && args.stride[1] >= 0, ValueError,
             "{}: stride must be >= 1 (or 0 for the kernel size), got {}", op, pair_str(args.stride));
    TG_CHECK(p[0] >= 0 && p[1] >= 0 && 2 * p[0] <= k[0] && 2 * p[1] <= k[1], ValueError,
             "{}: padding must be >= 0 and at most half the kernel: padding {} with kernel {}", op, pair_str(p),
             pair_str(k));
    PoolGeom g{};
    g.H = xs[x.dim() - 2];
    g.W = xs.back();
    g.planes = x.numel() / (g.H * g.W);
    g.kh = k[0], g.kw = k[1], g.ph = p[0], g.pw = p[1];
    g.sh = args.stride[0] ? args.stride[0] : k[0];
    g.sw = args.stride[1] ? args.stride[1] : k[1];
    auto out_size = [](int64_t L, int64_t K, int64_t s, int64_t pad) {
        const int64_t num = L + 2 * pad - K;
        return num < 0 ? 0 : num / s + 1;
    };
    g.OH = out_size(g.H, g.kh, g.sh, g.ph);
    g.OW = out_size(g.W, g.kw, g.sw, g.pw);
    TG_CHECK(g.OH >= 1 && g.OW >= 1, ShapeError,
             "{}: the input {} is smaller than the kernel: (H, W) = ({}, {}) with padding {} against kernel {} "
             "leaves no output position", op, shape_str(xs), g.H, g.W, pair_str(p), pair_str(k));
    out_shape.assign(xs.begin(), xs.end() - 2);
    out_shape.push_back(g.OH);
    out_shape.push_back(g.OW);
    return g;
}

Tensor max_pool_take(const PoolGeom& g, const Tensor& arg, const Tensor& x);

// max_pool2d's backward: dy added at each window's argmax, zeros elsewhere. Linear in dy, with
// the selection fixed; its adjoint (own backward) is max_pool_take, and the two differentiate
// each other any number of times.
Tensor max_pool_put(const PoolGeom& g, const Tensor& arg, const Tensor& dy, const Shape& x_shape) {
    Tensor dx = Tensor::zeros(x_shape, dy.dtype());
    dispatch_floating("max_pool2d", dy.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* pg = dy.data<T>();
        const int64_t* pa = arg.data<int64_t>();
        T* pd = dx.data<T>();
        const int64_t per_plane = g.OH * g.OW;
#pragma omp parallel for schedule(static) if (g.parallel())
        for (int64_t pl = 0; pl < g.planes; ++pl) {
            T* d = pd + pl * g.H * g.W;
            for (int64_t o = pl * per_plane; o < (pl + 1) * per_plane; ++o) d[pa[o]] += pg[o];
        }
    });
    return detail::record_linear("max_pool2d", dx, dy, [g, arg](const Tensor& ddx, const Tensor&) {
        return Grads{max_pool_take(g, arg, ddx)};
    });
}

// y[o] = x at window o's (saved) argmax: max_pool2d with the selection fixed.
Tensor max_pool_take(const PoolGeom& g, const Tensor& arg, const Tensor& x) {
    Tensor y = Tensor::empty(arg.shape(), x.dtype());
    dispatch_floating("max_pool2d", x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* px = x.data<T>();
        const int64_t* pa = arg.data<int64_t>();
        T* py = y.data<T>();
        const int64_t per_plane = g.OH * g.OW;
        for (int64_t pl = 0; pl < g.planes; ++pl)
            for (int64_t o = pl * per_plane; o < (pl + 1) * per_plane; ++o) py[o] = px[pl * g.H * g.W + pa[o]];
    });
    return detail::record_linear("max_pool2d", y, x, [g, arg, shape = x.shape()](const Tensor& dy, const Tensor&) {
        return Grads{max_pool_put(g, arg, dy, shape)};
    });
}

Pool2dArgs args_of(const PoolGeom& g) { return {.kernel = {g.kh, g.kw}, .stride = {g.sh, g.sw}, .padding = {g.ph, g.pw}}; }

}  // namespace

/// y[.., i, j] = max of x over window (i, j) (padding counts as -inf); a NaN in the window wins.
/// dx = dy at the window's first maximum (row-major order within the window, so on ties the
/// topmost, then leftmost, position gets it), summed where windows overlap; 0 elsewhere.
Tensor max_pool2d(const Tensor& x, const Pool2dArgs& args) {
    const detail::OpScope scope("max_pool2d");
    Shape out_shape;
    const PoolGeom g = pool_geometry("max_pool2d", x, args, out_shape);
    Tensor y = Tensor::empty(out_shape, x.dtype());
    // The argmax of each window as a flat index into its (H, W) plane.
    Tensor arg = Tensor::empty(out_shape, Dtype::i64);
    dispatch_floating("max_pool2d", x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* px = x.data<T>();
        T* py = y.data<T>();
        int64_t* pa = arg.data<int64_t>();
        const int64_t W = g.W, OH = g.OH, OW = g.OW;  // locals: the stores below may alias g
        // The common 2x2 window with stride 2 and no padding: four loads per output, no loops.
        const bool two_by_two = g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0;
#pragma omp parallel for schedule(static) if (g.parallel())
        for (int64_t pl = 0; pl < g.planes; ++pl) {
            const T* in = px + pl * g.H * W;
            for (int64_t oh = 0; two_by_two && oh < OH; ++oh) {
                const T* r0 = in + 2 * oh * W;
                const T* r1 = r0 + W;
                T* yrow = py + (pl * OH + oh) * OW;
                int64_t* arow = pa + (pl * OH + oh) * OW;
                for (int64_t ow = 0; ow < OW; ++ow) {
                    const T a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
                    // Row-major order a, b, c, d; a later element wins only when strictly larger:
                    // the better of each row, then the lower row only if strictly better. Written
                    // as selects (no branches to mispredict on real data).
                    const int64_t b_wins = b > a, d_wins = d > c;
                    const T top = b > a ? b : a, bottom = d > c ? d : c;
                    const int64_t bottom_wins = bottom > top;
                    T bv = bottom > top ? bottom : top;
                    int64_t best = b_wins + bottom_wins * (W + d_wins - b_wins);  // arithmetic, not a branch
                    if (a != a || b != b || c != c || d != d) [[unlikely]] {  // the first NaN wins
                        const T v[4] = {a, b, c, d};
                        const int64_t off[4] = {0, 1, W, W + 1};
                        int k = 0;
                        while (v[k] == v[k]) ++k;
                        bv = v[k];
                        best = off[k];
                    }
                    yrow[ow] = bv;
                    arow[ow] = 2 * oh * W + 2 * ow + best;
                }
            }
            for (int64_t oh = 0; !two_by_two && oh < OH; ++oh) {
                const int64_t h0 = g.h0(oh), h1 = g.h1(oh);
                T* yrow = py + (pl * OH + oh) * OW;
                int64_t* arow = pa + (pl * OH + oh) * OW;
                for (int64_t ow = 0; ow < OW; ++ow) {
                    const int64_t w0 = g.w0(ow), w1 = g.w1(ow);
                    int64_t best = h0 * W + w0;
                    T bv = in[best];
                    // Selects through masks rather than branches: on real data which element
                    // wins is unpredictable. NaNs (v != v) are rare, so a window holding one is
                    // scanned again with the exact rule (the first NaN wins).
                    bool nan = false;
                    for (int64_t ih = h0; ih < h1; ++ih)
                        for (int64_t iw = w0; iw < w1; ++iw) {
                            const T v = in[ih * W + iw];
                            const int64_t take = -static_cast<int64_t>(v > bv);
                            best = (best & ~take) | ((ih * W + iw) & take);
                            bv = v > bv ? v : bv;
                            nan |= v != v;
                        }
                    if (nan) [[unlikely]] {
                        for (int64_t ih = h0; ih < h1 && bv == bv; ++ih)
                            for (int64_t iw = w0; iw < w1; ++iw)
                                if (in[ih * W + iw] != in[ih * W + iw]) {
                                    best = ih * W + iw;
                                    bv = in[best];
                                    break;
                                }
                    }
                    yrow[ow] = bv;
                    arow[ow] = best;
                }
            }
        }
    });
    return record(
        "max_pool2d", y, {x},
        [g, arg, shape = x.shape()](const Tensor& dy, const Tensor&) { return Grads{max_pool_put(g, arg, dy, shape)}; },
        BackwardReads::shapes, Differentiable::twice);  // the argmax was saved; x's later values do not matter
}

/// y[.., i, j] = sum of x over window (i, j) / (kH kW), padded positions counting as zeros.
/// dx[.., h, w] = sum over the windows (i, j) holding (h, w) of dy[.., i, j] / (kH kW).
Tensor avg_pool2d(const Tensor& x, const Pool2dArgs& args) {
    const detail::OpScope scope("avg_pool2d");
    Shape out_shape;
    const PoolGeom g = pool_geometry("avg_pool2d", x, args, out_shape);
    Tensor y = Tensor::empty(out_shape, x.dtype());
    dispatch_floating("avg_pool2d", x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* px = x.data<T>();
        T* py = y.data<T>();
        const T inv = T(1) / static_cast<T>(g.kh * g.kw);
#pragma omp parallel for schedule(static) if (g.parallel())
        for (int64_t pl = 0; pl < g.planes; ++pl) {
            const T* in = px + pl * g.H * g.W;
            for (int64_t oh = 0; oh < g.OH; ++oh) {
                const int64_t h0 = g.h0(oh), h1 = g.h1(oh);
                T* yrow = py + (pl * g.OH + oh) * g.OW;
                for (int64_t ow = 0; ow < g.OW; ++ow) {
                    const int64_t w0 = g.w0(ow), w1 = g.w1(ow);
                    T s = 0;
                    for (int64_t ih = h0; ih < h1; ++ih)
                        for (int64_t iw = w0; iw < w1; ++iw) s += in[ih * g.W + iw];
                    yrow[ow] = s * inv;
                }
            }
        }
    });
    return record(
        "avg_pool2d", y, {x},
        [g, shape = x.shape()](const Tensor& dy, const Tensor&) {
            // Linear in dy; its adjoint is avg_pool2d itself, recorded when a graph is being created.
            Tensor dx = Tensor::zeros(shape, dy.dtype());
            dispatch_floating("avg_pool2d", dy.dtype(), [&](auto tag) {
                using T = decltype(tag);
                const T* pg = dy.data<T>();
                T* pd = dx.data<T>();
                const T inv = T(1) / static_cast<T>(g.kh * g.kw);
#pragma omp parallel for schedule(static) if (g.parallel())
                for (int64_t pl = 0; pl < g.planes; ++pl) {
                    T* d = pd + pl * g.H * g.W;
                    for (int64_t oh = 0; oh < g.OH; ++oh) {
                        const int64_t h0 = g.h0(oh), h1 = g.h1(oh);
                        const T* grow = pg + (pl * g.OH + oh) * g.OW;
                        for (int64_t ow = 0; ow < g.OW; ++ow) {
                            const int64_t w0 = g.w0(ow), w1 = g.w1(ow);
                            const T v = grow[ow] * inv;
                            for (int64_t ih = h0; ih < h1; ++ih)
                                for (int64_t iw = w0; iw < w1; ++iw) d[ih * g.W + iw] += v;
                        }
                    }
                }
            });
            return Grads{detail::record_linear("avg_pool2d", dx, dy, [g](const Tensor& ddx, const Tensor&) {
                return Grads{avg_pool2d(ddx, args_of(g))};
            })};
        },
        BackwardReads::shapes, Differentiable::twice);
}

}  // namespace tg
