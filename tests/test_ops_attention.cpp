// The fused scaled_dot_product_attention, against closed forms, finite differences and the same
// computation composed from matmul, an additive -inf mask and softmax.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/kernels/attention.hpp"
#include "helpers.hpp"
#include "op_inputs.hpp"

using namespace tg;
using namespace tg::test;

namespace {

struct AttnCase {
    int64_t B, H, T, S, hs, hv;
    bool causal;
};

// T == S and S > T, causal and not, one query, one key, head size 1, hv != hs; then lengths
// around and across the kernels' blocks (kernels::kQueryBlock, kKeyBlock), head sizes that are
// not whole vectors, and more keys than queries across several key blocks.
static_assert(kernels::kQueryBlock <= 64 && kernels::kKeyBlock <= 64, "the cases below must cross block boundaries");
const std::vector<AttnCase> kCases = {
    {1, 1, 3, 3, 4, 4, false},      {1, 1, 3, 3, 4, 4, true},      {2, 2, 3, 5, 4, 2, false},
    {2, 2, 3, 5, 4, 2, true},       {1, 2, 1, 4, 3, 3, true},      {1, 1, 1, 1, 2, 2, true},
    {2, 1, 4, 4, 1, 3, true},       {1, 3, 2, 6, 2, 5, false},     {1, 1, 64, 64, 16, 16, true},
    {1, 1, 65, 65, 8, 8, true},     {1, 2, 130, 130, 5, 7, true},  {1, 1, 129, 129, 33, 17, false},
    {2, 1, 70, 150, 16, 9, true},   {1, 1, 3, 200, 4, 4, true},    {1, 1, 100, 257, 3, 24, false},
};

std::string describe(const AttnCase& c) {
    return fmt::format("B={} H={} T={} S={} hs={} hv={} causal={}", c.B, c.H, c.T, c.S, c.hs, c.hv, c.causal);
}

// The same attention from existing ops: softmax(q k^T / sqrt(hs) + M) v, with M = -inf where key
// s lies after query t's diagonal (s > t + S - T) and 0 elsewhere.
Tensor composed_attention(const Tensor& q, const Tensor& k, const Tensor& v, bool causal) {
    const int64_t T = q.size(2), S = k.size(2), hs = q.size(3);
    Tensor scores = mul(matmul(q, transpose(k, -2, -1)), 1.0 / std::sqrt(static_cast<double>(hs)));
    if (causal) {
        const double inf = std::numeric_limits<double>::infinity();
        std::vector<double> m(static_cast<std::size_t>(T * S), 0.0);
        for (int64_t t = 0; t < T; ++t)
            for (int64_t s = t + S - T + 1; s < S; ++s) m[t * S + s] = -inf;
        scores = add(scores, to(tensor(m, {T, S}), q.dtype()));
    }
    return matmul(softmax(scores, -1), v);
}

}  // namespace

TEST_CASE("attention with equal keys averages the visible values", "[ops]") {
    // k = 0 makes every score equal, so each query averages the values it may see.
    const Tensor q = randn64({1, 1, 3, 2}, 2000);
    const Tensor k = zeros({1, 1, 3, 2}, Dtype::f64);
    const Tensor v = tensor({0.0, 1.0, 2.0, 3.0, 4.0, 5.0}, {1, 1, 3, 2});
    require_values(scaled_dot_product_attention(q, k, v), {1, 1, 3, 2}, {2, 3, 2, 3, 2, 3});
    require_values(scaled_dot_product_attention(q, k, v, true), {1, 1, 3, 2}, {0, 1, 1, 2, 2, 3});

    // S = 3 > T = 2: causal query t sees keys s <= t + 1.
    const Tensor q2 = randn64({1, 1, 2, 2}, 2001);
    require_values(scaled_dot_product_attention(q2, k, v, true), {1, 1, 2, 2}, {1, 2, 2, 3});
    require_values(scaled_dot_product_attention(q2, k, v, false), {1, 1, 2, 2}, {2, 3, 2, 3});
}

