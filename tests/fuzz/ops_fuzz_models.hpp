#pragma once
// ops_fuzz's calls for the ops for custom models (the last section of core/ops.hpp): here the
// elementwise, indexing, shape and reduction ops; conv, pooling, normalisation and the losses
// in ops_fuzz_nn.hpp. Each builder reads its choices from the bytes, and its reference applies
// the op's own checks (those in its core/ops/*.cpp) to say whether the call is valid and, when
// it is, what it returns. Where the op's rule is a choice rather than a fact (a dim on a 0-d
// tensor, i64 inputs to shape ops, empty rows), the verdict is `either`, with a reference
// whenever a result would have a well-defined value.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <tapegrad.hpp>
#include <vector>

#include "ops_fuzz_input.hpp"
#include "ops_reference.hpp"

namespace tg::fuzz {

inline std::size_t at(int64_t i) { return static_cast<std::size_t>(i); }
inline const double kNaN = std::numeric_limits<double>::quiet_NaN();

// Shape ops take any dtype; for an i64 input a result is a choice, checked when given.
inline void integers_optional(Call& c, const Tensor& x) {
    if (!floating(x) && c.expect.verdict != Verdict::invalid) c.expect.verdict = Verdict::either;
}

// A dim on a 0-d tensor: torch takes 0 and -1, tapegrad may refuse.
inline bool scalar_dim(const Tensor& x, int64_t dim) { return x.dim() == 0 && (dim == 0 || dim == -1); }

// Index values for a dim of size n, mostly i64: all in [0, n), or (on a coin) also -1 and n.
inline Tensor index_values(Source& src, const Shape& s, int64_t n) {
    const Dtype dt = src.coin() || src.coin() ? Dtype::i64 : src.dtype();
    const bool stray = src.coin() || n == 0;
    return src.values(s, dt, stray ? -1 : 0, stray ? n : n - 1);
}

inline bool all_in_range(const Tensor& index, int64_t n) {
    for (int64_t i : index.to_vector<int64_t>())
        if (i < 0 || i >= n) return false;
    return true;
}

// silu, leaky_relu, abs, clamp, sin, cos. The slope and bounds are halves in [-2, 2] or NaN.
inline Call elementwise_call(Source& src) {
    static const char* names[] = {"silu", "leaky_relu", "abs", "clamp", "sin", "cos"};
    const int k = static_cast<int>(src.small(0, 5));
    Call c;
    c.name = names[k];
    c.inputs = {src.any(src.shape())};
    auto param = [&src] {
        const int64_t v = src.small(-4, 5);
        return v == 5 ? kNaN : static_cast<double>(v) / 2.0;
    };
    const double p = param(), q = param();
    c.expect = same_floating(c.inputs);
    if ((k == 1 && std::isnan(p)) || (k == 3 && (std::isnan(p) || std::isnan(q) || p > q))) c.expect = Expect::bad();
    if (c.expect.verdict == Verdict::valid) {
        Ref r = ref_of(c.inputs[0]);
        for (double& x : r.v) {
            switch (k) {
                case 0: x = x / (1.0 + std::exp(-x)); break;
                case 1: x = x > 0 ? x : p * x; break;
                case 2: x = std::abs(x); break;
                case 3: x = std::min(std::max(x, p), q); break;
                case 4: x = std::sin(x); break;
                default: x = std::cos(x); break;
            }
        }
        c.expect.out = r;
    }
    c.run = [k, p, q](const std::vector<Tensor>& in) {
        const Tensor& x = in[0];
        switch (k) {
            case 0: return silu(x);
            case 1: return leaky_relu(x, p);
            case 2: return abs(x);
            case 3: return clamp(x, p, q);
            case 4: return sin(x);
            default: return cos(x);
        }
    };
    return c;
}

// where(cond, a, b): cond of any dtype (mostly 0 and 1), a and b one floating dtype, all three
// broadcast together.
inline Call where_call(Source& src) {
    Call c;
    c.name = "where";
    const Tensor a = src.any(src.shape());
    const Tensor cond = src.values(src.near(a.shape()), src.dtype(), 0, 1);
    const Tensor b = src.values(src.near(a.shape()), src.coin() ? a.dtype() : src.dtype());
    c.inputs = {cond, a, b};
    c.expect = same_floating({a, b});
    const auto ca = broadcast(cond.shape(), a.shape());
    const auto out = ca ? broadcast(*ca, b.shape()) : std::nullopt;
    if (!out) c.expect = Expect::bad();
    if (c.expect.verdict == Verdict::valid) {
        const Ref rc = ref_of(cond), ra = ref_of(a), rb = ref_of(b);
        Ref r{*out, std::vector<double>(at(numel(*out))), a.dtype()};
        for (int64_t i = 0; i < numel(*out); ++i)
            r.v[at(i)] = rc.v[at(source_index(i, *out, cond.shape()))] != 0 ? ra.v[at(source_index(i, *out, a.shape()))]
                                                                            : rb.v[at(source_index(i, *out, b.shape()))];
        c.expect.out = r;
    }
    c.run = [](const std::vector<Tensor>& in) { return where(in[0], in[1], in[2]); };
    return c;
}

// masked_fill(x, mask, value): the mask broadcasts to x's shape (not the other way round).
inline Call masked_fill_call(Source& src) {
    Call c;
    c.name = "masked_fill";
    const Tensor x = src.any(src.shape());
    const Tensor mask = src.values(src.near(x.shape()), src.dtype(), 0, 1);
    const double value = static_cast<double>(src.small(-8, 8)) / 2.0;
    c.inputs = {x, mask};
    c.expect = floating(x) ? Expect{} : Expect::bad();
    const Shape &xs = x.shape(), &ms = mask.shape();
    bool fits = ms.size() <= xs.size();
    for (std::size_t k = 0; fits && k < ms.size(); ++k) {
        const int64_t d = ms[ms.size() - 1 - k];
        fits = d == 1 || d == xs[xs.size() - 1 - k];
    }
    if (!fits) c.expect = Expect::bad();
    if (c.expect.verdict == Verdict::valid) {
        const Ref rm = ref_of(mask);
        Ref r = ref_of(x);
        for (int64_t i = 0; i < numel(xs); ++i)
            if (rm.v[at(source_index(i, xs, ms))] != 0) r.v[at(i)] = value;
        c.expect.out = r;
    }
    c.run = [value](const std::vector<Tensor>& in) { return masked_fill(in[0], in[1], value); };
    return c;
}

// gather(x, dim, index): index i64 of x's rank, no larger than x in any dim but dim, values in
// [0, x.shape[dim]).
inline Call gather_call(Source& src) {
    Call c;
    c.name = "gather";
    const Tensor x = src.any(src.shape(3));
    const int64_t dim = src.small(-4, 3);
    const int64_t d = norm_dim(dim, x.dim());
    Shape is = x.shape();
    switch (src.small(0, 3)) {
        case 0: break;
        case 1: for (int64_t& n : is) n = src.small(0, n); break;
        case 2: is = src.near(is); break;
        default: is = src.shape(3);
    }
    if (d >= 0 && is.size() == x.shape().size() && src.coin()) is[at(d)] = src.small(0, 4);
    const int64_t size = d >= 0 ? x.shape()[at(d)] : 2;
    const Tensor index = index_values(src, is, size);
    c.inputs = {x, index};
    bool ok = index.dtype() == Dtype::i64 && d >= 0 && index.dim() == x.dim();  // x of any dtype
    for (int64_t k = 0; ok && k < x.dim(); ++k) ok = k == d || is[at(k)] <= x.shape()[at(k)];
    ok = ok && all_in_range(index, size);
    c.expect = ok ? Expect{} : scalar_dim(x, dim) ? Expect::any() : Expect::bad();
    if (ok) {
        const Ref rx = ref_of(x);
        const std::vector<int64_t> ids = index.to_vector<int64_t>();
        const Shape xst = strides(x.shape()), ist = strides(is);
        Ref r{is, std::vector<double>(ids.size()), x.dtype()};
        for (int64_t i = 0; i < numel(is); ++i) {
            int64_t s = 0;
            for (std::size_t k = 0; k < is.size(); ++k)
                s += (static_cast<int64_t>(k) == d ? ids[at(i)] : i / ist[k] % is[k]) * xst[k];
            r.v[at(i)] = rx.v[at(s)];
        }
        c.expect.out = r;
    }
    c.run = [dim](const std::vector<Tensor>& in) { return gather(in[0], dim, in[1]); };
    return c;
}

// index_select(x, dim, index): a 1-d i64 index with values in [0, x.shape[dim]).
inline Call index_select_call(Source& src) {
    Call c;
    c.name = "index_select";
    const Tensor x = src.any(src.shape(3));
    const int64_t dim = src.small(-4, 3);
    const int64_t d = norm_dim(dim, x.dim());
    const int64_t size = d >= 0 ? x.shape()[at(d)] : 2;
    const Tensor index = index_values(src, src.coin() ? Shape{src.small(0, 4)} : src.shape(2), size);
    c.inputs = {x, index};
    const bool ok = index.dtype() == Dtype::i64 && d >= 0 && index.dim() == 1 && all_in_range(index, size);
    c.expect = ok ? Expect{} : scalar_dim(x, dim) ? Expect::any() : Expect::bad();
    if (ok) {
        const std::vector<int64_t> ids = index.to_vector<int64_t>();
        c.expect.out = along(ref_of(x), d, index.numel(), true, [&ids](const std::vector<double>& row) {
            std::vector<double> o;
            for (int64_t i : ids) o.push_back(row[at(i)]);
            return o;
        });
    }
    c.run = [dim](const std::vector<Tensor>& in) { return index_select(in[0], dim, in[1]); };
    return c;
}

// stack(xs, dim): one or more tensors of one shape and dtype, dim in [-(r+1), r].
inline Call stack_call(Source& src) {
    Call c;
    c.name = "stack";
    const Tensor first = src.any(src.shape(3));
    const int64_t count = src.small(0, 3);
    const int64_t dim = src.small(-5, 4);
    const int64_t d = norm_dim(dim, first.dim() + 1);
    c.inputs = {first};
    for (int64_t i = 1; i < count; ++i)
        c.inputs.push_back(src.values(src.coin() ? first.shape() : src.near(first.shape()), src.coin() ? first.dtype() : src.dtype()));
    if (count == 0) c.inputs.clear();
    bool ok = count > 0 && d >= 0;
    for (const Tensor& t : c.inputs) ok = ok && t.dtype() == first.dtype() && t.shape() == first.shape();
    c.expect = ok ? Expect{} : Expect::bad();
    if (ok) {
        Shape os = first.shape();
        os.insert(os.begin() + d, count);
        const int64_t outer = numel(Shape(first.shape().begin(), first.shape().begin() + d));
        const int64_t inner = numel(Shape(first.shape().begin() + d, first.shape().end()));
        Ref out{os, {}, first.dtype()};
        for (int64_t o = 0; o < outer; ++o)
            for (const Tensor& t : c.inputs) {
                const Ref p = ref_of(t);
                out.v.insert(out.v.end(), p.v.begin() + o * inner, p.v.begin() + (o + 1) * inner);
            }
        c.expect.out = out;
    }
    integers_optional(c, first);
    c.run = [dim](const std::vector<Tensor>& in) { return stack(in, dim); };
    return c;
}

// split(x, split_size, dim) and chunk(x, chunks, dim): pieces [start, start + size) along dim;
// split gives one empty piece for an empty dim, chunk gives `chunks` of them.
inline Call split_call(Source& src) {
    const bool is_chunk = src.coin();
    Call c;
    c.name = is_chunk ? "chunk" : "split";
    const Tensor x = src.any(src.shape(3));
    const int64_t n_arg = src.small(-1, 4);
    const int64_t dim = src.small(-4, 3);
    const int64_t d = norm_dim(dim, x.dim());
    c.inputs = {x};
    c.expect = d >= 0 && n_arg >= 1 ? Expect{} : Expect::bad();
    if (c.expect.verdict == Verdict::valid) {
        const int64_t n = x.shape()[at(d)];
        const Ref rx = ref_of(x);
        auto piece = [&](int64_t start, int64_t len) {
            return along(rx, d, len, true, [start, len](const std::vector<double>& row) {
                return std::vector<double>(row.begin() + start, row.begin() + start + len);
            });
        };
        if (is_chunk && n == 0) {
            for (int64_t i = 0; i < n_arg; ++i) c.expect.outs.push_back(piece(0, 0));
        } else {
            const int64_t size = is_chunk ? (n + n_arg - 1) / n_arg : n_arg;
            for (int64_t start = 0; start < n || c.expect.outs.empty(); start += size)
                c.expect.outs.push_back(piece(start, std::min(size, n - start)));
        }
    }
    integers_optional(c, x);
    c.run_many = [is_chunk, n_arg, dim](const std::vector<Tensor>& in) {
        return is_chunk ? chunk(in[0], n_arg, dim) : split(in[0], n_arg, dim);
    };
    return c;
}

// select(x, dim, i), narrow(x, dim, start, length) and unbind(x, dim): slabs along dim, of any
// dtype. select takes i in [-n, n); narrow takes start in [-n, n] and a range inside the dim.
inline Call slab_call(Source& src) {
    const int k = static_cast<int>(src.small(0, 2));
    Call c;
    c.name = k == 0 ? "select" : k == 1 ? "narrow" : "unbind";
    const Tensor x = src.any(src.shape(3));
    const int64_t dim = src.small(-4, 3), a = src.small(-5, 4), len = src.small(-1, 4);
    const int64_t d = norm_dim(dim, x.dim());
    c.inputs = {x};
    const int64_t n = d >= 0 ? x.shape()[at(d)] : 0;
    const Ref rx = ref_of(x);
    auto slab = [&](int64_t start, int64_t count, bool keep) {
        return along(rx, d, count, keep, [start, count](const std::vector<double>& row) {
            return std::vector<double>(row.begin() + start, row.begin() + start + count);
        });
    };
    bool ok = d >= 0;
    if (k == 0) {
        ok = ok && a >= -n && a < n;
        if (ok) c.expect.out = slab(a < 0 ? a + n : a, 1, false);
    } else if (k == 1) {
        const int64_t start = a < 0 ? a + n : a;
        ok = ok && a >= -n && a <= n && len >= 0 && start + len <= n;
        if (ok) c.expect.out = slab(start, len, true);
    } else if (ok) {
        for (int64_t i = 0; i < n; ++i) c.expect.outs.push_back(slab(i, 1, false));
    }
    if (!ok) c.expect = Expect::bad();
    if (k == 2) {
        c.run_many = [dim](const std::vector<Tensor>& in) { return unbind(in[0], dim); };
    } else {
        c.run = [k, dim, a, len](const std::vector<Tensor>& in) {
            return k == 0 ? select(in[0], dim, a) : narrow(in[0], dim, a, len);
        };
    }
    return c;
}

// squeeze(x, dim), unsqueeze(x, dim), flatten(x, start, end): views with a new shape. A 0-d x
// takes dim 0 or -1 in squeeze and flatten (as torch).
inline Call view_call(Source& src) {
    const int k = static_cast<int>(src.small(0, 2));
    Call c;
    c.name = k == 0 ? "squeeze" : k == 1 ? "unsqueeze" : "flatten";
    Shape xs = src.shape();
    if (!xs.empty() && src.coin()) xs[at(src.small(0, static_cast<int64_t>(xs.size()) - 1))] = 1;
    const Tensor x = src.any(xs);
    const int64_t a = src.small(-5, 4), b = src.small(-5, 4);
    const int64_t r = x.dim();
    c.inputs = {x};
    std::optional<Shape> out;
    if (k == 0) {
        const int64_t d = norm_dim(a, r);
        if (r == 0 && scalar_dim(x, a)) out = Shape{};
        else if (d >= 0) {
            out = xs;
            if (xs[at(d)] == 1) out->erase(out->begin() + d);
        }
    } else if (k == 1) {
        const int64_t d = norm_dim(a, r + 1);
        if (d >= 0) {
            out = xs;
            out->insert(out->begin() + d, 1);
        }
    } else {
        const int64_t s = norm_dim(a, r), e = norm_dim(b, r);
        if (r == 0 && scalar_dim(x, a) && scalar_dim(x, b)) out = Shape{1};
        else if (s >= 0 && e >= 0 && s <= e) {
            out = Shape(xs.begin(), xs.begin() + s);
            out->push_back(numel(Shape(xs.begin() + s, xs.begin() + e + 1)));
            out->insert(out->end(), xs.begin() + e + 1, xs.end());
        }
    }
    c.expect = out ? Expect{} : Expect::bad();
    if (out) c.expect.out = {*out, ref_of(x).v, x.dtype()};
    if (out && r == 0 && k != 1) c.expect.verdict = Verdict::either;  // a dim on a 0-d tensor
    integers_optional(c, x);
    c.run = [k, a, b](const std::vector<Tensor>& in) {
        return k == 0 ? squeeze(in[0], a) : k == 1 ? unsqueeze(in[0], a) : flatten(in[0], a, b);
    };
    return c;
}

// expand(x, shape): size-1 dims grow, -1 keeps a dim, new leading dims are >= 0.
inline Call expand_call(Source& src) {
    Call c;
    c.name = "expand";
    const Tensor x = src.any(src.shape(3));
    const Shape& xs = x.shape();
    Shape target;
    if (src.small(0, 3) == 0) {
        target.resize(at(src.small(0, 4)));
        for (int64_t& d : target) d = src.small(-2, 4);
    } else {
        for (int64_t i = src.small(0, 2); i > 0; --i) target.push_back(src.small(-1, 3));
        for (int64_t d : xs) target.push_back(src.coin() ? d : src.coin() ? -1 : d == 1 || src.coin() ? src.small(0, 4) : d);
    }
    c.inputs = {x};
    const int64_t lead = static_cast<int64_t>(target.size()) - x.dim();
    bool ok = lead >= 0;
    Shape out(target.size());
    for (int64_t k = 0; ok && k < static_cast<int64_t>(target.size()); ++k) {
        if (k < lead) {
            ok = target[at(k)] >= 0;
            out[at(k)] = target[at(k)];
            continue;
        }
        const int64_t have = xs[at(k - lead)];
        out[at(k)] = target[at(k)] == -1 ? have : target[at(k)];
        ok = target[at(k)] >= -1 && (out[at(k)] == have || have == 1);
    }
    c.expect = ok ? Expect{} : Expect::bad();
    if (ok) {
        const Ref rx = ref_of(x);
        Ref r{out, std::vector<double>(at(numel(out))), x.dtype()};
        for (int64_t i = 0; i < numel(out); ++i) r.v[at(i)] = rx.v[at(source_index(i, out, xs))];
        c.expect.out = r;
    }
    integers_optional(c, x);
    c.run = [target](const std::vector<Tensor>& in) { return expand(in[0], target); };
    return c;
}

// var, min, argmax and logsumexp over one dim (min also over everything). A dim on a 0-d
// tensor is a choice; min and argmax refuse an empty dim, var gives NaN where it divides by
// D - 1 <= 0, logsumexp gives -inf for an empty dim.
inline Call reduction_call(Source& src) {
    const int k = static_cast<int>(src.small(0, 4));
    Call c;
    c.name = k == 0 ? "var" : k <= 2 ? "min" : k == 3 ? "argmax" : "logsumexp";
    const Tensor x = src.any(src.shape());
    const int64_t dim = src.small(-5, 4);
    const bool keep = src.coin(), unbiased = src.coin();
    const int64_t d = norm_dim(dim, x.dim());
    c.inputs = {x};
    c.expect = floating(x) || k == 3 ? Expect{} : Expect::bad();
    if (k == 2) {  // min over everything
        if (x.numel() == 0) c.expect = Expect::bad();
        if (c.expect.verdict == Verdict::valid) {
            const Ref r = ref_of(x);
            c.expect.out = {{}, {*std::min_element(r.v.begin(), r.v.end())}, x.dtype()};
        }
        c.run = [](const std::vector<Tensor>& in) { return min(in[0]); };
        return c;
    }
    if (x.dim() == 0) c.expect = Expect::any();
    else if (d < 0) c.expect = Expect::bad();
    else if ((k == 1 || k == 3) && x.shape()[at(d)] == 0) c.expect = Expect::bad();
    if (c.expect.verdict == Verdict::valid) {
        c.expect.out = along(ref_of(x), d, 1, keep, [k, unbiased](const std::vector<double>& row) {
            const auto n = static_cast<double>(row.size());
            if (k == 0) {
                double m = 0, ss = 0;
                for (double e : row) m += e;
                m /= n;
                for (double e : row) ss += (e - m) * (e - m);
                return std::vector<double>{n - unbiased > 0 ? ss / (n - unbiased) : kNaN};
            }
            if (k == 1) return std::vector<double>{*std::min_element(row.begin(), row.end())};
            if (k == 3) return std::vector<double>{static_cast<double>(std::max_element(row.begin(), row.end()) - row.begin())};
            double m = -INFINITY, s = 0;
            for (double e : row) m = std::max(m, e);
            if (std::isinf(m)) m = 0;
            for (double e : row) s += std::exp(e - m);
            return std::vector<double>{m + std::log(s)};
        });
        if (k == 3) c.expect.out.dtype = Dtype::i64;
    }
    c.run = [k, dim, keep, unbiased](const std::vector<Tensor>& in) {
        return k == 0 ? var(in[0], dim, unbiased, keep) : k == 1 ? min(in[0], dim, keep) : k == 3 ? argmax(in[0], dim, keep)
                                                                                             : logsumexp(in[0], dim, keep);
    };
    return c;
}

// Comparisons, logic and any/all/count_nonzero: b8 results, any dtype but bf16 in (b8 inputs
// come from halves converted, so both truth values appear), broadcasting as the arithmetic does.
inline Call compare_call(Source& src) {
    static const char* names[] = {"eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor",
                                  "logical_not", "any", "all", "count_nonzero"};
    const int k = static_cast<int>(src.small(0, 12));
    Call c;
    c.name = names[k];
    auto pick = [&](const Shape& s, Dtype like) {
        const Dtype dt = src.coin() ? like : src.small(0, 3) == 0 ? Dtype::b8 : src.dtype();
        return dt == Dtype::b8 ? to(src.values(s, Dtype::f64), Dtype::b8) : src.values(s, dt);
    };
    const Tensor a = pick(src.shape(), src.dtype());
    const bool unary = k >= 9;
    const Tensor b = unary ? Tensor() : pick(src.near(a.shape()), a.dtype());
    const int64_t dim = src.small(-3, 3);
    const bool along = src.coin(), keep = src.coin();
    c.inputs = unary ? std::vector<Tensor>{a} : std::vector<Tensor>{a, b};
    const Ref ra = ref_of(a);
    auto truth = [](double v) { return v != 0.0 || std::isnan(v); };
    if (!unary) {
        const auto os = broadcast(a.shape(), b.shape());
        if (!os) {
            c.expect = Expect::bad();
        } else {
            const Ref rb = ref_of(b);
            Ref r{*os, std::vector<double>(at(numel(*os))), Dtype::b8};
            for (int64_t i = 0; i < numel(*os); ++i) {
                const double x = ra.v[at(source_index(i, *os, a.shape()))], y = rb.v[at(source_index(i, *os, b.shape()))];
                const bool v = k == 0 ? x == y : k == 1 ? x != y : k == 2 ? x < y : k == 3 ? x <= y : k == 4 ? x > y
                             : k == 5 ? x >= y : k == 6 ? truth(x) && truth(y) : k == 7 ? truth(x) || truth(y)
                                                                                  : truth(x) != truth(y);
                r.v[at(i)] = v;
            }
            c.expect.out = r;
        }
    } else if (k == 9) {
        Ref r{a.shape(), ra.v, Dtype::b8};
        for (double& v : r.v) v = !truth(v);
        c.expect.out = r;
    } else if (k == 12 || !along) {
        int64_t count = 0;
        for (double v : ra.v) count += truth(v);
        const bool any_true = count > 0, all_true = count == static_cast<int64_t>(ra.v.size());
        c.expect.out = k == 12 ? Ref{{}, {static_cast<double>(count)}, Dtype::i64}
                               : Ref{{}, {static_cast<double>(k == 10 ? any_true : all_true)}, Dtype::b8};
    } else {
        const int64_t d = norm_dim(dim, rank(a));
        if (rank(a) == 0) {
            c.expect = Expect::any();  // a dim on a 0-d tensor: a choice (see the top of ops_fuzz.cpp)
        } else if (d < 0) {
            c.expect = Expect::bad();
        } else {
            const Shape& xs = a.shape();
            Shape os = xs;
            if (keep) os[at(d)] = 1;
            else os.erase(os.begin() + d);
            int64_t outer = 1, inner = 1;
            for (int64_t i = 0; i < d; ++i) outer *= xs[at(i)];
            for (int64_t i = d + 1; i < rank(a); ++i) inner *= xs[at(i)];
            const int64_t D = xs[at(d)];
            Ref r{os, std::vector<double>(at(outer * inner)), Dtype::b8};
            for (int64_t o = 0; o < outer; ++o)
                for (int64_t i = 0; i < inner; ++i) {
                    bool v = k == 11;
                    for (int64_t j = 0; j < D; ++j) {
                        const bool t = truth(ra.v[at((o * D + j) * inner + i)]);
                        v = k == 10 ? v || t : v && t;
                    }
                    r.v[at(o * inner + i)] = v;
                }
            c.expect.out = r;
        }
    }
    c.run = [k, dim, along, keep](const std::vector<Tensor>& in) {
        switch (k) {
            case 0: return eq(in[0], in[1]);
            case 1: return ne(in[0], in[1]);
            case 2: return lt(in[0], in[1]);
            case 3: return le(in[0], in[1]);
            case 4: return gt(in[0], in[1]);
            case 5: return ge(in[0], in[1]);
            case 6: return logical_and(in[0], in[1]);
            case 7: return logical_or(in[0], in[1]);
            case 8: return logical_xor(in[0], in[1]);
            case 9: return logical_not(in[0]);
            case 10: return along ? any(in[0], dim, keep) : any(in[0]);
            case 11: return along ? all(in[0], dim, keep) : all(in[0]);
            default: return count_nonzero(in[0]);
        }
    };
    return c;
}


// The reference of a reduction over the dims flagged in `reduced`: f maps the elements of one
// group (in row-major order) to its result; the reduced dims become 1 (keep) or leave.
template <class F>
inline Ref reduce_groups(const Ref& x, const std::vector<bool>& reduced, bool keep, Dtype dt, F f) {
    Shape out, kept;
    for (std::size_t d = 0; d < x.shape.size(); ++d) {
        if (!reduced[d]) kept.push_back(x.shape[d]);
        if (!reduced[d] || keep) out.push_back(reduced[d] ? 1 : x.shape[d]);
    }
    std::vector<std::vector<double>> groups(at(numel(kept)));
    const Shape st = strides(x.shape), kst = strides(kept);
    for (int64_t i = 0; i < numel(x.shape); ++i) {
        int64_t g = 0;
        for (std::size_t d = 0, k = 0; d < x.shape.size(); ++d)
            if (!reduced[d]) g += i / st[d] % x.shape[d] * kst[k++];
        groups[at(g)].push_back(x.v[at(i)]);
    }
    Ref r{out, {}, dt};
    for (const auto& g : groups) r.v.push_back(f(g));
    return r;
}

// sum, mean, var, amax, amin and norm over a list of dims (an empty list: every dim), and
// cumsum along one. A dim on a 0-d tensor is a choice; mean over no elements too (torch gives
// NaN, tapegrad refuses); amax, amin and norm p = inf refuse an empty group, as torch.
inline Call dims_reduction_call(Source& src) {
    static const char* names[] = {"sum", "mean", "var", "amax", "amin", "norm", "cumsum"};
    static const double powers[] = {1.0, 2.0, 3.0, 0.5, INFINITY, 0.0, -1.0, kNaN};
    const int k = static_cast<int>(src.small(0, 6));
    Call c;
    c.name = names[k];
    const Tensor x = src.any(src.shape());
    std::vector<int64_t> dims(at(src.small(0, 3)));
    for (int64_t& d : dims) d = src.small(-5, 4);
    const bool keep = src.coin(), unbiased = src.coin();
    const double p = powers[src.small(0, 7)];
    c.inputs = {x};
    const int64_t r = x.dim();
    const bool integer_ok = k == 0 || k == 6;
    bool ok = floating(x) || integer_ok;
    if (k == 5) ok = ok && p > 0 && !std::isnan(p);
    if (k == 6) dims.resize(1);  // cumsum: one dim, the first of the list (0 if it was empty)
    bool scalar_dims = r == 0;
    std::vector<bool> reduced(at(r), dims.empty());
    for (int64_t d : dims) {
        if (r == 0) {
            scalar_dims = scalar_dims && scalar_dim(x, d);
            continue;
        }
        const int64_t n = norm_dim(d, r);
        ok = ok && n >= 0 && !reduced[at(n)];
        if (n >= 0) reduced[at(n)] = true;
    }
    if (r == 0 && !dims.empty() && !scalar_dims) ok = false;
    int64_t R = 1;
    for (int64_t d = 0; d < r; ++d) R *= reduced[at(d)] ? x.shape()[at(d)] : 1;
    if ((k == 3 || k == 4 || (k == 5 && std::isinf(p))) && R == 0) ok = false;
    c.expect = ok ? Expect{} : Expect::bad();
    if (ok) {
        const Dtype dt = floating(x) ? x.dtype() : Dtype::i64;
        if (k == 6) {
            const Ref rx = ref_of(x);
            c.expect.out = r == 0 ? rx : along(rx, norm_dim(dims[0], r), x.shape()[at(norm_dim(dims[0], r))], true,
                                               [](std::vector<double> row) {
                                                   for (std::size_t i = 1; i < row.size(); ++i) row[i] += row[i - 1];
                                                   return row;
                                               });
        } else {
            c.expect.out = reduce_groups(ref_of(x), reduced, keep, dt, [k, p, unbiased](const std::vector<double>& g) {
                const auto n = static_cast<double>(g.size());
                double s = 0, m = -INFINITY, lo = INFINITY;
                for (double e : g) {
                    s += k == 5 ? (std::isinf(p) ? 0 : std::pow(std::abs(e), p)) : e;
                    m = std::max(m, k == 5 ? std::abs(e) : e);
                    lo = std::min(lo, e);
                }
                if (k == 1) return s / n;
                if (k == 3) return m;
                if (k == 4) return lo;
                if (k == 5) return std::isinf(p) ? m : std::pow(s, 1.0 / p);
                if (k == 2) {
                    double ss = 0;
                    for (double e : g) ss += (e - s / n) * (e - s / n);
                    return n - unbiased > 0 ? ss / (n - unbiased) : kNaN;
                }
                return s;
            });
        }
        if (r == 0 && !dims.empty()) c.expect.verdict = Verdict::either;  // a dim on a 0-d tensor
        if (k == 1 && R == 0) c.expect = Expect::any();
    }
    c.run = [k, dims, keep, unbiased, p](const std::vector<Tensor>& in) {
        const Tensor& t = in[0];
        switch (k) {
            case 0: return sum(t, dims, keep);
            case 1: return mean(t, dims, keep);
            case 2: return var(t, dims, unbiased, keep);
            case 3: return amax(t, dims, keep);
            case 4: return amin(t, dims, keep);
            case 5: return norm(t, p, dims, keep);
            default: return cumsum(t, dims[0]);
        }
    };
    return c;
}

// argsort, sort and topk along a dim: stable, so ties keep their order in both directions. A
// 0-d tensor is a choice (torch returns it, tapegrad refuses).
inline Call sort_call(Source& src) {
    const int k = static_cast<int>(src.small(0, 2));
    Call c;
    c.name = k == 0 ? "argsort" : k == 1 ? "sort" : "topk";
    const Tensor x = src.any(src.shape(3));
    const int64_t dim = src.small(-4, 3), count = src.small(-1, 4);
    const bool descending = src.coin();
    const int64_t d = norm_dim(dim, x.dim());
    c.inputs = {x};
    const int64_t n = d >= 0 ? x.shape()[at(d)] : 0;
    const int64_t m = k == 2 ? count : n;
    const bool ok = d >= 0 && (k != 2 || (count >= 0 && count <= n));
    c.expect = x.dim() == 0 ? (scalar_dim(x, dim) ? Expect::any() : Expect::bad()) : ok ? Expect{} : Expect::bad();
    if (c.expect.verdict == Verdict::valid) {
        auto order = [descending](const std::vector<double>& row) {
            std::vector<int64_t> pos(row.size());
            std::iota(pos.begin(), pos.end(), int64_t{0});
            std::stable_sort(pos.begin(), pos.end(), [&](int64_t a, int64_t b) {
                return descending ? row[at(a)] > row[at(b)] : row[at(a)] < row[at(b)];
            });
            return pos;
        };
        const Ref rx = ref_of(x);
        Ref values = along(rx, d, m, true, [&](const std::vector<double>& row) {
            std::vector<double> o;
            for (int64_t i : order(row)) o.push_back(row[at(i)]);
            o.resize(at(m));
            return o;
        });
        Ref indices = along(rx, d, m, true, [&](const std::vector<double>& row) {
            std::vector<double> o;
            for (int64_t i : order(row)) o.push_back(static_cast<double>(i));
            o.resize(at(m));
            return o;
        });
        indices.dtype = Dtype::i64;
        if (k == 0) c.expect.out = indices;
        else c.expect.outs = {values, indices};
    }
    if (k == 0) {
        c.run = [dim, descending](const std::vector<Tensor>& in) { return argsort(in[0], dim, descending); };
    } else {
        c.run_many = [k, dim, count, descending](const std::vector<Tensor>& in) {
            const ValuesIndices r = k == 1 ? sort(in[0], dim, descending) : topk(in[0], count, dim, descending);
            return std::vector<Tensor>{r.values, r.indices};
        };
    }
    return c;
}

// repeat(x, reps), tril and triu (at least 2 dims, any diagonal) and one_hot (i64 labels >= 0,
// num_classes -1 from the labels, which must then not be empty).
inline Call tile_call(Source& src) {
    const int k = static_cast<int>(src.small(0, 3));
    Call c;
    c.name = k == 0 ? "repeat" : k == 1 ? "tril" : k == 2 ? "triu" : "one_hot";
    const Tensor x = k == 3 ? src.values(src.shape(3), src.coin() ? Dtype::i64 : src.dtype(), -1, 4) : src.any(src.shape(3));
    Shape reps(at(src.small(0, 4)));
    for (int64_t& e : reps) e = src.small(-1, 3);
    const int64_t a = src.small(-3, 5);  // tril/triu's diagonal, one_hot's num_classes
    c.inputs = {x};
    const Ref rx = ref_of(x);
    const Shape& xs = x.shape();
    const int64_t r = x.dim();
    if (k == 0) {
        const int64_t lead = static_cast<int64_t>(reps.size()) - r;
        bool ok = lead >= 0;
        for (int64_t e : reps) ok = ok && e >= 0;
        c.expect = ok ? Expect{} : Expect::bad();
        if (ok) {
            Shape in(reps.size(), 1), out(reps.size());
            for (std::size_t i = 0; i < reps.size(); ++i) {
                if (static_cast<int64_t>(i) >= lead) in[i] = xs[at(static_cast<int64_t>(i) - lead)];
                out[i] = reps[i] * in[i];
            }
            const Shape ost = strides(out), ist = strides(in);
            Ref res{out, std::vector<double>(at(numel(out))), x.dtype()};
            for (int64_t i = 0; i < numel(out); ++i) {
                int64_t s = 0;
                for (std::size_t d = 0; d < out.size(); ++d) s += i / ost[d] % out[d] % in[d] * ist[d];
                res.v[at(i)] = rx.v[at(s)];
            }
            c.expect.out = res;
        }
        c.run = [reps](const std::vector<Tensor>& in) { return repeat(in[0], reps); };
    } else if (k <= 2) {
        c.expect = r >= 2 ? Expect{} : Expect::bad();
        if (r >= 2) {
            Ref res = rx;
            const int64_t rows = xs[at(r - 2)], cols = xs[at(r - 1)];
            for (int64_t i = 0; i < numel(xs); ++i) {
                const int64_t off = i % cols - i / cols % rows;  // column - row
                if (k == 1 ? off > a : off < a) res.v[at(i)] = 0.0;
            }
            c.expect.out = res;
        }
        c.run = [k, a](const std::vector<Tensor>& in) { return k == 1 ? tril(in[0], a) : triu(in[0], a); };
    } else {
        double largest = -1;
        bool ok = x.dtype() == Dtype::i64;
        for (double v : rx.v) {
            ok = ok && v >= 0;
            largest = std::max(largest, v);
        }
        const int64_t classes = a == -1 ? static_cast<int64_t>(largest) + 1 : a;
        ok = ok && (a == -1 ? x.numel() > 0 : a >= 0 && largest < static_cast<double>(a));
        c.expect = ok ? Expect{} : Expect::bad();
        if (ok) {
            Shape out = xs;
            out.push_back(classes);
            Ref res{out, std::vector<double>(at(numel(out))), Dtype::i64};
            for (std::size_t i = 0; i < rx.v.size(); ++i) res.v[i * at(classes) + static_cast<std::size_t>(rx.v[i])] = 1.0;
            c.expect.out = res;
        }
        c.run = [a](const std::vector<Tensor>& in) { return one_hot(in[0], a); };
    }
    return c;
}


// lstm_recurrence(x_proj, h0, c0, w_hh, b_hh) and gru_recurrence(x_proj, h0, w_hh, b_hh): x_proj
// (T >= 1, B, G H), states (B, H), w_hh (G H, H) with H >= 1, b_hh (G H) or undefined, one
// floating dtype. The reference runs the steps in plain double loops.
inline Call recurrence_call(Source& src) {
    const bool lstm = src.coin();
    const int64_t G = lstm ? 4 : 3;
    Call c;
    c.name = lstm ? "lstm_recurrence" : "gru_recurrence";
    const int64_t T = src.small(0, 3), B = src.small(0, 2), H = src.small(0, 2);
    const Dtype dt = src.coin() ? Dtype::f64 : Dtype::f32;
    auto operand = [&](const Shape& s) {
        const Shape shape = src.small(0, 5) == 0 ? src.near(s) : s;
        return src.values(shape, src.small(0, 7) == 0 ? src.dtype() : dt);
    };
    const Tensor x = operand({T, B, G * H}), h0 = operand({B, H}), c0 = lstm ? operand({B, H}) : Tensor();
    const Tensor w = operand({G * H, H});
    const Tensor b = src.coin() ? operand({G * H}) : Tensor();
    c.inputs = lstm ? std::vector<Tensor>{x, h0, c0, w, b} : std::vector<Tensor>{x, h0, w, b};
    bool ok = floating(x) && w.dim() == 2 && w.shape()[1] > 0 && w.shape()[0] == G * w.shape()[1];
    const int64_t h = ok ? w.shape()[1] : 0;
    ok = ok && x.dim() == 3 && x.shape()[0] > 0 && x.shape()[2] == G * h;
    const int64_t steps = ok ? x.shape()[0] : 0, batch = ok ? x.shape()[1] : 0;
    for (const Tensor& t : c.inputs)
        ok = ok && (!t.defined() || t.dtype() == x.dtype());
    ok = ok && h0.shape() == Shape{batch, h} && (!lstm || c0.shape() == Shape{batch, h});
    ok = ok && (!b.defined() || b.shape() == Shape{G * h});
    c.expect = ok ? Expect{} : Expect::bad();
    if (ok) {
        const std::vector<double> xv = ref_of(x).v, wv = ref_of(w).v;
        const std::vector<double> bv = b.defined() ? ref_of(b).v : std::vector<double>(at(G * h), 0.0);
        std::vector<double> hv = ref_of(h0).v, cv = lstm ? ref_of(c0).v : std::vector<double>();
        auto sig = [](double a) { return 1.0 / (1.0 + std::exp(-a)); };
        Ref out{{steps, batch, h}, {}, x.dtype()};
        for (int64_t t = 0; t < steps; ++t) {
            std::vector<double> hn(hv.size()), cn(cv.size());
            for (int64_t n = 0; n < batch; ++n)
                for (int64_t j = 0; j < h; ++j) {
                    auto pre = [&](int64_t gate, bool with_x) {  // x part (optional) + h W_hh^T + b_hh
                        double a = bv[at(gate * h + j)];
                        for (int64_t k = 0; k < h; ++k) a += hv[at(n * h + k)] * wv[at((gate * h + j) * h + k)];
                        return with_x ? a + xv[at((t * batch + n) * G * h + gate * h + j)] : a;
                    };
                    const int64_t s = n * h + j;
                    if (lstm) {
                        const double i = sig(pre(0, true)), f = sig(pre(1, true)), g = std::tanh(pre(2, true));
                        const double o = sig(pre(3, true));
                        cn[at(s)] = f * cv[at(s)] + i * g;
                        hn[at(s)] = o * std::tanh(cn[at(s)]);
                    } else {
                        const double r = sig(pre(0, true)), z = sig(pre(1, true));
                        const double nv = std::tanh(xv[at((t * batch + n) * G * h + 2 * h + j)] + r * pre(2, false));
                        hn[at(s)] = (1 - z) * nv + z * hv[at(s)];
                    }
                }
            hv = hn;
            if (lstm) cv = cn;
            out.v.insert(out.v.end(), hv.begin(), hv.end());
        }
        if (lstm) c.expect.outs = {out, {{batch, h}, hv, x.dtype()}, {{batch, h}, cv, x.dtype()}};
        else c.expect.out = out;
    }
    if (lstm) {
        c.run_many = [](const std::vector<Tensor>& in) {
            const LSTMSequence r = lstm_recurrence(in[0], in[1], in[2], in[3], in[4]);
            return std::vector<Tensor>{r.output, r.h, r.c};
        };
    } else {
        c.run = [](const std::vector<Tensor>& in) { return gru_recurrence(in[0], in[1], in[2], in[3]); };
    }
    return c;
}

}  // namespace tg::fuzz

