// Fuzz target for the ops' shape and dtype checking. The input bytes choose an op, the ranks,
// shapes and dtypes of its inputs (usually related, so that both valid and nearly valid calls
// come up), its integer arguments and small exact values. A reference (ops_reference.hpp), on plain
// vectors of doubles, says whether the call is valid and what it must return:
//   - invalid call: the op must throw a tg::Error;
//   - valid call: the op must return the reference's shape, dtype and values, and a backward
//     pass through it must give every floating input a gradient of its own shape; the gradient
//     taken with create_graph must equal it and be differentiable again (check_create_graph).
// A few corners where the rules are a choice rather than a fact (i64 inputs to shape ops,
// rank-0 inputs with a dim argument, empty rows) accept either answer, but a result given
// there must still be correct. Anything else (a crash, another exception, a wrong value,
// an accepted invalid call, a refused valid one) aborts with the details.
// The ops below are the GPT path's; the ops for custom models (conv, pooling, indexing,
// batch_norm, the losses, ...) have their calls in ops_fuzz_models.hpp and ops_fuzz_nn.hpp and
// take the op numbers after these. The first byte picks the op (its value modulo the number of
// ops), so the committed seeds for the GPT ops start with a byte below 17.
#include <algorithm>
#include <array>
#include <map>
#include <cmath>
#include <functional>
#include <numbers>
#include <numeric>
#include <optional>
#include <string>
#include <tapegrad.hpp>
#include <vector>

#include "fuzz_check.hpp"
#include "ops_fuzz_input.hpp"
#include "ops_fuzz_models.hpp"
#include "ops_reference.hpp"

using namespace tg;
using namespace tg::fuzz;