TEST_CASE("attention with one dominant key copies that key's value", "[ops]") {
    // Scores are q.k / sqrt(2) = 0 or 50 sqrt(2); the key matching q takes weight 1 - 2e-31.
    const Tensor q = tensor({10.0, 0.0, 0.0, 10.0}, {1, 1, 2, 2});
    const Tensor k = tensor({0.0, 10.0, 10.0, 0.0}, {1, 1, 2, 2});
    const Tensor v = tensor({1.0, 2.0, 3.0, 4.0}, {1, 1, 2, 2});
    require_values(scaled_dot_product_attention(q, k, v), {1, 1, 2, 2}, {3, 4, 1, 2});
    // Causal: query 0 may only see key 0.
    require_values(scaled_dot_product_attention(q, k, v, true), {1, 1, 2, 2}, {1, 2, 1, 2});
}

TEST_CASE("attention backward matches finite differences, causal and not, with S == T and S > T",
          "[ops]") {
    uint64_t seed = 2100;
    // The small cases, and two that cross a block boundary with few elements (finite differences
    // cost two forwards per input element).
    std::vector<AttnCase> cases(kCases.begin(), kCases.begin() + 8);
    cases.push_back({1, 1, 66, 66, 2, 1, true});
    cases.push_back({1, 1, 2, 70, 1, 2, false});
    for (const AttnCase& c : cases) {
        INFO("scaled_dot_product_attention " << describe(c));
        const GradcheckFn fn = [causal = c.causal](const Xs& x) {
            return scaled_dot_product_attention(x[0], x[1], x[2], causal);
        };
        check_grad(fn, {randn64({c.B, c.H, c.T, c.hs}, seed), randn64({c.B, c.H, c.S, c.hs}, seed + 1),
                        randn64({c.B, c.H, c.S, c.hv}, seed + 2)});
        seed += 3;
    }
}

TEST_CASE("attention matches matmul, a -inf mask and softmax in values and gradients", "[ops]") {
    uint64_t seed = 2200;
    for (const AttnCase& c : kCases) {
        INFO(describe(c));
        const Tensor q0 = randn64({c.B, c.H, c.T, c.hs}, seed);
        const Tensor k0 = randn64({c.B, c.H, c.S, c.hs}, seed + 1);
        const Tensor v0 = randn64({c.B, c.H, c.S, c.hv}, seed + 2);
        const Tensor dout = randn64({c.B, c.H, c.T, c.hv}, seed + 3);
        seed += 4;

        Tensor q1 = clone(q0).requires_grad_(), q2 = clone(q0).requires_grad_();
        Tensor k1 = clone(k0).requires_grad_(), k2 = clone(k0).requires_grad_();
        Tensor v1 = clone(v0).requires_grad_(), v2 = clone(v0).requires_grad_();
        const Tensor fused = scaled_dot_product_attention(q1, k1, v1, c.causal);
        const Tensor composed = composed_attention(q2, k2, v2, c.causal);
        require_values(fused, composed.shape(), composed.to_vector<double>());
        fused.backward(dout);
        composed.backward(dout);
        require_values(q1.grad(), q0.shape(), q2.grad().to_vector<double>());
        require_values(k1.grad(), k0.shape(), k2.grad().to_vector<double>());
        require_values(v1.grad(), v0.shape(), v2.grad().to_vector<double>());
    }
    // The composition itself is differentiable through the -inf mask.
    INFO("composed attention, causal, T=3 S=5");
    check_grad([](const Xs& x) { return composed_attention(x[0], x[1], x[2], true); },
               {randn64({1, 2, 3, 4}, 2300), randn64({1, 2, 5, 4}, 2301), randn64({1, 2, 5, 3}, 2302)});
}

