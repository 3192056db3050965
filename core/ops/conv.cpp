// Convolution: conv1d and conv2d, PyTorch's cross-correlation with stride, zero padding,
// dilation and groups. Both run one implementation: conv1d is conv2d over a height of 1.
//
// Each sample goes through im2col and one GEMM per group: the window of every output position
// becomes a column of col (Cg*kH*kW, Ho*Wo), so y[n, group] (Og, Ho*Wo) = w[group] (Og, Cg*kH*kW)
// @ col, the product the project's tuned CBLAS does best. The backward recomputes col rather
// than keeping it (it is kH*kW times larger than x) and runs the two transposed products:
//   dw[group] += dy[n, group] @ col^T,   dcol = w[group]^T @ dy[n, group],   dx[n] = col2im(dcol),
//   db[o] = sum over n and positions of dy[n, o].
// Samples run in parallel, one per OpenMP thread, each product on its thread alone (one
// thread pool: OpenBLAS's OpenMP build runs single-threaded inside a parallel region); small
// problems run the samples in turn and let the BLAS use the threads.
#include <omp.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <vector>

#include "core/check.hpp"
#include "core/kernels/blas.hpp"
#include "core/ops/common.hpp"
#include "core/internal/profiler.hpp"

namespace tg {

namespace {

// Sizes of one convolution in 2-d terms (conv1d has H = kH = 1, no padding or stride in H).
struct ConvGeom {
    int64_t N, C, H, W;     // input
    int64_t O, KH, KW;      // weight (O, C/G, KH, KW)
    int64_t OH, OW;         // output spatial size
    int64_t sh, sw, ph, pw, dh, dw, G;
    int64_t Cg() const { return C / G; }
    int64_t Og() const { return O / G; }
    int64_t KK() const { return Cg() * KH * KW; }  // rows of col
    int64_t P() const { return OH * OW; }          // columns of col
    // A 1x1 kernel at stride 1 without padding reads x itself as col.
    bool direct() const { return KH == 1 && KW == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
};

// Below this many multiply-adds a convolution runs its samples in turn (the BLAS may still
// thread each product); above it, samples are spread over the OpenMP threads.
constexpr int64_t kParallelMacs = int64_t{1} << 20;

int batch_team(const ConvGeom& g) {
    const int64_t macs = g.N * g.O * g.KK() * g.P();
    if (g.N < 2 || macs < kParallelMacs || omp_in_parallel()) return 1;
    return static_cast<int>(std::min<int64_t>(omp_get_max_threads(), g.N));
}

// The output columns [lo, hi) whose input column ow * s + off lies inside [0, W).
struct Span {
    int64_t lo, hi;
};
Span inside(int64_t off, int64_t s, int64_t W, int64_t OW) {
    const int64_t lo = off >= 0 ? 0 : (-off + s - 1) / s;
    const int64_t hi = W - 1 - off < 0 ? 0 : (W - 1 - off) / s + 1;
    return {std::min(lo, OW), std::clamp(hi, std::min(lo, OW), OW)};
}

// Where one row (c, kh, kw) of col reads x: output rows [r.lo, r.hi) and columns [s.lo, s.hi)
// fall inside the input (the rest read padding); for stride 1 with Wo = W ("same" width), the
// in-range part of the row is the input plane shifted by `shift` elements.
struct RowMap {
    Span r, s;
    int64_t off, shift;
    bool shifted;
};
RowMap row_map(const ConvGeom& g, int64_t kh, int64_t kw) {
    RowMap m;
    m.off = kw * g.dw - g.pw;
    m.r = inside(kh * g.dh - g.ph, g.sh, g.H, g.OH);
    m.s = inside(m.off, g.sw, g.W, g.OW);
    m.shifted = g.sh == 1 && g.sw == 1 && g.OW == g.W;
    m.shift = (kh * g.dh - g.ph) * g.W + m.off;
    return m;
}

// col[(c*KH + kh)*KW + kw, oh*OW + ow] = x[c, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw], 0 outside.
// x points at the first of the group's Cg channels of one sample. The "same" case copies a
// whole shifted plane at once and then zeroes the few columns that wrapped around (rather
// than a call per output row, which costs more than the copy at 14x14).
template <class T>
void im2col(const ConvGeom& g, const T* x, T* col) {
    const int64_t P = g.P(), HW = g.H * g.W, OW = g.OW;
    for (int64_t kh = 0; kh < g.KH; ++kh)
        for (int64_t kw = 0; kw < g.KW; ++kw) {
            const RowMap m = row_map(g, kh, kw);
            for (int64_t c = 0; c < g.Cg(); ++c) {
                T* row = col + ((c * g.KH + kh) * g.KW + kw) * P;
                const T* plane = x + c * HW;
                std::fill(row, row + m.r.lo * OW, T(0));
                std::fill(row + m.r.hi * OW, row + P, T(0));
                if (m.shifted) {
                    // Entries whose source falls outside the plane are wrapped columns, zeroed below.
                    const int64_t a = std::max(m.r.lo * OW, -m.shift), b = std::min(m.r.hi * OW, HW - m.shift);
                    if (b > a) std::memcpy(row + a, plane + a + m.shift, sizeof(T) * (b - a));
                    for (int64_t ow = 0; ow < m.s.lo; ++ow)
                        for (int64_t oh = m.r.lo; oh < m.r.hi; ++oh) row[oh * OW + ow] = T(0);
                    for (int64_t ow = m.s.hi; ow < OW; ++ow)
                        for (int64_t oh = m.r.lo; oh < m.r.hi; ++oh) row[oh * OW + ow] = T(0);
                    continue;
                }
                for (int64_t oh = m.r.lo; oh < m.r.hi; ++oh) {
                    T* dst = row + oh * OW;
                    const T* src = plane + (oh * g.sh - g.ph + kh * g.dh) * g.W + m.off;
                    for (int64_t ow = 0; ow < m.s.lo; ++ow) dst[ow] = T(0);
                    for (int64_t ow = m.s.lo; ow < m.s.hi; ++ow) dst[ow] = src[ow * g.sw];
                    for (int64_t ow = m.s.hi; ow < OW; ++ow) dst[ow] = T(0);
                }
            }
        }
}

// The adjoint of im2col: every entry of col is added back to the input position it was read
// from (padding positions are dropped). dx points at the group's channels of one sample. In
// the "same" case the wrapped columns of col are zeroed first (col is scratch), so that the
// shifted plane can be added in one pass.
template <class T>
void col2im(const ConvGeom& g, T* col, T* dx) {
    const int64_t P = g.P(), HW = g.H * g.W, OW = g.OW;
    for (int64_t kh = 0; kh < g.KH; ++kh)
        for (int64_t kw = 0; kw < g.KW; ++kw) {
            const RowMap m = row_map(g, kh, kw);
            for (int64_t c = 0; c < g.Cg(); ++c) {
                T* row = col + ((c * g.KH + kh) * g.KW + kw) * P;
                T* plane = dx + c * HW;
                if (m.shifted) {
                    for (int64_t ow = 0; ow < m.s.lo; ++ow)
                        for (int64_t oh = m.r.lo; oh < m.r.hi; ++oh) row[oh * OW + ow] = T(0);
                    for (int64_t ow = m.s.hi; ow < OW; ++ow)
                        for (int64_t oh = m.r.lo; oh < m.r.hi; ++oh) row[oh * OW + ow] = T(0);
                    const int64_t a = std::max(m.r.lo * OW, -m.shift), b = std::min(m.r.hi * OW, HW - m.shift);
#pragma omp simd
                    for (int64_t i = a; i < b; ++i) plane[i + m.shift] += row[i];
                    continue;
                }
                for (int64_t oh = m.r.lo; oh < m.r.hi; ++oh) {
                    const T* src = row + oh * OW;
                    T* dst = plane + (oh * g.sh - g.ph + kh * g.dh) * g.W + m.off;
                    for (int64_t ow = m.s.lo; ow < m.s.hi; ++ow) dst[ow * g.sw] += src[ow];
                }
            }
        }
}

// Scratch that is written before it is read: no zero fill.
template <class T>
std::unique_ptr<T[]> scratch(int64_t n) {
    return std::make_unique_for_overwrite<T[]>(static_cast<std::size_t>(std::max<int64_t>(n, 1)));
}

template <class T>
void conv_forward(const ConvGeom& g, const T* x, const T* w, const T* b, T* y) {
    const int64_t P = g.P(), KK = g.KK(), Og = g.Og(), HW = g.H * g.W;
    const int team = batch_team(g);
    const bool direct = g.direct();
    auto col_all = scratch<T>(direct ? 0 : team * KK * P);
#pragma omp parallel num_threads(team) if (team > 1)
    {
        T* col = col_all.get() + (direct ? 0 : omp_get_thread_num() * KK * P);
#pragma omp for schedule(static)
        for (int64_t n = 0; n < g.N; ++n)
            for (int64_t grp = 0; grp < g.G; ++grp) {
                const T* src = x + (n * g.C + grp * g.Cg()) * HW;
                if (!direct) im2col(g, src, col);
                T* out = y + (n * g.O + grp * Og) * P;
                if (b)
                    for (int64_t o = 0; o < Og; ++o) std::fill(out + o * P, out + (o + 1) * P, b[grp * Og + o]);
                kernels::gemm(false, false, Og, P, KK, T(1), w + grp * Og * KK, KK, direct ? src : col, P,
                              b ? T(1) : T(0), out, P);
            }
    }
}

// dx and dw (either may be null) get the gradients; db (or null) too. dx must start zeroed.
template <class T>
void conv_backward(const ConvGeom& g, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db) {
    const int64_t P = g.P(), KK = g.KK(), Og = g.Og(), HW = g.H * g.W;
    const int64_t wsize = g.O * KK;
    const int team = batch_team(g);
    const bool direct = g.direct();
    // Per thread: col and dcol, then its own partial sums of dw and db (thread 0 sums into
    // dw and db themselves), added in thread order at the end.
    const int64_t cols = direct ? 0 : (dw ? KK * P : 0) + (dx ? KK * P : 0);
    const int64_t partial = (dw ? wsize : 0) + (db ? g.O : 0);
    auto buf = scratch<T>(team * cols + (team - 1) * partial);
    std::fill(buf.get() + team * cols, buf.get() + team * cols + (team - 1) * partial, T(0));
    if (dw) std::fill(dw, dw + wsize, T(0));
    if (db) std::fill(db, db + g.O, T(0));
#pragma omp parallel num_threads(team) if (team > 1)
    {
        const int t = omp_get_thread_num();
        T* col = buf.get() + t * cols;
        T* dcol = dw ? col + KK * P : col;
        T* part = t == 0 ? nullptr : buf.get() + team * cols + (t - 1) * partial;
        T* dw_t = dw == nullptr ? nullptr : t == 0 ? dw : part;
        T* db_t = db == nullptr ? nullptr : t == 0 ? db : part + (dw ? wsize : 0);
#pragma omp for schedule(static)
        for (int64_t n = 0; n < g.N; ++n) {
            if (db_t)
                for (int64_t o = 0; o < g.O; ++o) {
                    const T* row = dy + (n * g.O + o) * P;
                    T s = 0;
#pragma omp simd reduction(+ : s)
                    for (int64_t p = 0; p < P; ++p) s += row[p];
                    db_t[o] += s;
                }
            for (int64_t grp = 0; grp < g.G; ++grp) {
                const T* dyg = dy + (n * g.O + grp * Og) * P;
                const T* wg = w ? w + grp * Og * KK : nullptr;  // w is only read for dx
                const int64_t in_off = (n * g.C + grp * g.Cg()) * HW;
                if (dw_t) {
                    const T* c = direct ? x + in_off : col;
                    if (!direct) im2col(g, x + in_off, col);
                    kernels::gemm(false, true, Og, KK, P, T(1), dyg, P, c, P, T(1), dw_t + grp * Og * KK, KK);
                }
                if (dx) {
                    // 1x1 direct: dcol is dx's slice itself.
                    kernels::gemm(true, false, KK, P, Og, T(1), wg, KK, dyg, P, T(0), direct ? dx + in_off : dcol, P);
                    if (!direct) col2im(g, dcol, dx + in_off);
                }
            }
        }
    }
    for (int t = 1; t < team; ++t) {
        const T* part = buf.get() + team * cols + (t - 1) * partial;
        if (dw)
            for (int64_t i = 0; i < wsize; ++i) dw[i] += part[i];
        if (db)
            for (int64_t o = 0; o < g.O; ++o) db[o] += part[(dw ? wsize : 0) + o];
    }
}

std::string dims_str(const std::array<int64_t, 2>& v, int spatial) {
    return spatial == 1 ? fmt::format("{}", v[1]) : fmt::format("({}, {})", v[0], v[1]);
}

// Checks a conv1d (spatial 1) or conv2d (spatial 2) call and returns its geometry; for conv1d
// the arrays hold the H entry (unused, 1/0/1) first. Also gives the output's shape.
ConvGeom conv_geometry(const char* op, int spatial, const Tensor& x, const Tensor& w, const Tensor& b,
                       const std::array<int64_t, 2>& stride, const std::array<int64_t, 2>& padding,
                       const std::array<int64_t, 2>& dilation, int64_t groups, Shape& out_shape) {
    detail::check_same_floating(op, x, w);
    if (b.defined()) detail::check_same_floating(op, x, b);
    const char* layout = spatial == 1 ? "3-d (N, Cin, L) or 2-d (Cin, L)" : "4-d (N, Cin, H, W) or 3-d (Cin, H, W)";
    const char* wlayout = spatial == 1 ? "(Cout, Cin/groups, K)" : "(Cout, Cin/groups, kH, kW)";
    const Shape &xs = x.shape(), &ws = w.shape();
    TG_CHECK(x.dim() == spatial + 2 || x.dim() == spatial + 1, ShapeError, "{}: x must be {}, got {}", op, layout,
             shape_str(xs));
    TG_CHECK(w.dim() == spatial + 2, ShapeError, "{}: weight must be {}-d {}, got {}", op, spatial + 2, wlayout,
             shape_str(ws));
    TG_CHECK(stride[0] >= 1 && stride[1] >= 1, ValueError, "{}: stride must be >= 1, got {}", op,
             dims_str(stride, spatial));
    TG_CHECK(dilation[0] >= 1 && dilation[1] >= 1, ValueError, "{}: dilation must be >= 1, got {}", op,
             dims_str(dilation, spatial));
    TG_CHECK(padding[0] >= 0 && padding[1] >= 0, ValueError, "{}: padding must be >= 0, got {}", op,
             dims_str(padding, spatial));
    TG_CHECK(groups >= 1, ValueError, "{}: groups must be >= 1, got {}", op, groups);
    const bool batched = x.dim() == spatial + 2;
    ConvGeom g{};
    g.N = batched ? xs[0] : 1;
    g.C = xs[batched ? 1 : 0];
    g.H = spatial == 1 ? 1 : xs[x.dim() - 2];
    g.W = xs.back();
    g.O = ws[0];
    g.KH = spatial == 1 ? 1 : ws[2];
    g.KW = ws.back();
    g.G = groups;
    TG_CHECK(g.C % groups == 0 && g.O % groups == 0, ShapeError,
             "{}: groups = {} must divide both Cin = {} (x {}) and Cout = {} (weight {})", op, groups, g.C,
             shape_str(xs), g.O, shape_str(ws));
    TG_CHECK(ws[1] == g.C / groups, ShapeError,
             "{}: weight {} has {} input channels per group, but x {} has Cin / groups = {} / {} = {}", op,
             shape_str(ws), ws[1], shape_str(xs), g.C, groups, g.C / groups);
    TG_CHECK(g.O >= 1 && g.KH >= 1 && g.KW >= 1, ShapeError, "{}: weight {} has an empty dim", op, shape_str(ws));
    TG_CHECK(!b.defined() || (b.dim() == 1 && b.shape()[0] == g.O), ShapeError,
             "{}: bias must be (Cout,) = ({},) for weight {}, got {}", op, g.O, shape_str(ws),
             b.defined() ? shape_str(b.shape()) : "");
    g.sh = stride[0], g.sw = stride[1], g.ph = padding[0], g.pw = padding[1], g.dh = dilation[0], g.dw = dilation[1];
    // floor((L + 2p - d(K-1) - 1) / s) + 1, written so that a negative numerator gives <= 0.
    auto out_size = [](int64_t L, int64_t K, int64_t s, int64_t p, int64_t d) {
        const int64_t num = L + 2 * p - d * (K - 1) - 1;
        return num < 0 ? 0 : num / s + 1;
    };
    g.OH = out_size(g.H, g.KH, g.sh, g.ph, g.dh);
    g.OW = out_size(g.W, g.KW, g.sw, g.pw, g.dw);
    const std::array<int64_t, 2> in{g.H, g.W}, k{g.KH, g.KW};
    TG_CHECK(g.OH >= 1 && g.OW >= 1, ShapeError,
             "{}: the input is smaller than the kernel: input size {} with padding {} against kernel {} at "
             "dilation {} leaves no output position (x {}, weight {})",
             op, dims_str(in, spatial), dims_str(padding, spatial), dims_str(k, spatial),
             dims_str(dilation, spatial), shape_str(xs), shape_str(ws));
    out_shape.clear();
    if (batched) out_shape.push_back(g.N);
    out_shape.push_back(g.O);
    if (spatial == 2) out_shape.push_back(g.OH);
    out_shape.push_back(g.OW);
    return g;
}

Tensor conv_input_grad(const char* op, const ConvGeom& g, const Tensor& dy, const Tensor& w, const Shape& x_shape);
Tensor conv_weight_grad(const char* op, const ConvGeom& g, const Tensor& x, const Tensor& dy, const Shape& w_shape);

// The forward and the tape entry, shared by conv1d and conv2d (x, w and the output keep their
// own shapes; the buffers are the 2-d ones, since every tensor is contiguous).
//
// Creating a graph: the convolution is bilinear in (x, w), and so are its two gradients, dx =
// conv_input_grad(dy, w) and dw = conv_weight_grad(x, dy). Each of the three is recorded with
// the other two as its backward (the derivative of a bilinear map in one argument is the map
// with that argument replaced), so they differentiate each other any number of times; db sums
// dy with ops.
Tensor conv(const char* op, const ConvGeom& g, const Tensor& x, const Tensor& w, const Tensor& b,
            const Shape& out_shape) {
    Tensor y = Tensor::empty(out_shape, x.dtype());
    dispatch_floating(op, x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        conv_forward<T>(g, x.data<T>(), w.data<T>(), b.defined() ? b.data<T>() : nullptr, y.data<T>());
    });
    return record(op, y, {x, w, b}, [op, g, x, w, b](const Tensor& dy, const Tensor&) {
        if (is_grad_enabled()) {
            const bool need_db = b.defined() && b.requires_grad();
            return Grads{x.requires_grad() ? conv_input_grad(op, g, dy, w, x.shape()) : Tensor(),
                         w.requires_grad() ? conv_weight_grad(op, g, x, dy, w.shape()) : Tensor(),
                         need_db ? sum(sum(reshape(dy, {g.N, g.O, g.P()}), 2), 0) : Tensor()};
        }
        Tensor dx = x.requires_grad() ? Tensor::zeros(x.shape(), x.dtype()) : Tensor();
        Tensor dw = w.requires_grad() ? Tensor::empty(w.shape(), w.dtype()) : Tensor();
        Tensor db = b.defined() && b.requires_grad() ? Tensor::empty(b.shape(), b.dtype()) : Tensor();
        dispatch_floating(op, dy.dtype(), [&](auto tag) {
            using T = decltype(tag);
            auto ptr = [](const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; };
            conv_backward<T>(g, x.data<T>(), w.data<T>(), dy.data<T>(), ptr(dx), ptr(dw), ptr(db));
        });
        return Grads{dx, dw, db};
    }, BackwardReads::values, Differentiable::twice);
}

// dx of conv(x, w) for the output gradient dy (x's shape): linear in dy and in w.
Tensor conv_input_grad(const char* op, const ConvGeom& g, const Tensor& dy, const Tensor& w, const Shape& x_shape) {
    Tensor dx = Tensor::zeros(x_shape, dy.dtype());
    dispatch_floating(op, dy.dtype(), [&](auto tag) {
        using T = decltype(tag);
        conv_backward<T>(g, nullptr, w.data<T>(), dy.data<T>(), dx.data<T>(), nullptr, nullptr);
    });
    return record(op, dx, {dy, w}, [op, g, dy, w](const Tensor& ddx, const Tensor&) {
        return Grads{dy.requires_grad() ? conv(op, g, ddx, w, Tensor(), dy.shape()) : Tensor(),
                     w.requires_grad() ? conv_weight_grad(op, g, ddx, dy, w.shape()) : Tensor()};
    }, BackwardReads::values, Differentiable::twice);
}

// dw of conv(x, w) for the output gradient dy (w's shape): linear in x and in dy.
Tensor conv_weight_grad(const char* op, const ConvGeom& g, const Tensor& x, const Tensor& dy, const Shape& w_shape) {
    Tensor dw = Tensor::empty(w_shape, dy.dtype());
    dispatch_floating(op, dy.dtype(), [&](auto tag) {
        using T = decltype(tag);
        conv_backward<T>(g, x.data<T>(), nullptr, dy.data<T>(), nullptr, dw.data<T>(), nullptr);
    });
    return record(op, dw, {x, dy}, [op, g, x, dy](const Tensor& ddw, const Tensor&) {
        return Grads{x.requires_grad() ? conv_input_grad(op, g, dy, ddw, x.shape()) : Tensor(),
                     dy.requires_grad() ? conv(op, g, x, ddw, Tensor(), dy.shape()) : Tensor()};
    }, BackwardReads::values, Differentiable::twice);
}

}  // namespace

/// y[n, o, l] = b[o] + sum_{c in o's group, k} w[o, c, k] * x[n, c, l*s - p + k*d] (0 outside x).
/// dw[o, c, k] = sum_{n, l} dy[n, o, l] x[n, c, l*s - p + k*d],  dx = the adjoint scatter of
/// dy through w,  db[o] = sum_{n, l} dy[n, o, l]. Runs as conv2d over a height of 1.
Tensor conv1d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv1dArgs& args) {
    const detail::OpScope scope("conv1d");
    Shape out_shape;
    const ConvGeom g = conv_geometry("conv1d", 1, x, w, b, {1, args.stride}, {0, args.padding},
                                     {1, args.dilation}, args.groups, out_shape);
    return conv("conv1d", g, x, w, b, out_shape);
}

/// y[n, o, i, j] = b[o] + sum_{c in o's group, u, v} w[o, c, u, v] x[n, c, i*sh - ph + u*dh, j*sw - pw + v*dw].
/// With col = im2col(x[n]) per group: y = w @ col,  dw = sum_n dy @ col^T,  dx = col2im(w^T @ dy),
/// db = sum over n, i, j of dy.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dArgs& args) {
    const detail::OpScope scope("conv2d");
    Shape out_shape;
    const ConvGeom g =
        conv_geometry("conv2d", 2, x, w, b, args.stride, args.padding, args.dilation, args.groups, out_shape);
    return conv("conv2d", g, x, w, b, out_shape);
}

}  // namespace tg