namespace {

Call make_call(Source& src) {
    enum Op { kUnary, kBinary, kMatmul, kLinear, kReduceAll, kReduceDim, kSoftmax, kTranspose, kPermute,
              kReshape, kSlice, kCat, kLayerNorm, kCrossEntropy, kEmbedding, kAttention, kAttentionQkv, kCount };
    // The ops for custom models come after these (ops_fuzz_models.hpp).
    const int op = static_cast<int>(src.small(0, kCount + kModelOps - 1));
    if (op >= kCount) return make_model_call(src, op - kCount);
    Call c;
    switch (op) {
        case kUnary: {
            static const char* names[] = {"exp", "log", "tanh", "sqrt", "relu", "sigmoid", "gelu", "neg", "pow", "add", "mul"};  // add and mul with a double
            const int k = static_cast<int>(src.small(0, 10));
            const double e = static_cast<double>(src.small(0, 6)) / 2.0;
            c.name = names[k];
            c.inputs = {src.any(src.shape())};
            c.expect = same_floating(c.inputs);
            if (c.expect.verdict == Verdict::valid) {
                Ref r = ref_of(c.inputs[0]);
                for (double& x : r.v) {
                    switch (k) {
                        case 0: x = std::exp(x); break;
                        case 1: x = std::log(x); break;
                        case 2: x = std::tanh(x); break;
                        case 3: x = std::sqrt(x); break;
                        case 4: x = x > 0 ? x : 0.0; break;
                        case 5: x = 1.0 / (1.0 + std::exp(-x)); break;
                        case 6: x = gelu_ref(x); break;
                        case 7: x = -x; break;
                        case 8: x = std::pow(x, e); break;
                        case 9: x = x + e; break;
                        default: x = x * e; break;
                    }
                }
                c.expect.out = r;
            }
            c.run = [k, e](const std::vector<Tensor>& in) {
                const Tensor& x = in[0];
                switch (k) {
                    case 0: return exp(x);
                    case 1: return log(x);
                    case 2: return tanh(x);
                    case 3: return sqrt(x);
                    case 4: return relu(x);
                    case 5: return sigmoid(x);
                    case 6: return gelu(x);
                    case 7: return neg(x);
                    case 8: return pow(x, e);
                    case 9: return add(x, e);
                    default: return mul(x, e);
                }
            };
            break;
        }
        case kBinary: {
            static const char* names[] = {"add", "sub", "mul", "div"};
            const int k = static_cast<int>(src.small(0, 3));
            c.name = names[k];
            const Tensor a = src.any(src.shape());
            const Tensor b = src.values(src.near(a.shape()), src.coin() ? a.dtype() : src.dtype());
            c.inputs = {a, b};
            c.expect = same_floating(c.inputs);
            const auto out = broadcast(a.shape(), b.shape());
            if (!out) c.expect = Expect::bad();
            if (c.expect.verdict == Verdict::valid) {
                const Ref ra = ref_of(a), rb = ref_of(b);
                Ref r{*out, std::vector<double>(static_cast<std::size_t>(numel(*out))), a.dtype()};
                for (int64_t i = 0; i < numel(*out); ++i) {
                    const double x = ra.v[static_cast<std::size_t>(source_index(i, *out, a.shape()))];
                    const double y = rb.v[static_cast<std::size_t>(source_index(i, *out, b.shape()))];
                    r.v[static_cast<std::size_t>(i)] = k == 0 ? x + y : k == 1 ? x - y : k == 2 ? x * y : x / y;
                }
                c.expect.out = r;
            }
            c.run = [k](const std::vector<Tensor>& in) {
                return k == 0 ? add(in[0], in[1]) : k == 1 ? sub(in[0], in[1]) : k == 2 ? mul(in[0], in[1]) : div(in[0], in[1]);
            };
            break;
        }
        case kMatmul: {
            c.name = "matmul";
            const Tensor a = src.any(src.shape());
            Shape sb = src.near(a.shape());
            if (sb.size() >= 2 && a.dim() >= 2 && src.coin()) sb[sb.size() - 2] = a.shape().back();
            const Tensor b = src.values(sb, src.coin() ? a.dtype() : src.dtype());
            c.inputs = {a, b};
            c.expect = same_floating(c.inputs);
            // A 1-d operand is a row (1, K) on the left, a column (K, 1) on the right (the
            // same elements), and its added dim leaves the result, as torch.
            Shape sa = a.shape(), sbp = sb;
            if (sa.size() == 1) sa.insert(sa.begin(), 1);
            if (sbp.size() == 1) sbp.push_back(1);
            if (sa.size() < 2 || sbp.size() < 2 || sa.back() != sbp[sbp.size() - 2]) c.expect = Expect::bad();
            std::optional<Shape> batch;
            if (c.expect.verdict == Verdict::valid) {
                batch = broadcast(Shape(sa.begin(), sa.end() - 2), Shape(sbp.begin(), sbp.end() - 2));
                if (!batch) c.expect = Expect::bad();
            }
            if (c.expect.verdict == Verdict::valid) {
                const int64_t M = sa[sa.size() - 2], K = sa.back(), N = sbp.back();
                const Shape ab(sa.begin(), sa.end() - 2), bb(sbp.begin(), sbp.end() - 2);
                Shape os = *batch;
                os.push_back(M);
                os.push_back(N);
                Ref r{os, std::vector<double>(static_cast<std::size_t>(numel(os))), a.dtype()};
                const Ref ra = ref_of(a), rb = ref_of(b);
                for (int64_t p = 0; p < numel(*batch); ++p) {
                    const int64_t pa = source_index(p, *batch, ab), pb = source_index(p, *batch, bb);
                    for (int64_t i = 0; i < M; ++i)
                        for (int64_t j = 0; j < N; ++j) {
                            double s = 0;
                            for (int64_t q = 0; q < K; ++q)
                                s += ra.v[static_cast<std::size_t>((pa * M + i) * K + q)] * rb.v[static_cast<std::size_t>((pb * K + q) * N + j)];
                            r.v[static_cast<std::size_t>((p * M + i) * N + j)] = s;
                        }
                }
                if (sb.size() == 1) r.shape.pop_back();
                if (a.dim() == 1) r.shape.erase(r.shape.end() - (sb.size() == 1 ? 1 : 2));
                c.expect.out = r;
            }
            c.run = [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); };
            break;
        }
        case kLinear: {
            c.name = "linear";
            const Tensor x = src.any(src.shape());
            const int64_t in_f = x.dim() >= 1 && src.coin() ? x.shape().back() : src.small(0, 4);
            const int64_t out_f = src.small(0, 4);
            const Tensor w = src.values(src.coin() ? Shape{out_f, in_f} : src.shape(), src.coin() ? x.dtype() : src.dtype());
            const bool with_bias = src.coin();
            const Tensor b = with_bias ? src.values(src.coin() ? Shape{out_f} : src.shape(2), src.coin() ? x.dtype() : src.dtype()) : Tensor();
            c.inputs = {x, w};
            if (with_bias) c.inputs.push_back(b);
            c.expect = same_floating(c.inputs);
            if (x.dim() < 1 || w.dim() != 2 || x.shape().back() != w.shape()[1] ||
                (with_bias && (b.dim() != 1 || b.shape()[0] != w.shape()[0])))
                c.expect = Expect::bad();
            if (c.expect.verdict == Verdict::valid) {
                const int64_t I = w.shape()[1], O = w.shape()[0];
                const int64_t nrows = numel(Shape(x.shape().begin(), x.shape().end() - 1));
                Shape os = x.shape();
                os.back() = O;
                Ref r{os, std::vector<double>(static_cast<std::size_t>(numel(os))), x.dtype()};
                const Ref rx = ref_of(x), rw = ref_of(w);
                const Ref rbias = with_bias ? ref_of(b) : Ref{};
                for (int64_t n = 0; n < nrows; ++n)
                    for (int64_t o = 0; o < O; ++o) {
                        double s = with_bias ? rbias.v[static_cast<std::size_t>(o)] : 0.0;
                        for (int64_t i = 0; i < I; ++i) s += rx.v[static_cast<std::size_t>(n * I + i)] * rw.v[static_cast<std::size_t>(o * I + i)];
                        r.v[static_cast<std::size_t>(n * O + o)] = s;
                    }
                c.expect.out = r;
            }
            c.run = [with_bias](const std::vector<Tensor>& in) { return linear(in[0], in[1], with_bias ? in[2] : Tensor()); };
            break;
        }
        case kReduceAll: {
            const int k = static_cast<int>(src.small(0, 2));
            c.name = k == 0 ? "sum" : k == 1 ? "mean" : "max";
            c.inputs = {src.any(src.shape())};
            const Tensor& x = c.inputs[0];
            c.expect = same_floating(c.inputs);
            if (k == 0 && x.dtype() == Dtype::i64) c.expect = {};  // an i64 total, as torch.sum gives
            if (x.numel() == 0 && k > 0) c.expect = Expect::bad();
            if (c.expect.verdict == Verdict::valid) {
                const Ref r = ref_of(x);
                double v = k == 2 ? -INFINITY : 0.0;
                for (double e : r.v) v = k == 2 ? std::max(v, e) : v + e;
                if (k == 1) v /= static_cast<double>(r.v.size());
                c.expect.out = {{}, {v}, x.dtype()};
            }
            c.run = [k](const std::vector<Tensor>& in) { return k == 0 ? sum(in[0]) : k == 1 ? mean(in[0]) : max(in[0]); };
            break;
        }
        case kReduceDim:
        case kSoftmax: {
            const int k = static_cast<int>(src.small(0, op == kReduceDim ? 2 : 1));
            c.name = op == kSoftmax ? (k == 0 ? "softmax" : "log_softmax") : k == 0 ? "sum" : k == 1 ? "mean" : "max";
            c.inputs = {src.any(src.shape())};
            const Tensor& x = c.inputs[0];
            const int64_t dim = src.small(-5, 4);
            const bool keep = src.coin();
            const int64_t d = norm_dim(dim, x.dim());
            c.expect = same_floating(c.inputs);
            if (op == kReduceDim && k == 0 && x.dtype() == Dtype::i64) c.expect = {};  // an i64 total
            if (x.dim() == 0) c.expect = Expect::any();  // a dim on a 0-d tensor: a choice
            else if (d < 0) c.expect = Expect::bad();
            else if (op == kReduceDim && k > 0 && x.shape()[static_cast<std::size_t>(d)] == 0)
                c.expect = Expect::bad();  // mean or max over an empty dim
            if (c.expect.verdict == Verdict::valid) {
                const Ref r = ref_of(x);
                if (op == kSoftmax)
                    c.expect.out = along(r, d, x.shape()[static_cast<std::size_t>(d)], true,
                                         [k](const std::vector<double>& row) { return softmax_row(row, k == 1); });
                else
                    c.expect.out = along(r, d, 1, keep, [k](const std::vector<double>& row) {
                        double v = k == 2 ? -INFINITY : 0.0;
                        for (double e : row) v = k == 2 ? std::max(v, e) : v + e;
                        if (k == 1) v /= static_cast<double>(row.size());
                        return std::vector<double>{v};
                    });
            }
            c.run = [op, k, dim, keep](const std::vector<Tensor>& in) {
                if (op == kSoftmax) return k == 0 ? softmax(in[0], dim) : log_softmax(in[0], dim);
                return k == 0 ? sum(in[0], dim, keep) : k == 1 ? mean(in[0], dim, keep) : max(in[0], dim, keep);
            };
            break;
        }
        case kTranspose:
        case kPermute: {
            c.name = op == kTranspose ? "transpose" : "permute";
            c.inputs = {src.any(src.shape())};
            const Tensor& x = c.inputs[0];
            const auto r = static_cast<int64_t>(x.dim());
            std::vector<int64_t> perm(static_cast<std::size_t>(r));
            std::iota(perm.begin(), perm.end(), 0);
            std::vector<int64_t> dims;  // the arguments as given
            bool ok = true;
            if (op == kTranspose) {
                const int64_t d0 = src.small(-5, 4), d1 = src.small(-5, 4);
                dims = {d0, d1};
                const int64_t a = norm_dim(d0, r), b = norm_dim(d1, r);
                ok = a >= 0 && b >= 0;
                if (ok) std::swap(perm[static_cast<std::size_t>(a)], perm[static_cast<std::size_t>(b)]);
            } else {
                dims.resize(static_cast<std::size_t>(src.coin() ? r : src.small(0, 5)));
                std::vector<int64_t> pool = perm;
                for (std::size_t i = 0; i < dims.size(); ++i) {
                    if (!pool.empty() && src.coin()) {
                        const auto j = static_cast<std::size_t>(src.small(0, static_cast<int64_t>(pool.size()) - 1));
                        dims[i] = pool[j] - (src.coin() ? r : 0);
                        pool.erase(pool.begin() + static_cast<std::ptrdiff_t>(j));
                    } else {
                        dims[i] = src.small(-5, 4);
                    }
                }
                ok = static_cast<int64_t>(dims.size()) == r;
                std::vector<bool> seen(static_cast<std::size_t>(r), false);
                for (std::size_t i = 0; ok && i < dims.size(); ++i) {
                    const int64_t d = norm_dim(dims[i], r);
                    ok = d >= 0 && !seen[static_cast<std::size_t>(d)];
                    if (ok) seen[static_cast<std::size_t>(d)] = true, perm[i] = d;
                }
            }
            c.expect = ok ? Expect{} : Expect::bad();
            if (ok && r == 0) c.expect = Expect::any();
            if (c.expect.verdict == Verdict::valid) {
                const Ref rx = ref_of(x);
                Shape os(static_cast<std::size_t>(r));
                for (int64_t i = 0; i < r; ++i) os[static_cast<std::size_t>(i)] = x.shape()[static_cast<std::size_t>(perm[static_cast<std::size_t>(i)])];
                Ref out{os, std::vector<double>(rx.v.size()), x.dtype()};
                const Shape so = strides(os), sx = strides(x.shape());
                for (int64_t i = 0; i < numel(os); ++i) {
                    int64_t s = 0;
                    for (int64_t d = 0; d < r; ++d)
                        s += (i / so[static_cast<std::size_t>(d)] % os[static_cast<std::size_t>(d)]) * sx[static_cast<std::size_t>(perm[static_cast<std::size_t>(d)])];
                    out.v[static_cast<std::size_t>(i)] = rx.v[static_cast<std::size_t>(s)];
                }
                c.expect.out = out;
            }
            if (!floating(x) && c.expect.verdict != Verdict::invalid) c.expect.verdict = Verdict::either;
            c.run = [op, dims](const std::vector<Tensor>& in) {
                return op == kTranspose ? transpose(in[0], dims[0], dims[1]) : permute(in[0], dims);
            };
            break;
        }
        case kReshape: {
            c.name = "reshape";
            c.inputs = {src.any(src.shape())};
            const Tensor& x = c.inputs[0];
            Shape target = src.coin() ? src.shape() : Shape{};
            if (target.empty() && x.numel() > 0) {  // a factorisation of numel, maybe with a -1
                int64_t n = x.numel();
                while (n > 1) {
                    int64_t f = 2;
                    while (n % f) ++f;
                    if (!target.empty() && src.coin()) target.back() *= f;
                    else target.push_back(f);
                    n /= f;
                }
            }
            if (!target.empty() && src.coin()) target[static_cast<std::size_t>(src.small(0, static_cast<int64_t>(target.size()) - 1))] = -1;
            if (src.coin() && !target.empty()) target[0] = src.small(-2, 4);
            int64_t minus = 0, known = 1;
            bool negative = false;
            for (int64_t d : target) {
                if (d == -1) ++minus;
                else if (d < 0) negative = true;
                else known *= d;
            }
            Shape out = target;
            bool ok = !negative && minus <= 1;
            if (ok && minus == 1) {
                if (known == 0) ok = false, c.expect = Expect::any();  // -1 next to a 0 dim: ambiguous
                else if (x.numel() % known) ok = false;
                else std::replace(out.begin(), out.end(), int64_t{-1}, x.numel() / known);
            } else if (ok) {
                ok = known == x.numel();
            }
            if (c.expect.verdict != Verdict::either) c.expect = ok ? Expect{} : Expect::bad();
            if (c.expect.verdict == Verdict::valid) c.expect.out = {out, ref_of(x).v, x.dtype()};
            if (!floating(x) && c.expect.verdict != Verdict::invalid) c.expect.verdict = Verdict::either;
            c.run = [target](const std::vector<Tensor>& in) { return reshape(in[0], target); };
            break;
        }
        case kSlice: {
            c.name = "slice";
            c.inputs = {src.any(src.shape())};
            const Tensor& x = c.inputs[0];
            const int64_t dim = src.small(-5, 4), start = src.small(-6, 6), end = src.small(-6, 6), step = src.small(-1, 3);
            const int64_t d = norm_dim(dim, x.dim());
            c.expect = d < 0 || step < 1 ? Expect::bad() : Expect{};
            if (c.expect.verdict == Verdict::valid) {
                const int64_t n = x.shape()[static_cast<std::size_t>(d)];
                auto clampi = [n](int64_t i) { return std::clamp(i < 0 ? i + n : i, int64_t{0}, n); };
                const int64_t b = clampi(start), e = clampi(end);
                std::vector<int64_t> idx;
                for (int64_t i = b; i < e; i += step) idx.push_back(i);
                c.expect.out = along(ref_of(x), d, static_cast<int64_t>(idx.size()), true, [&idx](const std::vector<double>& row) {
                    std::vector<double> o;
                    for (int64_t i : idx) o.push_back(row[static_cast<std::size_t>(i)]);
                    return o;
                });
            }
            if (!floating(x) && c.expect.verdict != Verdict::invalid) c.expect.verdict = Verdict::either;
            c.run = [dim, start, end, step](const std::vector<Tensor>& in) { return slice(in[0], dim, start, end, step); };
            break;
        }
        case kCat: {
            c.name = "cat";
            const Tensor first = src.any(src.shape());
            const int64_t count = src.small(0, 3);
            const int64_t dim = src.small(-5, 4);
            const int64_t d = norm_dim(dim, first.dim());
            c.inputs = {first};
            for (int64_t i = 1; i < count; ++i) {
                Shape s = first.shape();
                if (d >= 0 && src.coin()) s[static_cast<std::size_t>(d)] = src.small(0, 3);
                else s = src.near(s);
                c.inputs.push_back(src.values(s, src.coin() ? first.dtype() : src.dtype()));
            }
            if (count == 0) c.inputs.clear();
            bool ok = count > 0 && d >= 0;
            for (const Tensor& t : c.inputs) {
                if (!ok) break;
                ok = t.dtype() == first.dtype() && t.dim() == first.dim();
                for (int64_t k = 0; ok && k < t.dim(); ++k)
                    ok = k == d || t.shape()[static_cast<std::size_t>(k)] == first.shape()[static_cast<std::size_t>(k)];
            }
            c.expect = ok ? Expect{} : Expect::bad();
            if (ok) {
                int64_t total = 0;
                for (const Tensor& t : c.inputs) total += t.shape()[static_cast<std::size_t>(d)];
                // The reference: row by row along d, the inputs' rows one after another.
                std::vector<Ref> parts;
                for (const Tensor& t : c.inputs) parts.push_back(ref_of(t));
                Shape os = first.shape();
                os[static_cast<std::size_t>(d)] = total;
                int64_t outer = 1, inner = 1;
                for (int64_t k = 0; k < d; ++k) outer *= os[static_cast<std::size_t>(k)];
                for (std::size_t k = static_cast<std::size_t>(d) + 1; k < os.size(); ++k) inner *= os[k];
                Ref out{os, {}, first.dtype()};
                for (int64_t o = 0; o < outer; ++o)
                    for (const Ref& p : parts) {
                        const int64_t n = p.shape[static_cast<std::size_t>(d)] * inner;
                        out.v.insert(out.v.end(), p.v.begin() + o * n, p.v.begin() + (o + 1) * n);
                    }
                c.expect.out = out;
                if (!floating(first)) c.expect.verdict = Verdict::either;
            }
            c.run = [dim](const std::vector<Tensor>& in) { return cat(in, dim); };
            break;
        }
        case kLayerNorm: {
            c.name = "layer_norm";
            const Tensor x = src.any(src.shape());
            const Shape ws = x.dim() >= 1 && src.coin() ? Shape{x.shape().back()} : src.shape(2);
            const Tensor w = src.values(ws, src.coin() ? x.dtype() : src.dtype());
            const Tensor b = src.values(src.coin() ? ws : src.shape(2), src.coin() ? x.dtype() : src.dtype());
            c.inputs = {x, w, b};
            c.expect = same_floating(c.inputs);
            if (x.dim() < 1 || w.shape() != Shape{x.shape().back()} || b.shape() != Shape{x.shape().back()})
                c.expect = Expect::bad();
            else if (x.shape().back() == 0 && c.expect.verdict == Verdict::valid)
                c.expect = Expect::any();  // normalising empty rows: a choice
            if (c.expect.verdict == Verdict::valid) {
                const Ref rw = ref_of(w), rb = ref_of(b);
                const int64_t C = x.shape().back();
                c.expect.out = along(ref_of(x), x.dim() - 1, C, true, [&](const std::vector<double>& row) {
                    double m = 0, var = 0;
                    for (double e : row) m += e;
                    m /= static_cast<double>(C);
                    for (double e : row) var += (e - m) * (e - m);
                    var /= static_cast<double>(C);
                    std::vector<double> o(row.size());
                    for (std::size_t i = 0; i < row.size(); ++i) o[i] = (row[i] - m) / std::sqrt(var + 1e-5) * rw.v[i] + rb.v[i];
                    return o;
                });
            }
            c.run = [](const std::vector<Tensor>& in) { return layer_norm(in[0], in[1], in[2]); };
            break;
        }
        case kCrossEntropy: {
            c.name = "cross_entropy";
            const Tensor logits = src.any(src.coin() ? Shape{src.small(0, 4), src.small(0, 4)} : src.shape());
            const int64_t V = logits.dim() == 2 ? logits.shape()[1] : 3;
            const Shape ts = logits.dim() >= 1 && src.coin() ? Shape{logits.shape()[0]} : src.shape(2);
            const Tensor targets = src.values(ts, src.coin() ? Dtype::i64 : src.dtype(), -1, V);
            c.inputs = {logits, targets};
            c.expect = floating(logits) ? Expect{} : Expect::bad();
            if (logits.dim() != 2 || targets.dtype() != Dtype::i64 || targets.shape() != Shape{logits.shape()[0]})
                c.expect = Expect::bad();
            if (c.expect.verdict == Verdict::valid) {
                for (int64_t t : targets.to_vector<int64_t>())
                    if (t < 0 || t >= V) c.expect = Expect::bad();
            }
            if (c.expect.verdict == Verdict::valid && logits.shape()[0] == 0) c.expect = Expect::any();  // mean of nothing
            if (c.expect.verdict == Verdict::valid) {
                const Ref lp = along(ref_of(logits), 1, V, true, [](const std::vector<double>& r) { return softmax_row(r, true); });
                const auto t = targets.to_vector<int64_t>();
                double s = 0;
                for (std::size_t n = 0; n < t.size(); ++n) s -= lp.v[n * static_cast<std::size_t>(V) + static_cast<std::size_t>(t[n])];
                c.expect.out = {{}, {s / static_cast<double>(t.size())}, logits.dtype()};
            }
            c.run = [](const std::vector<Tensor>& in) { return cross_entropy(in[0], in[1]); };
            break;
        }
        case kEmbedding: {
            c.name = "embedding";
            const Tensor w = src.any(src.coin() ? Shape{src.small(0, 4), src.small(0, 4)} : src.shape());
            const int64_t V = w.dim() >= 1 ? w.shape()[0] : 2;
            const Tensor ids = src.values(src.shape(3), src.coin() ? Dtype::i64 : src.dtype(), -1, V);
            c.inputs = {w, ids};
            c.expect = w.dim() == 2 && ids.dtype() == Dtype::i64 ? Expect{} : Expect::bad();  // a table of any dtype
            if (c.expect.verdict == Verdict::valid)
                for (int64_t t : ids.to_vector<int64_t>())
                    if (t < 0 || t >= V) c.expect = Expect::bad();
            if (c.expect.verdict == Verdict::valid) {
                const int64_t C = w.shape()[1];
                Shape os = ids.shape();
                os.push_back(C);
                Ref out{os, {}, w.dtype()};
                const Ref rw = ref_of(w);
                for (int64_t t : ids.to_vector<int64_t>())
                    out.v.insert(out.v.end(), rw.v.begin() + t * C, rw.v.begin() + (t + 1) * C);
                c.expect.out = out;
            }
            c.run = [](const std::vector<Tensor>& in) { return embedding(in[0], in[1]); };
            break;
        }
        case kAttention: {
            c.name = "scaled_dot_product_attention";
            const bool causal = src.coin();
            const Tensor q = src.any(src.coin() ? Shape{src.small(0, 2), src.small(0, 2), src.small(0, 3), src.small(0, 3)} : src.shape());
            Shape ks = q.shape();
            if (ks.size() == 4 && src.coin()) ks[2] = src.small(0, 4);
            else ks = src.near(ks);
            const Tensor k = src.values(ks, src.coin() ? q.dtype() : src.dtype());
            Shape vs = src.coin() ? ks : src.near(ks);
            if (vs.size() == 4 && src.coin()) vs[3] = src.small(0, 3);
            const Tensor v = src.values(vs, src.coin() ? q.dtype() : src.dtype());
            // Sometimes a b8 mask, of a shape near (B, H, T, S) or (T, S).
            Tensor mask;
            if (src.small(0, 2) == 0) {
                Shape ms = q.dim() == 4 && k.dim() == 4 ? Shape{q.shape()[0], q.shape()[1], q.shape()[2], k.shape()[2]}
                                                        : src.shape();
                if (ms.size() == 4 && src.coin()) ms.erase(ms.begin(), ms.begin() + 2);
                mask = to(src.values(src.near(ms), Dtype::i64, 0, 1), Dtype::b8);
            }
            c.inputs = {q, k, v};
            c.expect = same_floating(c.inputs);
            // v may have its own last dim (as in PyTorch): out is (B, H, T, hv).
            if (q.dim() != 4 || k.dim() != 4 || v.dim() != 4 || !std::equal(k.shape().begin(), k.shape().end() - 1, v.shape().begin()) ||
                k.shape()[0] != q.shape()[0] ||
                k.shape()[1] != q.shape()[1] || k.shape()[3] != q.shape()[3])
                c.expect = Expect::bad();
            if (c.expect.verdict == Verdict::valid &&
                (q.numel() == 0 || k.numel() == 0 || v.numel() == 0 || q.shape()[3] == 0 || (causal && q.shape()[2] > k.shape()[2])))
                c.expect = Expect::any();  // empty heads, or queries that see no key: a choice
            Ref additive;
            if (mask.defined() && c.expect.verdict != Verdict::invalid) {
                const Shape full{q.shape()[0], q.shape()[1], q.shape()[2], k.shape()[2]};
                const Shape& ms = mask.shape();
                bool fits = ms.size() <= 4;
                for (std::size_t i = 0; fits && i < ms.size(); ++i)
                    fits = ms[i] == 1 || ms[i] == full[4 - ms.size() + i];
                if (!fits) c.expect = Expect::bad();
                additive = ref_of(mask);
                for (double& x : additive.v) x = x != 0 ? 0.0 : -INFINITY;
            }
            if (c.expect.verdict == Verdict::valid) {
                bool empty_row = false;
                c.expect.out = attention_ref(ref_of(q), ref_of(k), ref_of(v), causal, mask.defined() ? &additive : nullptr,
                                             &empty_row);
                if (empty_row) c.expect = Expect::any();  // a query with no key left: zeros here, NaN in torch
            }
            c.run = [causal, mask](const std::vector<Tensor>& in) {
                return mask.defined() ? scaled_dot_product_attention(in[0], in[1], in[2], mask, causal)
                                      : scaled_dot_product_attention(in[0], in[1], in[2], causal);
            };
            break;
        }
        default: {  // attention_qkv
            c.name = "attention_qkv";
            const bool causal = src.coin();
            const int64_t heads = src.small(-1, 3);
            const Tensor qkv = src.any(src.coin() ? Shape{src.small(0, 2), src.small(0, 3), 3 * src.small(0, 4)} : src.shape());
            c.inputs = {qkv};
            c.expect = same_floating(c.inputs);
            const bool shape_ok = qkv.dim() == 3 && qkv.shape()[2] % 3 == 0 && heads >= 1 && (qkv.shape()[2] / 3) % heads == 0;
            if (!shape_ok) c.expect = Expect::bad();
            if (c.expect.verdict == Verdict::valid && (qkv.numel() == 0 || qkv.shape()[2] == 0)) c.expect = Expect::any();
            if (c.expect.verdict == Verdict::valid) {
                const int64_t B = qkv.shape()[0], T = qkv.shape()[1], C = qkv.shape()[2] / 3, D = C / heads;
                const Ref r = ref_of(qkv);
                auto part = [&](int64_t which) {  // (B, H, T, D) from the packed columns
                    Ref o{{B, heads, T, D}, std::vector<double>(static_cast<std::size_t>(B * heads * T * D)), qkv.dtype()};
                    for (int64_t b = 0; b < B; ++b)
                        for (int64_t h = 0; h < heads; ++h)
                            for (int64_t t = 0; t < T; ++t)
                                for (int64_t d = 0; d < D; ++d)
                                    o.v[static_cast<std::size_t>(((b * heads + h) * T + t) * D + d)] =
                                        r.v[static_cast<std::size_t>((b * T + t) * 3 * C + which * C + h * D + d)];
                    return o;
                };
                const Ref a = attention_ref(part(0), part(1), part(2), causal);
                Ref out{{B, T, C}, std::vector<double>(static_cast<std::size_t>(B * T * C)), qkv.dtype()};
                for (int64_t b = 0; b < B; ++b)
                    for (int64_t h = 0; h < heads; ++h)
                        for (int64_t t = 0; t < T; ++t)
                            for (int64_t d = 0; d < D; ++d)
                                out.v[static_cast<std::size_t>((b * T + t) * C + h * D + d)] =
                                    a.v[static_cast<std::size_t>(((b * heads + h) * T + t) * D + d)];
                c.expect.out = out;
            }
            c.run = [heads, causal](const std::vector<Tensor>& in) { return attention_qkv(in[0], heads, causal); };
            break;
        }
    }
    return c;
}