TEST_CASE("attention rejects shapes and dtypes that do not fit", "[ops]") {
    const Tensor q = zeros({2, 2, 3, 4}, Dtype::f64);
    const Tensor k = zeros({2, 2, 5, 4}, Dtype::f64);
    const Tensor v = zeros({2, 2, 5, 4}, Dtype::f64);
    auto attend = [](const Tensor& a, const Tensor& b, const Tensor& c, bool causal = false) {
        return scaled_dot_product_attention(a, b, c, causal);
    };
    REQUIRE_THROWS_AS(attend(zeros({2, 3, 4}, Dtype::f64), k, v), ShapeError);
    REQUIRE_THROWS_WITH(attend(zeros({2, 3, 4}, Dtype::f64), k, v),
                        Catch::Contains("scaled_dot_product_attention: q, k and v must be 4-d (B, H, T, "
                                        "head_dim): q (2, 3, 4), k (2, 2, 5, 4), v (2, 2, 5, 4)"));
    REQUIRE_THROWS_WITH(
        attend(q, zeros({1, 2, 5, 4}, Dtype::f64), v),
        Catch::Contains("scaled_dot_product_attention: batch and head dims differ: q (2, 2, 3, 4), "
                        "k (1, 2, 5, 4), v (2, 2, 5, 4)"));
    REQUIRE_THROWS_WITH(attend(q, k, zeros({2, 3, 5, 4}, Dtype::f64)),
                        Catch::Contains("scaled_dot_product_attention: batch and head dims differ"));
    REQUIRE_THROWS_WITH(
        attend(q, zeros({2, 2, 5, 3}, Dtype::f64), v),
        Catch::Contains("scaled_dot_product_attention: q and k head dims differ: q (2, 2, 3, 4), "
                        "k (2, 2, 5, 3)"));
    REQUIRE_THROWS_WITH(attend(q, k, zeros({2, 2, 4, 4}, Dtype::f64)),
                        Catch::Contains("scaled_dot_product_attention: k and v sequence lengths differ: "
                                        "q (2, 2, 3, 4), k (2, 2, 5, 4), v (2, 2, 4, 4)"));
    const Tensor short_k = zeros({2, 2, 2, 4}, Dtype::f64);
    REQUIRE_NOTHROW(attend(q, short_k, short_k, false));
    REQUIRE_THROWS_AS(attend(q, short_k, short_k, true), ShapeError);
    REQUIRE_THROWS_WITH(
        attend(q, short_k, short_k, true),
        Catch::Contains("scaled_dot_product_attention: causal attention needs at least as many "
                        "keys as queries: q (2, 2, 3, 4), k (2, 2, 2, 4)"));
    REQUIRE_THROWS_AS(attend(q, to(k, Dtype::f32), v), DtypeError);
    REQUIRE_THROWS_WITH(attend(q, to(k, Dtype::f32), v),
                        Catch::Contains("scaled_dot_product_attention: dtypes differ: f64 and f32"));
    REQUIRE_THROWS_WITH(attend(q, k, to(v, Dtype::f32)),
                        Catch::Contains("scaled_dot_product_attention: dtypes differ: f64 and f32"));
}

namespace {
// The split-and-permute route attention_qkv replaces: (B, T, 3C) -> three (B, H, T, hs).
Tensor attention_by_heads(const Tensor& qkv, int64_t H, bool causal) {
    const int64_t B = qkv.size(0), T = qkv.size(1), C = qkv.size(2) / 3, hs = C / H;
    auto head = [&](int64_t i) {
        return permute(reshape(slice(qkv, 2, i * C, (i + 1) * C), {B, T, H, hs}), {0, 2, 1, 3});
    };
    const Tensor y = scaled_dot_product_attention(head(0), head(1), head(2), causal);
    return reshape(permute(y, {0, 2, 1, 3}), {B, T, C});
}
}  // namespace

TEST_CASE("attention_qkv equals scaled_dot_product_attention on the split heads", "[ops]") {
    struct Case {
        int64_t B, T, C, H;
        bool causal;
    };
    uint64_t seed = 2400;
    for (const Case c : {Case{1, 1, 4, 1, true}, Case{2, 5, 6, 3, true}, Case{2, 4, 8, 2, false},
                         Case{3, 7, 12, 4, true}, Case{1, 33, 32, 2, true}}) {
        INFO(fmt::format("B={} T={} C={} H={} causal={}", c.B, c.T, c.C, c.H, c.causal));
        const Tensor x0 = randn64({c.B, c.T, 3 * c.C}, seed);
        const Tensor dout = randn64({c.B, c.T, c.C}, seed + 1);
        seed += 2;
        Tensor x1 = clone(x0).requires_grad_(), x2 = clone(x0).requires_grad_();
        const Tensor fused = attention_qkv(x1, c.H, c.causal);
        const Tensor split = attention_by_heads(x2, c.H, c.causal);
        require_values(fused, split.shape(), split.to_vector<double>());
        fused.backward(dout);
        split.backward(dout);
        require_values(x1.grad(), x0.shape(), x2.grad().to_vector<double>());
        if (c.T <= 7)
            check_grad([&](const Xs& x) { return attention_qkv(x[0], c.H, c.causal); }, {x0});
    }
    // float32 agrees with float64 to float32 precision, also over several blocks.
    const Tensor x = randn64({2, 200, 24}, 2500);
    const Tensor y64 = attention_qkv(x, 2), y32 = attention_qkv(to(x, Dtype::f32), 2);
    const auto a = y64.to_vector<double>(), b = y32.to_vector<double>();
    for (std::size_t i = 0; i < a.size(); ++i) REQUIRE(std::abs(a[i] - b[i]) < 1e-5);
}

