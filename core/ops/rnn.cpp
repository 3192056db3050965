// The recurrent part of an LSTM or GRU layer over a whole sequence, as one op with its
// backward through time written out. The input projection x W_ih^T + b_ih has no recurrence,
// so nn::LSTM and nn::GRU run it as one linear over every step first; what is left here is, per
// step, one (B, H) @ (H, G H) product and the gates' pointwise work. Written as ops per step,
// that is a dozen tape entries and allocations a step (and a select whose backward writes a
// zero tensor the size of the sequence); as one op it is one entry and a handful of buffers.
#include <cstring>
#include <vector>

#include "core/check.hpp"
#include "core/kernels/blas.hpp"
#include "core/kernels/simd.hpp"
#include "core/ops/common.hpp"
#include "core/internal/profiler.hpp"

namespace tg {

namespace {

// In place over n elements, in SIMD batches (the gates' transcendentals are most of a step's
// pointwise time).
template <class T>
void sigmoid_inplace(T* a, int64_t n) {
    kernels::vmap(a, a, n, [](const kernels::Vec<T>& v) { return T(1) / (T(1) + kernels::exp(-v)); });
}
template <class T>
void tanh_inplace(T* a, int64_t n) {
    kernels::vmap(a, a, n, [](const kernels::Vec<T>& v) { return kernels::tanh(v); });
}

// Checks x_proj (T, B, G H), h0 (and c0) (B, H), w_hh (G H, H), b_hh (G H) or undefined, for a
// cell of G gates; returns H.
int64_t check_recurrence(const char* op, int64_t G, const Tensor& x_proj, const Tensor& h0, const Tensor* c0,
                         const Tensor& w_hh, const Tensor& b_hh) {
    detail::check_defined(op, x_proj, "x_proj");
    detail::check_defined(op, h0, "h0");
    detail::check_defined(op, w_hh, "w_hh");
    if (c0) detail::check_defined(op, *c0, "c0");
    detail::check_floating(op, x_proj);
    for (const Tensor* t : {&h0, &w_hh, c0, &b_hh})
        if (t && t->defined()) detail::check_same_floating(op, x_proj, *t);
    TG_CHECK(w_hh.dim() == 2 && w_hh.shape()[0] == G * w_hh.shape()[1] && w_hh.shape()[1] > 0, ShapeError,
             "{}: w_hh must be ({} H, H) for a hidden size H > 0, got {}", op, G, shape_str(w_hh.shape()));
    const int64_t H = w_hh.shape()[1];
    TG_CHECK(x_proj.dim() == 3 && x_proj.shape()[2] == G * H, ShapeError,
             "{}: x_proj must be (T, B, {}) (steps, batch, {} gates of hidden size {}), got {}", op, G * H, G, H,
             shape_str(x_proj.shape()));
    const int64_t T = x_proj.shape()[0], B = x_proj.shape()[1];
    TG_CHECK(T > 0, ValueError, "{}: the sequence is empty (x_proj {}); give at least one step", op,
             shape_str(x_proj.shape()));
    const Shape state{B, H};
    TG_CHECK(h0.shape() == state, ShapeError, "{}: h0 must be (B, H) = {}, got {}", op, shape_str(state),
             shape_str(h0.shape()));
    if (c0)
        TG_CHECK(c0->shape() == state, ShapeError, "{}: c0 must be (B, H) = {}, got {}", op, shape_str(state),
                 shape_str(c0->shape()));
    if (b_hh.defined())
        TG_CHECK(b_hh.shape() == Shape{G * H}, ShapeError, "{}: b_hh must be ({}), got {}", op, G * H,
                 shape_str(b_hh.shape()));
    return H;
}

// rows (R, N) += bias (N) for every row, or = 0 without a bias.
template <class T>
void fill_bias(T* rows, int64_t R, int64_t N, const Tensor& bias) {
    if (!bias.defined()) {
        std::memset(rows, 0, static_cast<std::size_t>(R * N) * sizeof(T));
        return;
    }
    const T* pb = bias.data<T>();
    for (int64_t r = 0; r < R; ++r) std::memcpy(rows + r * N, pb, static_cast<std::size_t>(N) * sizeof(T));
}

// db (N) = the column sums of rows (R, N).
template <class T>
Tensor column_sums(const T* rows, int64_t R, int64_t N, Dtype dtype) {
    Tensor db = Tensor::zeros({N}, dtype);
    T* pd = db.data<T>();
    for (int64_t r = 0; r < R; ++r)
        for (int64_t n = 0; n < N; ++n) pd[n] += rows[r * N + n];
    return db;
}

// dW (G H, H) = sum over steps of d_gates[t]^T @ h_prev[t], h_prev[0] = h0 and h_prev[t] = the
// output of step t - 1 (rows B (t - 1) onwards of hs).
template <class T>
Tensor recurrent_weight_grad(const T* d_gates, const T* h0, const T* hs, int64_t T_, int64_t B, int64_t GH, int64_t H,
                             Dtype dtype) {
    Tensor dw = Tensor::empty({GH, H}, dtype);
    T* pw = dw.data<T>();
    kernels::gemm(true, false, GH, H, B, T(1), d_gates, GH, h0, H, T(0), pw, H);
    if (T_ > 1) kernels::gemm(true, false, GH, H, (T_ - 1) * B, T(1), d_gates + B * GH, GH, hs, H, T(1), pw, H);
    return dw;
}

// The recurrences' backwards as recorded ops, for create_graph: the forward runs again from ops
// (so every activation hangs off the inputs on the tape), then the backward through time of the
// comment above each op, step by step, with ops. The grads follow the op's inputs.
Grads lstm_backward_ops(const Tensor& x_proj, const Tensor& h0, const Tensor& c0, const Tensor& w_hh,
                        const Tensor& b_hh, const Tensor& dy) {
    const int64_t T_ = x_proj.shape()[0], H = h0.shape()[1];
    struct Step {
        Tensor h_prev, c_prev, i, f, g, o, tc;
    };
    std::vector<Step> steps;
    Tensor h = h0, c = c0;
    for (int64_t t = 0; t < T_; ++t) {
        const std::vector<Tensor> a = split(add(select(x_proj, 0, t), linear(h, w_hh, b_hh)), H, 1);
        Step s{h, c, sigmoid(a[0]), sigmoid(a[1]), tanh(a[2]), sigmoid(a[3]), Tensor()};
        c = add(mul(s.f, c), mul(s.i, s.g));
        s.tc = tanh(c);
        h = mul(s.o, s.tc);
        steps.push_back(s);
    }
    Tensor dh, dc = select(dy, 0, T_), dw;
    std::vector<Tensor> d_gates(static_cast<std::size_t>(T_));
    for (int64_t t = T_ - 1; t >= 0; --t) {
        const Step& s = steps[static_cast<std::size_t>(t)];
        const Tensor dhs = dh.defined() ? add(dh, select(dy, 0, t)) : select(dy, 0, t);
        const Tensor dcs = add(dc, mul(mul(dhs, s.o), 1.0 - mul(s.tc, s.tc)));
        const Tensor da = cat({mul(mul(dcs, s.g), mul(s.i, 1.0 - s.i)), mul(mul(dcs, s.c_prev), mul(s.f, 1.0 - s.f)),
                               mul(mul(dcs, s.i), 1.0 - mul(s.g, s.g)), mul(mul(dhs, s.tc), mul(s.o, 1.0 - s.o))},
                              1);
        dc = mul(dcs, s.f);
        dh = matmul(da, w_hh);
        if (w_hh.requires_grad()) {
            const Tensor step_dw = matmul(transpose(da, 0, 1), s.h_prev);
            dw = dw.defined() ? add(dw, step_dw) : step_dw;
        }
        d_gates[static_cast<std::size_t>(t)] = da;
    }
    const Tensor dx = stack(d_gates, 0);
    const bool need_db = b_hh.defined() && b_hh.requires_grad();
    return {dx, h0.requires_grad() ? dh : Tensor(), c0.requires_grad() ? dc : Tensor(), dw,
            need_db ? sum(dx, std::vector<int64_t>{0, 1}) : Tensor()};
}

Grads gru_backward_ops(const Tensor& x_proj, const Tensor& h0, const Tensor& w_hh, const Tensor& b_hh,
                       const Tensor& dy) {
    const int64_t T_ = x_proj.shape()[0], H = h0.shape()[1];
    struct Step {
        Tensor h_prev, r, z, n, a_n;
    };
    std::vector<Step> steps;
    Tensor h = h0;
    for (int64_t t = 0; t < T_; ++t) {
        const std::vector<Tensor> x = split(select(x_proj, 0, t), H, 1);
        const std::vector<Tensor> a = split(linear(h, w_hh, b_hh), H, 1);
        Step s{h, sigmoid(add(x[0], a[0])), sigmoid(add(x[1], a[1])), Tensor(), a[2]};
        s.n = tanh(add(x[2], mul(s.r, a[2])));
        h = add(mul(1.0 - s.z, s.n), mul(s.z, h));
        steps.push_back(s);
    }
    Tensor dh, dw, db;
    std::vector<Tensor> dxs(static_cast<std::size_t>(T_));
    const bool need_db = b_hh.defined() && b_hh.requires_grad();
    for (int64_t t = T_ - 1; t >= 0; --t) {
        const Step& s = steps[static_cast<std::size_t>(t)];
        const Tensor dhs = dh.defined() ? add(dh, select(dy, 0, t)) : select(dy, 0, t);
        const Tensor dxn = mul(mul(dhs, 1.0 - s.z), 1.0 - mul(s.n, s.n));
        const Tensor dar = mul(mul(dxn, s.a_n), mul(s.r, 1.0 - s.r));
        const Tensor daz = mul(mul(dhs, sub(s.h_prev, s.n)), mul(s.z, 1.0 - s.z));
        dxs[static_cast<std::size_t>(t)] = cat({dar, daz, dxn}, 1);
        const Tensor d_rec = cat({dar, daz, mul(dxn, s.r)}, 1);
        dh = add(mul(dhs, s.z), matmul(d_rec, w_hh));
        if (w_hh.requires_grad()) {
            const Tensor step_dw = matmul(transpose(d_rec, 0, 1), s.h_prev);
            dw = dw.defined() ? add(dw, step_dw) : step_dw;
        }
        if (need_db) db = db.defined() ? add(db, sum(d_rec, 0)) : sum(d_rec, 0);
    }
    return {stack(dxs, 0), h0.requires_grad() ? dh : Tensor(), dw, db};
}

}  // namespace

/// Per step t (gates in PyTorch's order i, f, g, o):
///   a = x_proj[t] + h W_hh^T + b_hh;  i, f, o = sigmoid(a_i, a_f, a_o);  g = tanh(a_g)
///   c' = f c + i g;  h' = o tanh(c')
/// Backward, from the last step down, with dh = d output[t] + (the recurrent part):
///   dc = dc' + dh o (1 - tanh(c')^2);  dc_prev = dc f
///   da_i = dc g i (1 - i);  da_f = dc c f (1 - f);  da_g = dc i (1 - g^2);  da_o = dh tanh(c') o (1 - o)
///   dh_prev = da W_hh;  d x_proj[t] = da;  dW_hh += da^T h;  db_hh += da
/// The op's one output Y (T + 1, B, H) holds every h and then the last c; the results are views.
LSTMSequence lstm_recurrence(const Tensor& x_proj, const Tensor& h0, const Tensor& c0, const Tensor& w_hh,
                             const Tensor& b_hh) {
    const char* op = "lstm_recurrence";
    const int64_t H = check_recurrence(op, 4, x_proj, h0, &c0, w_hh, b_hh);
    const int64_t T_ = x_proj.shape()[0], B = x_proj.shape()[1], G = 4 * H;
    const Dtype dt = x_proj.dtype();
    Tensor y = Tensor::empty({T_ + 1, B, H}, dt);
    Tensor acts = Tensor::empty({T_, B, G}, dt);  // i, f, g, o after their nonlinearities
    Tensor cells = Tensor::empty({T_, B, H}, dt);
    Tensor tanh_cells = Tensor::empty({T_, B, H}, dt);
    dispatch_floating(op, dt, [&](auto tag) {
        using T = decltype(tag);
        const T *px = x_proj.data<T>(), *pw = w_hh.data<T>();
        T *py = y.data<T>(), *pa = acts.data<T>(), *pc = cells.data<T>(), *ptc = tanh_cells.data<T>();
        const T *h = h0.data<T>(), *c = c0.data<T>();
        for (int64_t t = 0; t < T_; ++t) {
            T* a = pa + t * B * G;
            fill_bias(a, B, G, b_hh);
            kernels::gemm(false, true, B, G, H, T(1), h, H, pw, H, T(1), a, G);
            T *h_new = py + t * B * H, *c_new = pc + t * B * H, *tc = ptc + t * B * H;
            const T* xt = px + t * B * G;
            for (int64_t e = 0; e < B * G; ++e) a[e] += xt[e];
            for (int64_t b = 0; b < B; ++b) {
                T* ab = a + b * G;
                sigmoid_inplace(ab, 2 * H);  // i, f
                tanh_inplace(ab + 2 * H, H);  // g
                sigmoid_inplace(ab + 3 * H, H);  // o
                for (int64_t j = 0; j < H; ++j) c_new[b * H + j] = ab[H + j] * c[b * H + j] + ab[j] * ab[2 * H + j];
            }
            std::memcpy(tc, c_new, static_cast<std::size_t>(B * H) * sizeof(T));
            tanh_inplace(tc, B * H);
            for (int64_t b = 0; b < B; ++b)
                for (int64_t j = 0; j < H; ++j) h_new[b * H + j] = a[b * G + 3 * H + j] * tc[b * H + j];
            h = h_new, c = c_new;
        }
        std::memcpy(py + T_ * B * H, c, static_cast<std::size_t>(B * H) * sizeof(T));
    });
    Tensor packed = record(op, y, {x_proj, h0, c0, w_hh, b_hh},
                           [x_proj, h0, c0, w_hh, b_hh, acts, cells, tanh_cells, T_, B, H, G, op](const Tensor& dy, const Tensor& out) {
        if (is_grad_enabled()) return lstm_backward_ops(x_proj, h0, c0, w_hh, b_hh, dy);  // creating a graph
        const Dtype dt = dy.dtype();
        Tensor d_gates = Tensor::empty({T_, B, G}, dt);
        Tensor dh = Tensor::zeros({B, H}, dt), dc = Tensor::empty({B, H}, dt);
        dispatch_floating(op, dt, [&](auto tag) {
            using T = decltype(tag);
            const T *pdy = dy.data<T>(), *pa = acts.data<T>(), *pc = cells.data<T>(), *pw = w_hh.data<T>();
            const T* ptc = tanh_cells.data<T>();
            T *pg = d_gates.data<T>(), *pdh = dh.data<T>(), *pdc = dc.data<T>();
            std::memcpy(pdc, pdy + T_ * B * H, static_cast<std::size_t>(B * H) * sizeof(T));
            for (int64_t t = T_ - 1; t >= 0; --t) {
                const T *a = pa + t * B * G, *tcs = ptc + t * B * H, *cp = t > 0 ? pc + (t - 1) * B * H : c0.data<T>();
                const T* dout = pdy + t * B * H;
                T* da = pg + t * B * G;
                for (int64_t b = 0; b < B; ++b)
                    for (int64_t j = 0; j < H; ++j) {
                        const int64_t s = b * H + j;
                        const T* ab = a + b * G;
                        const T i = ab[j], f = ab[H + j], g = ab[2 * H + j], o = ab[3 * H + j];
                        const T tc = tcs[s], dhs = pdh[s] + dout[s];
                        const T dcs = pdc[s] + dhs * o * (T(1) - tc * tc);
                        T* db_ = da + b * G;
                        db_[j] = dcs * g * i * (T(1) - i);
                        db_[H + j] = dcs * cp[s] * f * (T(1) - f);
                        db_[2 * H + j] = dcs * i * (T(1) - g * g);
                        db_[3 * H + j] = dhs * tc * o * (T(1) - o);
                        pdc[s] = dcs * f;
                    }
                kernels::gemm(false, false, B, H, G, T(1), da, G, pw, H, T(0), pdh, H);
            }
        });
        Tensor dw, db;
        dispatch_floating(op, dt, [&](auto tag) {
            using T = decltype(tag);
            if (w_hh.requires_grad())
                dw = recurrent_weight_grad(d_gates.data<T>(), h0.data<T>(), out.data<T>(), T_, B, G, H, dt);
            if (b_hh.defined() && b_hh.requires_grad()) db = column_sums(d_gates.data<T>(), T_ * B, G, dt);
        });
        return std::vector<Tensor>{d_gates, h0.requires_grad() ? dh : Tensor(), c0.requires_grad() ? dc : Tensor(),
                                   dw, db};
    }, BackwardReads::values, Differentiable::twice);
    return {narrow(packed, 0, 0, T_), select(packed, 0, T_ - 1), select(packed, 0, T_)};
}

/// Per step t (gates in PyTorch's order r, z, n), with a = h W_hh^T + b_hh:
///   r = sigmoid(x_r + a_r);  z = sigmoid(x_z + a_z);  n = tanh(x_n + r a_n);  h' = (1 - z) n + z h
/// Backward, from the last step down, with dh = d output[t] + (the recurrent part):
///   dz = dh (h - n);  dn = dh (1 - z);  dx_n = dn (1 - n^2);  da_n = dx_n r;  dr = dx_n a_n
///   dx_r = da_r = dr r (1 - r);  dx_z = da_z = dz z (1 - z)
///   dh_prev = dh z + da W_hh;  dW_hh += da^T h;  db_hh += da
Tensor gru_recurrence(const Tensor& x_proj, const Tensor& h0, const Tensor& w_hh, const Tensor& b_hh) {
    const detail::OpScope scope("gru_recurrence");
    const char* op = "gru_recurrence";
    const int64_t H = check_recurrence(op, 3, x_proj, h0, nullptr, w_hh, b_hh);
    const int64_t T_ = x_proj.shape()[0], B = x_proj.shape()[1], G = 3 * H;
    const Dtype dt = x_proj.dtype();
    Tensor y = Tensor::empty({T_, B, H}, dt);
    Tensor acts = Tensor::empty({T_, B, G}, dt);  // r, z, n
    Tensor a_n = Tensor::empty({T_, B, H}, dt);    // the recurrent part of n's pre-activation
    dispatch_floating(op, dt, [&](auto tag) {
        using T = decltype(tag);
        const T *px = x_proj.data<T>(), *pw = w_hh.data<T>();
        T *py = y.data<T>(), *pa = acts.data<T>(), *pn = a_n.data<T>();
        const T* h = h0.data<T>();
        for (int64_t t = 0; t < T_; ++t) {
            T* a = pa + t * B * G;
            fill_bias(a, B, G, b_hh);
            kernels::gemm(false, true, B, G, H, T(1), h, H, pw, H, T(1), a, G);
            T *h_new = py + t * B * H, *an = pn + t * B * H;
            const T* xt = px + t * B * G;
            for (int64_t b = 0; b < B; ++b) {
                T* ab = a + b * G;
                const T* xb = xt + b * G;
                std::memcpy(an + b * H, ab + 2 * H, static_cast<std::size_t>(H) * sizeof(T));
                for (int64_t j = 0; j < 2 * H; ++j) ab[j] += xb[j];
                sigmoid_inplace(ab, 2 * H);  // r, z
                for (int64_t j = 0; j < H; ++j) ab[2 * H + j] = xb[2 * H + j] + ab[j] * an[b * H + j];
                tanh_inplace(ab + 2 * H, H);  // n
                for (int64_t j = 0; j < H; ++j) {
                    const T z = ab[H + j], n = ab[2 * H + j];
                    h_new[b * H + j] = (T(1) - z) * n + z * h[b * H + j];
                }
            }
            h = h_new;
        }
    });
    return record(op, y, {x_proj, h0, w_hh, b_hh},
                  [x_proj, h0, w_hh, b_hh, acts, a_n, T_, B, H, G, op](const Tensor& dy, const Tensor& out) {
        if (is_grad_enabled()) return gru_backward_ops(x_proj, h0, w_hh, b_hh, dy);  // creating a graph
        const Dtype dt = dy.dtype();
        Tensor dx = Tensor::empty({T_, B, G}, dt), d_rec = Tensor::empty({T_, B, G}, dt);
        Tensor dh = Tensor::zeros({B, H}, dt);
        Tensor dw, db;
        dispatch_floating(op, dt, [&](auto tag) {
            using T = decltype(tag);
            const T *pdy = dy.data<T>(), *pa = acts.data<T>(), *pn = a_n.data<T>(), *pw = w_hh.data<T>();
            const T* hs = out.data<T>();
            T *pdx = dx.data<T>(), *pr = d_rec.data<T>(), *pdh = dh.data<T>();
            for (int64_t t = T_ - 1; t >= 0; --t) {
                const T* hp = t > 0 ? hs + (t - 1) * B * H : h0.data<T>();
                const T* dout = pdy + t * B * H;
                for (int64_t b = 0; b < B; ++b)
                    for (int64_t j = 0; j < H; ++j) {
                        const int64_t s = b * H + j, g0 = (t * B + b) * G;
                        const T r = pa[g0 + j], z = pa[g0 + H + j], n = pa[g0 + 2 * H + j];
                        const T dhs = pdh[s] + dout[s];
                        const T dxn = dhs * (T(1) - z) * (T(1) - n * n);
                        const T dar = dxn * pn[t * B * H + s] * r * (T(1) - r);
                        const T daz = dhs * (hp[s] - n) * z * (T(1) - z);
                        pdx[g0 + j] = pr[g0 + j] = dar;
                        pdx[g0 + H + j] = pr[g0 + H + j] = daz;
                        pdx[g0 + 2 * H + j] = dxn;
                        pr[g0 + 2 * H + j] = dxn * r;
                        pdh[s] = dhs * z;
                    }
                kernels::gemm(false, false, B, H, G, T(1), pr + t * B * G, G, pw, H, T(1), pdh, H);
            }
            if (w_hh.requires_grad()) dw = recurrent_weight_grad(pr, h0.data<T>(), hs, T_, B, G, H, dt);
            if (b_hh.defined() && b_hh.requires_grad()) db = column_sums(static_cast<const T*>(pr), T_ * B, G, dt);
        });
        return std::vector<Tensor>{dx, h0.requires_grad() ? dh : Tensor(), dw, db};
    }, BackwardReads::values, Differentiable::twice);
}

}  // namespace tg