std::string describe(const Call& c) {
    std::string s = c.name + "(";
    for (std::size_t i = 0; i < c.inputs.size(); ++i)
        s += (i ? ", " : "") + (c.inputs[i].defined() ? shape_str(c.inputs[i].shape()) + " " + std::string(dtype_name(c.inputs[i].dtype())) : std::string("undefined"));
    return s + ")";
}

[[noreturn]] void finding(const Call& c, const std::string& what) {
    std::fprintf(stderr, "ops_fuzz: %s: %s\n", describe(c).c_str(), what.c_str());
    std::abort();
}

bool close(double got, double want, Dtype dt) {
    if (std::isnan(want)) return std::isnan(got);
    if (std::isinf(want)) return got == want;
    const double tol = dt == Dtype::f32 ? 2e-5 : 1e-11;
    return std::abs(got - want) <= tol * (1.0 + std::abs(want));
}

void check_result(const Call& c, const Tensor& got, const Ref& want) {
    if (!got.defined()) finding(c, "returned an undefined tensor");
    if (got.shape() != want.shape)
        finding(c, "returned shape " + shape_str(got.shape()) + ", the reference says " + shape_str(want.shape));
    if (got.dtype() != want.dtype) finding(c, std::string("returned dtype ") + std::string(dtype_name(got.dtype())));
    const std::vector<double> v = got.to_vector<double>();
    for (std::size_t i = 0; i < v.size(); ++i)
        if (!close(v[i], want.v[i], got.dtype()))
            finding(c, fmt::format("element {} is {}, the reference says {}", i, v[i], want.v[i]));
}