TEST_CASE("attention_qkv rejects shapes that do not split into heads", "[ops]") {
    REQUIRE_THROWS_WITH(attention_qkv(zeros({2, 3, 10}, Dtype::f64), 2),
                        Catch::Contains("attention_qkv: expected qkv (B, T, 3C) with C divisible by "
                                        "n_head, got (2, 3, 10) and n_head 2"));
    REQUIRE_THROWS_WITH(attention_qkv(zeros({2, 3, 12}, Dtype::f64), 3),
                        Catch::Contains("got (2, 3, 12) and n_head 3"));
    REQUIRE_THROWS_WITH(attention_qkv(zeros({3, 12}, Dtype::f64), 2), Catch::Contains("got (3, 12)"));
    REQUIRE_THROWS_AS(attention_qkv(zeros({1, 2, 6}, Dtype::i64), 1), DtypeError);
}

TEST_CASE("attention keeps no (T, T) array: a T = 2048 forward holds O(T) extra bytes per head", "[ops][memory]") {
    // Before the blocked kernels the probabilities (B, H, T, T) were kept for backward: 32 MiB
    // here. Now what is kept beside the output is one log-normaliser per query row.
    const int64_t B = 1, T = 2048, C = 64, H = 2;
    const Tensor qkv = Tensor::randn({B, T, 3 * C}, Dtype::f32, 2600).requires_grad_(true);
    const int64_t before = memory_stats().live_bytes;
    Tensor y = attention_qkv(qkv, H);
    const int64_t kept = memory_stats().live_bytes - before;
    const int64_t out_bytes = B * T * C * 4, lse_bytes = B * H * T * 4;
    CHECK(kept == out_bytes + lse_bytes);
    y.sum().backward();
    REQUIRE(qkv.grad().defined());
    CHECK(std::isfinite(qkv.grad().abs().sum().item<double>()));
}

namespace {

// A random b8 mask of the given shape with every (T, S) row keeping at least its first key, so
// that the composed softmax (NaN on a row with no key) stays comparable.
Tensor keep_mask(const Shape& shape, uint64_t seed) {
    const Tensor u = Tensor::rand(shape, Dtype::f64, seed);
    std::vector<bool> v(static_cast<std::size_t>(u.numel()));
    const std::vector<double> uv = u.to_vector<double>();
    const int64_t S = shape.back();
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = uv[i] < 0.6 || static_cast<int64_t>(i) % S == 0;
    return tensor(v, shape);
}

// softmax(q k^T scale + mask (+ causal)) v from ops, the mask additive (a b8 mask as 0 / -inf).
Tensor composed_masked(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, bool causal) {
    const Tensor additive = mask.dtype() == Dtype::b8
                                ? where(mask, zeros({}, q.dtype()),
                                        full({}, -std::numeric_limits<double>::infinity(), q.dtype()))
                                : mask;
    const int64_t T = q.size(2), S = k.size(2), hs = q.size(3);
    Tensor scores = add(mul(matmul(q, transpose(k, -2, -1)), 1.0 / std::sqrt(static_cast<double>(hs))), additive);
    if (causal) {
        std::vector<bool> future(static_cast<std::size_t>(T * S));
        for (int64_t t = 0; t < T; ++t)
            for (int64_t s = 0; s < S; ++s) future[static_cast<std::size_t>(t * S + s)] = s > t + S - T;
        scores = masked_fill(scores, tensor(future, {T, S}), -std::numeric_limits<double>::infinity());
    }
    return matmul(softmax(scores, -1), v);
}

}  // namespace

