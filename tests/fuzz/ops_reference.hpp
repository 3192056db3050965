#pragma once
// The reference ops_fuzz.cpp checks tapegrad against: shapes and f64 values in row-major
// order, computed the plain way (no SIMD, no BLAS, no tape), with the shape rules written out.
#include <algorithm>
#include <cmath>
#include <numbers>
#include <optional>
#include <tapegrad.hpp>
#include <vector>

namespace tg::fuzz {

struct Ref {
    Shape shape;
    std::vector<double> v;
    Dtype dtype = Dtype::f64;
};

// What the reference says about a call.
enum class Verdict { valid, invalid, either };
struct Expect {
    Verdict verdict = Verdict::valid;
    Ref out;
    std::vector<Ref> outs;  // for ops with several outputs, instead of out
    // Verdict::either may come without a reference: then only the backward is checked.
    bool has_reference() const { return !out.shape.empty() || !out.v.empty() || !outs.empty(); }
    static Expect bad() { return {Verdict::invalid, {}}; }
    static Expect any() { return {Verdict::either, {}}; }
};

inline int64_t numel(const Shape& s) {
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    return n;
}
inline Shape strides(const Shape& s) {
    Shape st(s.size(), 1);
    for (int64_t i = static_cast<int64_t>(s.size()) - 2; i >= 0; --i) st[i] = st[i + 1] * s[i + 1];
    return st;
}
inline Ref ref_of(const Tensor& t) { return {t.shape(), t.to_vector<double>(), t.dtype()}; }
inline int64_t rank(const Tensor& t) { return t.dim(); }
inline bool floating(const Tensor& t) { return is_floating(t.dtype()); }
// dim normalised into [0, r), or -1 when out of range.
inline int64_t norm_dim(int64_t d, int64_t r) {
    if (d < -r || d >= r) return -1;
    return d < 0 ? d + r : d;
}

inline std::optional<Shape> broadcast(const Shape& a, const Shape& b) {
    const std::size_t n = std::max(a.size(), b.size());
    Shape out(n);
    for (std::size_t i = 0; i < n; ++i) {
        const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
        const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
        if (da != db && da != 1 && db != 1) return std::nullopt;
        out[i] = da == 1 ? db : da;
    }
    return out;
}
// The flat index into `in` (right-aligned, size-1 dims broadcast) of flat index i of `out`.
inline int64_t source_index(int64_t i, const Shape& out, const Shape& in) {
    const Shape so = strides(out), si = strides(in);
    int64_t src = 0;
    const std::size_t off = out.size() - in.size();
    for (std::size_t d = 0; d < out.size(); ++d) {
        const int64_t c = i / so[d] % out[d];
        if (d >= off && in[d - off] != 1) src += c * si[d - off];
    }
    return src;
}

// Applies f to every 1-d row along dim; f returns the row's replacement (of length m).
template <class F>
inline Ref along(const Ref& x, int64_t dim, int64_t m, bool keep, F f) {
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < dim; ++i) outer *= x.shape[static_cast<std::size_t>(i)];
    for (std::size_t i = static_cast<std::size_t>(dim) + 1; i < x.shape.size(); ++i) inner *= x.shape[i];
    const int64_t n = x.shape[static_cast<std::size_t>(dim)];
    Ref out;
    out.dtype = x.dtype;
    out.shape = x.shape;
    if (m == 1 && !keep) out.shape.erase(out.shape.begin() + dim);
    else out.shape[static_cast<std::size_t>(dim)] = m;
    out.v.assign(static_cast<std::size_t>(outer * m * inner), 0.0);
    std::vector<double> row(static_cast<std::size_t>(n));
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t in = 0; in < inner; ++in) {
            for (int64_t k = 0; k < n; ++k) row[static_cast<std::size_t>(k)] = x.v[static_cast<std::size_t>((o * n + k) * inner + in)];
            const std::vector<double> r = f(row);
            for (int64_t k = 0; k < m; ++k) out.v[static_cast<std::size_t>((o * m + k) * inner + in)] = r[static_cast<std::size_t>(k)];
        }
    return out;
}

inline double gelu_ref(double x) {
    return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / std::numbers::pi) * (x + 0.044715 * x * x * x)));
}

inline std::vector<double> softmax_row(const std::vector<double>& r, bool log) {
    double m = -INFINITY;
    for (double x : r) m = std::max(m, x);
    double s = 0;
    for (double x : r) s += std::exp(x - m);
    std::vector<double> out(r.size());
    for (std::size_t i = 0; i < r.size(); ++i) out[i] = log ? r[i] - m - std::log(s) : std::exp(r[i] - m) / s;
    return out;
}

// softmax(q k^T / sqrt(hs) [+ mask]) v for q (B, H, T, hs), k (B, H, S, hs), v (B, H, S, hv).
// mask (when given) is additive and broadcasts to (B, H, T, S); *empty_row says whether some
// query was left with no key (the reference's softmax then gives NaN).
inline Ref attention_ref(const Ref& q, const Ref& k, const Ref& v, bool causal, const Ref* mask = nullptr,
                         bool* empty_row = nullptr) {
    const int64_t B = q.shape[0], H = q.shape[1], T = q.shape[2], D = q.shape[3], S = k.shape[2], Dv = v.shape[3];
    Ref out{{B, H, T, Dv}, std::vector<double>(static_cast<std::size_t>(B * H * T * Dv)), q.dtype};
    const double scale = 1.0 / std::sqrt(static_cast<double>(D));
    for (int64_t bh = 0; bh < B * H; ++bh)
        for (int64_t t = 0; t < T; ++t) {
            std::vector<double> s(static_cast<std::size_t>(S), -INFINITY);
            for (int64_t j = 0; j < S; ++j) {
                if (causal && j > t + (S - T)) continue;
                double dot = 0;
                for (int64_t d = 0; d < D; ++d)
                    dot += q.v[static_cast<std::size_t>((bh * T + t) * D + d)] * k.v[static_cast<std::size_t>((bh * S + j) * D + d)];
                s[static_cast<std::size_t>(j)] = dot * scale;
                if (mask) s[static_cast<std::size_t>(j)] += mask->v[static_cast<std::size_t>(
                              source_index((bh * T + t) * S + j, {B, H, T, S}, mask->shape))];
            }
            if (empty_row && std::all_of(s.begin(), s.end(), [](double x) { return x == -INFINITY; })) *empty_row = true;
            const std::vector<double> p = softmax_row(s, false);
            for (int64_t d = 0; d < Dv; ++d) {
                double acc = 0;
                for (int64_t j = 0; j < S; ++j) acc += p[static_cast<std::size_t>(j)] * v.v[static_cast<std::size_t>((bh * S + j) * Dv + d)];
                out.v[static_cast<std::size_t>((bh * T + t) * Dv + d)] = acc;
            }
        }
    return out;
}

}  // namespace tg::fuzz