// Second order, on the chain op -> square -> sum -> the backward of all three, recorded
// (create_graph) -> a sum of squares of that gradient -> its backward: the gradient taken with
// create_graph must equal the plain one, and differentiating it again must give every input a
// gradient of its own shape and dtype (or none, where the second derivative cannot reach it).
void check_create_graph(const Call& c, const std::vector<Tensor>& outs) {
    std::vector<Tensor> wrt;
    for (const Tensor& t : c.inputs)
        if (t.defined() && floating(t) && t.requires_grad()) wrt.push_back(t);
    Tensor loss;
    for (const Tensor& out : outs)
        if (out.defined() && is_floating(out.dtype()) && out.requires_grad()) {
            const Tensor term = sum(mul(out, out));
            loss = loss.defined() ? add(loss, term) : term;
        }
    if (!loss.defined() || wrt.empty()) return;
    std::vector<Tensor> plain, created, second;
    try {
        plain = grad({loss}, wrt, {}, {.retain_graph = true, .allow_unused = true});
        created = grad({loss}, wrt, {}, {.create_graph = true, .allow_unused = true});
        Tensor s;
        for (const Tensor& g : created)
            if (g.defined() && g.requires_grad()) s = s.defined() ? add(s, sum(mul(g, g))) : sum(mul(g, g));
        if (s.defined()) second = grad({s}, wrt, {}, {.allow_unused = true});
    } catch (const Error& e) {
        finding(c, std::string("a gradient of the gradient failed: ") + e.what());
    }
    for (std::size_t i = 0; i < wrt.size(); ++i) {
        if (plain[i].defined() != created[i].defined()) finding(c, "create_graph changed which inputs get a gradient");
        if (!plain[i].defined()) continue;
        const std::vector<double> p = plain[i].to_vector<double>(), q = created[i].to_vector<double>();
        for (std::size_t e = 0; e < p.size(); ++e)
            if (!close(q[e], p[e], wrt[i].dtype()))
                finding(c, fmt::format("with create_graph, element {} of input {}'s gradient is {}, without it {}", e, i,
                                       q[e], p[e]));
        if (i < second.size() && second[i].defined() &&
            (second[i].shape() != wrt[i].shape() || second[i].dtype() != wrt[i].dtype()))
            finding(c, "second-order gradient of shape " + shape_str(second[i].shape()) + " for an input of shape " +
                           shape_str(wrt[i].shape()));
    }
}