TEST_CASE("attention with a b8 or additive mask of any broadcast shape matches the composed ops", "[ops][mask]") {
    struct MaskCase {
        int64_t B, H, T, S, hs;
        Shape mask;  // broadcasting to (B, H, T, S)
        bool boolean, causal;
    };
    const std::vector<MaskCase> cases = {
        {1, 1, 3, 3, 4, {3, 3}, true, false},           {2, 2, 4, 5, 3, {2, 1, 1, 5}, true, false},  // key padding
        {2, 2, 4, 5, 3, {2, 2, 4, 5}, false, false},    {1, 2, 5, 5, 2, {5, 5}, false, true},
        {2, 3, 3, 6, 4, {3, 1, 6}, true, true},         {1, 1, 70, 90, 8, {70, 90}, true, false},   // several blocks
        {2, 1, 65, 65, 5, {2, 1, 1, 65}, true, true},   {1, 2, 40, 100, 16, {1, 2, 40, 100}, false, false},
        {1, 1, 33, 33, 4, {33, 1}, false, false},  // one value per query: changes nothing after the softmax
    };
    uint64_t seed = 5000;
    for (const MaskCase& c : cases) {
        INFO(fmt::format("B={} H={} T={} S={} hs={} mask {} {} causal={}", c.B, c.H, c.T, c.S, c.hs,
                         shape_str(c.mask), c.boolean ? "b8" : "f64", c.causal));
        const Tensor q0 = randn64({c.B, c.H, c.T, c.hs}, seed), k0 = randn64({c.B, c.H, c.S, c.hs}, seed + 1);
        const Tensor v0 = randn64({c.B, c.H, c.S, c.hs}, seed + 2), dout = randn64({c.B, c.H, c.T, c.hs}, seed + 3);
        const Tensor mask = c.boolean ? keep_mask(c.mask, seed + 4) : randn64(c.mask, seed + 4);
        seed += 5;
        Xs fused_in{clone(q0).requires_grad_(), clone(k0).requires_grad_(), clone(v0).requires_grad_()};
        Xs ref_in{clone(q0).requires_grad_(), clone(k0).requires_grad_(), clone(v0).requires_grad_()};
        const Tensor fused = scaled_dot_product_attention(fused_in[0], fused_in[1], fused_in[2], mask, c.causal);
        const Tensor ref = composed_masked(ref_in[0], ref_in[1], ref_in[2], mask, c.causal);
        require_close(fused, ref, 1e-11);
        fused.backward(dout);
        ref.backward(dout);
        for (int i = 0; i < 3; ++i) require_close(fused_in[i].grad(), ref_in[i].grad(), 1e-11);
        if (c.T * c.S <= 30)
            check_grad([&](const Xs& x) { return scaled_dot_product_attention(x[0], x[1], x[2], mask, c.causal); },
                       {q0, k0, v0});
    }
}

TEST_CASE("a b8 mask that is all true changes nothing; a query left with no key gives zeros, never NaN",
          "[ops][mask]") {
    const Tensor q = randn64({1, 2, 40, 4}, 5100), k = randn64({1, 2, 40, 4}, 5101), v = randn64({1, 2, 40, 4}, 5102);
    require_close(scaled_dot_product_attention(q, k, v, Tensor::ones({40, 40}, Dtype::b8), true),
                  scaled_dot_product_attention(q, k, v, true), 0.0);
    // Query 3 may attend to nothing (its row all false); others see the first half of the keys.
    std::vector<bool> m(40 * 40);
    for (int t = 0; t < 40; ++t)
        for (int s = 0; s < 40; ++s) m[static_cast<std::size_t>(t * 40 + s)] = t != 3 && s < 20;
    Tensor qg = clone(q).requires_grad_(), kg = clone(k).requires_grad_(), vg = clone(v).requires_grad_();
    const Tensor y = scaled_dot_product_attention(qg, kg, vg, tensor(m, {40, 40}));
    const std::vector<double> yv = y.to_vector<double>();
    for (int h = 0; h < 2; ++h)
        for (int d = 0; d < 4; ++d) CHECK(yv[static_cast<std::size_t>((h * 40 + 3) * 4 + d)] == 0.0);
    CHECK(all(isfinite(y)).item<bool>());
    y.sum().backward();
    for (const Tensor& g : {qg.grad(), kg.grad(), vg.grad()}) CHECK(all(isfinite(g)).item<bool>());
    const std::vector<double> dq = qg.grad().to_vector<double>();
    for (int d = 0; d < 4; ++d) CHECK(dq[static_cast<std::size_t>(3 * 4 + d)] == 0.0);
    // Keys nobody may attend to get no gradient.
    const std::vector<double> dk = kg.grad().to_vector<double>(), dv = vg.grad().to_vector<double>();
    for (int s = 20; s < 40; ++s)
        for (int d = 0; d < 4; ++d) {
            CHECK(dk[static_cast<std::size_t>(s * 4 + d)] == 0.0);
            CHECK(dv[static_cast<std::size_t>(s * 4 + d)] == 0.0);
        }
}