#include "ops_fuzz_nn.hpp"

namespace tg::fuzz {

enum ModelOp { kElementwise, kWhere, kMaskedFill, kGather, kIndexSelect, kStack, kSplit, kView, kExpand,
               kReduction, kConv, kPool, kBatchNorm, kRmsNorm, kPairLoss, kClassLoss, kCompare, kSlab,
               kDimsReduction, kSort, kTile, kRecurrence, kModelOpCount };
inline constexpr int kModelOps = kModelOpCount;

// The call for model op `op` (in [0, kModelOps)).
inline Call make_model_call(Source& src, int op) {
    switch (op) {
        case kElementwise: return elementwise_call(src);
        case kWhere: return where_call(src);
        case kMaskedFill: return masked_fill_call(src);
        case kGather: return gather_call(src);
        case kIndexSelect: return index_select_call(src);
        case kStack: return stack_call(src);
        case kSplit: return split_call(src);
        case kView: return view_call(src);
        case kExpand: return expand_call(src);
        case kReduction: return reduction_call(src);
        case kConv: return conv_call(src);
        case kPool: return pool_call(src);
        case kBatchNorm: return batch_norm_call(src);
        case kRmsNorm: return rms_norm_call(src);
        case kPairLoss: return pair_loss_call(src);
        case kClassLoss: return class_loss_call(src);
        case kCompare: return compare_call(src);
        case kSlab: return slab_call(src);
        case kDimsReduction: return dims_reduction_call(src);
        case kSort: return sort_call(src);
        case kTile: return tile_call(src);
        default: return recurrence_call(src);
    }
}

}  // namespace tg::fuzz