// With TG_FUZZ_STATS set, the outcome of every call is counted per op and printed at exit:
// a target that only ever sees errors would be fuzzing nothing.
struct Stats {
    std::map<std::string, std::array<int64_t, 3>> counts;  // results, errors, unchecked choices
    ~Stats() {
        if (!std::getenv("TG_FUZZ_STATS")) return;
        for (const auto& [op, n] : counts)
            std::fprintf(stderr, "%-30s results %8lld  errors %8lld  either %6lld\n", op.c_str(),
                         static_cast<long long>(n[0]), static_cast<long long>(n[1]), static_cast<long long>(n[2]));
    }
} g_stats;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    set_num_threads(1);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Source src{data, size};
    Call c = make_call(src);
    for (Tensor& t : c.inputs)
        if (t.defined() && floating(t)) t.requires_grad_();
    std::vector<Tensor> outs;
    try {
        outs = c.run_many ? c.run_many(c.inputs) : std::vector<Tensor>{c.run(c.inputs)};
    } catch (const Error& e) {
        if (c.expect.verdict == Verdict::valid) finding(c, std::string("refused a valid call: ") + e.what());
        const std::string msg = e.what();
        if (msg.find(c.name) == std::string::npos && !(c.name == "linear" && msg.find("matmul") != std::string::npos))
            finding(c, "the error does not name the op: " + msg);
        ++g_stats.counts[c.name][1];
        return 0;
    }
    if (c.expect.verdict == Verdict::invalid)
        finding(c, "accepted an invalid call, returning " + (outs.empty() ? std::string("no tensor") : shape_str(outs[0].shape())));
    if (!c.expect.has_reference()) {
        ++g_stats.counts[c.name][2];  // a choice without a reference: only the backward below is checked
    } else if (c.run_many) {
        if (outs.size() != c.expect.outs.size())
            finding(c, fmt::format("returned {} tensors, the reference says {}", outs.size(), c.expect.outs.size()));
        for (std::size_t i = 0; i < outs.size(); ++i) check_result(c, outs[i], c.expect.outs[i]);
        ++g_stats.counts[c.name][0];
    } else {
        check_result(c, outs[0], c.expect.out);
        ++g_stats.counts[c.name][0];
    }
    // Backward: every floating input gets a gradient of its own shape and dtype.
    Tensor loss;
    for (const Tensor& out : outs)
        if (out.defined() && is_floating(out.dtype()) && out.requires_grad()) loss = loss.defined() ? add(loss, sum(out)) : sum(out);
    if (loss.defined()) {
        loss.backward(Tensor(), GradOptions{.retain_graph = true});  // check_create_graph walks it again
        for (const Tensor& t : c.inputs) {
            if (!t.defined() || !floating(t)) continue;
            const Tensor g = t.grad();
            if (g.defined() && (g.shape() != t.shape() || g.dtype() != t.dtype()))
                finding(c, "gradient of shape " + shape_str(g.shape()) + " for an input of shape " + shape_str(t.shape()));
        }
        check_create_graph(c, outs);
    }
    return 0;
}