TEST_CASE("a learned additive mask gets its gradient (composite path), matching finite differences", "[ops][mask]") {
    const Tensor q = randn64({1, 2, 3, 2}, 5200), k = randn64({1, 2, 4, 2}, 5201), v = randn64({1, 2, 4, 3}, 5202);
    const Tensor bias = randn64({2, 3, 4}, 5203);  // one learned bias per head, as ALiBi or T5's
    check_grad([](const Xs& x) { return scaled_dot_product_attention(x[0], x[1], x[2], x[3], false); },
               {q, k, v, bias});
    check_grad([](const Xs& x) { return scaled_dot_product_attention(x[0], x[1], x[2], x[3], true); },
               {q, k, v, bias});
    // The values equal the fused path's (which a mask without requires_grad takes).
    Tensor b = clone(bias).requires_grad_();
    require_close(scaled_dot_product_attention(q, k, v, b, true), scaled_dot_product_attention(q, k, v, bias, true),
                  1e-12);
    const Tensor qkv = randn64({2, 3, 12}, 5204);
    const Tensor head_bias = randn64({1, 2, 3, 3}, 5205);
    check_grad([](const Xs& x) { return attention_qkv(x[0], 2, false, x[1]); }, {qkv, head_bias});
}

TEST_CASE("attention_qkv with a mask equals scaled_dot_product_attention on the split heads", "[ops][mask]") {
    const int64_t B = 2, T = 37, C = 12, H = 3, hs = C / H;
    const Tensor x0 = randn64({B, T, 3 * C}, 5300), dout = randn64({B, T, C}, 5301);
    const Tensor pad = keep_mask({B, 1, 1, T}, 5302);
    Tensor x1 = clone(x0).requires_grad_(), x2 = clone(x0).requires_grad_();
    const Tensor fused = attention_qkv(x1, H, false, pad);
    auto head = [&](const Tensor& x, int64_t i) {
        return permute(reshape(slice(x, 2, i * C, (i + 1) * C), {B, T, H, hs}), {0, 2, 1, 3});
    };
    const Tensor split = reshape(
        permute(scaled_dot_product_attention(head(x2, 0), head(x2, 1), head(x2, 2), pad), {0, 2, 1, 3}), {B, T, C});
    require_close(fused, split, 1e-12);
    fused.backward(dout);
    split.backward(dout);
    require_close(x1.grad(), x2.grad(), 1e-12);
    check_grad([&](const Xs& x) { return attention_qkv(x[0], 2, true, keep_mask({1, 2, 3, 3}, 5303)); },
               {randn64({1, 3, 6}, 5304)});
}

TEST_CASE("attention refuses masks that do not broadcast or have another dtype", "[ops][mask]") {
    const Tensor q = randn64({2, 2, 3, 4}, 5400), k = randn64({2, 2, 5, 4}, 5401), v = randn64({2, 2, 5, 4}, 5402);
    REQUIRE_THROWS_WITH(scaled_dot_product_attention(q, k, v, Tensor::ones({3, 4}, Dtype::b8)),
                        Catch::Contains("scaled_dot_product_attention: attn_mask of shape (3, 4) does not broadcast "
                                        "to (B, H, T, S) = (2, 2, 3, 5)"));
    REQUIRE_THROWS_WITH(scaled_dot_product_attention(q, k, v, Tensor::ones({1, 2, 3, 2, 3, 5}, Dtype::b8)),
                        Catch::Contains("does not broadcast"));
    REQUIRE_THROWS_WITH(scaled_dot_product_attention(q, k, v, Tensor::zeros({3, 5}, Dtype::i64)),
                        Catch::Contains("attn_mask must be b8 (true: may attend) or f64 like the operands (added to "
                                        "the scores), got i64"));
    REQUIRE_THROWS_AS(scaled_dot_product_attention(q, k, v, Tensor::zeros({3, 5}, Dtype::f32)), DtypeError);
    REQUIRE_THROWS_WITH(attention_qkv(randn64({2, 3, 6}, 1), 1, false, Tensor::ones({2, 3}, Dtype::b8)),
                        Catch::Contains("attention_qkv: attn_mask of shape (2, 3) does not broadcast to (B, H, T, S) = "
                                        "(2, 1, 3, 3)"));
}
