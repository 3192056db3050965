// Second derivatives of every differentiable op (issue 28): a float64 gradgradcheck of each op
// on the shapes its first-order tests use (broadcasting, strides, padding, groups, size-1 dims),
// f32 against f64 second derivatives of the fused ops, and the Hessian-vector product of a GPT
// loss against a central difference of its gradients.
//
// gradgradcheck differentiates <r2, d<r1, f(x)>/dx> with respect to x. For an op linear in x
// that is zero whatever its backward does, so linear ops are checked inside a nonlinearity
// (square, or a product with an input): then the second derivative runs through the backward's
// own backward, which is what is being tested.
#include <cmath>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "op_inputs.hpp"

using namespace tg;
using namespace tg::test;

namespace {

Tensor leaf(const Tensor& t) { return t.detach().clone().requires_grad_(); }

void check_second(const std::string& what, const GradcheckFn& fn, const std::vector<Tensor>& inputs) {
    INFO(what);
    const GradcheckResult r = gradgradcheck(fn, inputs, options_for({}));
    INFO(r.message());
    CHECK(r.checked > 0);
    CHECK(r.ok);
    CHECK(r.max_rel_error < 1e-6);
}

Tensor sq(const Tensor& t) { return square(t); }

}  // namespace

TEST_CASE("gradgradcheck: activations and elementwise functions with kinks", "[autograd][grad][gradcheck]") {
    const Tensor x = leaf(away_from_zero({2, 3, 4}, 1));
    check_second("gelu (tanh)", [](const Xs& v) { return gelu(v[0]); }, {x});
    check_second("gelu (exact)", [](const Xs& v) { return gelu(v[0], "none"); }, {x});
    check_second("silu", [](const Xs& v) { return silu(v[0]); }, {x});
    // Piecewise linear: zero second derivative of the op itself; the product makes the routed
    // first derivative (a constant slope times dy) part of what is checked.
    check_second("leaky_relu", [](const Xs& v) { return mul(leaky_relu(v[0], 0.1), v[0]); }, {x});
    check_second("abs", [](const Xs& v) { return mul(abs(v[0]), v[0]); }, {x});
    const Tensor grid = leaf(distinct64({3, 4}, 2, -2.0));  // -2, -1.5, ..., 3.5: never on a bound
    check_second("clamp", [](const Xs& v) { return mul(clamp(v[0], -0.75, 1.25), v[0]); }, {grid});
    check_second("relu", [](const Xs& v) { return mul(relu(v[0]), exp(v[0])); }, {x});
}

TEST_CASE("gradgradcheck: softmax, log_softmax, logsumexp and the losses", "[autograd][grad][gradcheck]") {
    const Tensor x = leaf(randn64({2, 3, 4}, 3));
    for (int64_t dim : {0, 1, -1}) {
        check_second("softmax dim " + std::to_string(dim), [dim](const Xs& v) { return softmax(v[0], dim); }, {x});
        check_second("log_softmax dim " + std::to_string(dim), [dim](const Xs& v) { return log_softmax(v[0], dim); },
                     {x});
        check_second("logsumexp dim " + std::to_string(dim), [dim](const Xs& v) { return logsumexp(v[0], dim); }, {x});
    }
    check_second("logsumexp keepdim", [](const Xs& v) { return logsumexp(v[0], 1, true); }, {x});

    const Tensor logits = leaf(randn64({4, 5}, 4)), targets = i64s({1, 0, 4, 1}, {4});
    check_second("cross_entropy", [targets](const Xs& v) { return cross_entropy(v[0], targets); }, {logits});
    const Tensor spatial = leaf(randn64({2, 3, 2}, 5)), spatial_t = i64s({0, 2, 1, 1}, {2, 2});
    check_second("cross_entropy (N, C, d1)", [spatial_t](const Xs& v) { return cross_entropy(v[0], spatial_t); },
                 {spatial});
    const Tensor some_ignored = i64s({1, -100, 4, 2}, {4});
    check_second("cross_entropy ignore_index and label smoothing",
                 [some_ignored](const Xs& v) { return cross_entropy(v[0], some_ignored, -100, 0.2); }, {logits});
    check_second("cross_entropy one sample (C)",
                 [](const Xs& v) { return cross_entropy(v[0], i64s({2}, {}), -100, 0.1); }, {leaf(randn64({5}, 6))});
    check_second("nll_loss of log_softmax",
                 [targets](const Xs& v) { return nll_loss(log_softmax(v[0], 1), targets); }, {logits});
    const Tensor a = leaf(randn64({3, 4}, 7)), b = leaf(randn64({3, 4}, 8));
    check_second("mse_loss", [](const Xs& v) { return mul(mse_loss(v[0], v[1]), sum(v[0])); }, {a, b});
    const Tensor probs = leaf(uniform64({3, 4}, 9, 0.1, 0.9));
    check_second("binary_cross_entropy_with_logits",
                 [](const Xs& v) { return binary_cross_entropy_with_logits(v[0], v[1]); }, {a, probs});
}

TEST_CASE("gradgradcheck: layer_norm, rms_norm and batch_norm", "[autograd][grad][gradcheck]") {
    const Tensor x = leaf(randn64({2, 3, 5}, 10)), w = leaf(away_from_zero({5}, 11)), b = leaf(randn64({5}, 12));
    check_second("layer_norm", [](const Xs& v) { return layer_norm(v[0], v[1], v[2], 1e-5); }, {x, w, b});
    check_second("layer_norm, one row", [](const Xs& v) { return layer_norm(v[0], v[1], v[2], 1e-5); },
                 {leaf(randn64({1, 5}, 13)), w, b});
    check_second("rms_norm", [](const Xs& v) { return rms_norm(v[0], v[1], 1e-6); }, {x, w});
    check_second("rms_norm without weight", [](const Xs& v) { return rms_norm(v[0], Tensor(), 1e-6); }, {x});
    const Tensor img = leaf(randn64({3, 2, 2, 2}, 14)), cw = leaf(away_from_zero({2}, 15)), cb = leaf(randn64({2}, 16));
    check_second("batch_norm training", [](const Xs& v) {
        return batch_norm(v[0], Tensor(), Tensor(), v[1], v[2], true, 0.1, 1e-5);
    }, {img, cw, cb});
    check_second("batch_norm training, (N, C), no affine", [](const Xs& v) {
        return batch_norm(v[0], Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5);
    }, {leaf(randn64({4, 3}, 17))});
    const Tensor rm = randn64({2}, 18), rv = uniform64({2}, 19, 0.5, 2.0);
    check_second("batch_norm evaluation", [rm, rv](const Xs& v) {
        return mul(batch_norm(v[0], rm, rv, v[1], v[2], false, 0.1, 1e-5), v[0]);
    }, {img, cw, cb});
}

TEST_CASE("gradgradcheck: attention, fused and from a packed projection", "[autograd][grad][gradcheck]") {
    const Tensor q = leaf(randn64({1, 2, 3, 4}, 20)), k = leaf(randn64({1, 2, 3, 4}, 21)),
                 v = leaf(randn64({1, 2, 3, 4}, 22));
    check_second("sdpa causal", [](const Xs& in) { return scaled_dot_product_attention(in[0], in[1], in[2], true); },
                 {q, k, v});
    check_second("sdpa", [](const Xs& in) { return scaled_dot_product_attention(in[0], in[1], in[2], false); },
                 {q, k, v});
    // More keys than queries (causal aligns the queries with the last keys), a value dim unlike hs.
    const Tensor k5 = leaf(randn64({2, 1, 5, 4}, 23)), v5 = leaf(randn64({2, 1, 5, 3}, 24)),
                 q2 = leaf(randn64({2, 1, 2, 4}, 25));
    check_second("sdpa T < S causal", [](const Xs& in) { return scaled_dot_product_attention(in[0], in[1], in[2], true); },
                 {q2, k5, v5});
    const Tensor additive = randn64({2, 5}, 26);  // broadcast over batch and heads
    check_second("sdpa with a float mask", [additive](const Xs& in) {
        return scaled_dot_product_attention(in[0], in[1], in[2], additive, false);
    }, {q2, k5, v5});
    const Tensor keep = tensor(std::vector<bool>{true, true, false, true, true, false, true, true, true, true}, {2, 5});
    check_second("sdpa with a b8 mask", [keep](const Xs& in) {
        return scaled_dot_product_attention(in[0], in[1], in[2], keep, false);
    }, {q2, k5, v5});
    // A query row the mask removes entirely: the fused kernels give it a zero output and zero
    // gradients, and so must the backward that records itself (no NaN from the empty softmax).
    const Tensor none_for_row1 =
        tensor(std::vector<bool>{true, false, true, true, false, false, false, false, false, false}, {2, 5});
    check_second("sdpa with a fully masked row", [none_for_row1](const Xs& in) {
        return scaled_dot_product_attention(in[0], in[1], in[2], none_for_row1, false);
    }, {q2, k5, v5});
    const Tensor qkv = leaf(randn64({2, 3, 12}, 27));
    check_second("attention_qkv causal", [](const Xs& in) { return attention_qkv(in[0], 2, true); }, {qkv});
    check_second("attention_qkv with a mask", [](const Xs& in) {
        return attention_qkv(in[0], 2, false, tensor(std::vector<bool>{true, false, true, true, true, true, false, true, true}, {3, 3}));
    }, {qkv});
}

TEST_CASE("gradgradcheck: convolution and pooling over strides, padding, dilation and groups",
          "[autograd][grad][gradcheck]") {
    struct Case {
        const char* what;
        Shape x, w;
        bool bias;
        Conv2dArgs args;
    };
    const std::vector<Case> cases = {
        {"3x3, padding 1", {2, 2, 4, 3}, {3, 2, 3, 3}, true, {.padding = {1, 1}}},
        {"stride 2, odd sizes", {1, 2, 5, 5}, {2, 2, 3, 3}, true, {.stride = {2, 2}}},
        {"dilation 2 with padding", {1, 1, 5, 5}, {2, 1, 3, 2}, false, {.padding = {2, 1}, .dilation = {2, 2}}},
        {"groups 2", {1, 4, 3, 3}, {4, 2, 2, 2}, true, {.padding = {1, 1}, .groups = 2}},
        {"1x1 kernel (direct path)", {2, 3, 2, 2}, {2, 3, 1, 1}, true, {}},
        {"unbatched (C, H, W)", {2, 3, 3}, {2, 2, 2, 2}, true, {.stride = {1, 2}}},
    };
    uint64_t seed = 100;
    for (const Case& c : cases) {
        std::vector<Tensor> in{leaf(randn64(c.x, ++seed)), leaf(randn64(c.w, ++seed))};
        if (c.bias) in.push_back(leaf(randn64({c.w[0]}, ++seed)));
        const Conv2dArgs args = c.args;
        check_second(std::string("conv2d ") + c.what,
                     [args](const Xs& v) { return sq(conv2d(v[0], v[1], v.size() > 2 ? v[2] : Tensor(), args)); }, in);
    }
    check_second("conv1d stride 2, dilation 2, groups 2", [](const Xs& v) {
        return sq(conv1d(v[0], v[1], v[2], {.stride = 2, .padding = 1, .dilation = 2, .groups = 2}));
    }, {leaf(randn64({2, 4, 7}, 150)), leaf(randn64({2, 2, 3}, 151)), leaf(randn64({2}, 152))});
    check_second("conv1d unbatched", [](const Xs& v) { return sq(conv1d(v[0], v[1], Tensor(), {.padding = 1})); },
                 {leaf(randn64({2, 4}, 153)), leaf(randn64({3, 2, 3}, 154))});

    const std::vector<std::pair<Shape, Pool2dArgs>> pools = {
        {{1, 2, 4, 4}, {.kernel = {2, 2}}},
        {{1, 1, 5, 5}, {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}}},
        {{2, 3, 4}, {.kernel = {1, 3}, .stride = {1, 1}}},
    };
    for (const auto& [shape, args] : pools) {
        const Pool2dArgs a = args;
        check_second("max_pool2d " + shape_str(shape), [a](const Xs& v) { return sq(max_pool2d(v[0], a)); },
                     {leaf(distinct64(shape, ++seed))});
        check_second("avg_pool2d " + shape_str(shape), [a](const Xs& v) { return sq(avg_pool2d(v[0], a)); },
                     {leaf(randn64(shape, ++seed))});
    }
}

TEST_CASE("gradgradcheck: indexing, joining and slicing", "[autograd][grad][gradcheck]") {
    const Tensor x = leaf(randn64({3, 4}, 30)), y = leaf(randn64({3, 2}, 31));
    const Tensor table = leaf(randn64({5, 3}, 32)), ids = i64s({1, 4, 1, 0, 2, 1}, {2, 3});
    check_second("embedding (repeated ids)", [ids](const Xs& v) { return sq(embedding(v[0], ids)); }, {table});
    const Tensor idx = i64s({0, 3, 3, 1, 2, 0}, {3, 2});
    check_second("gather", [idx](const Xs& v) { return sq(gather(v[0], 1, idx)); }, {x});
    check_second("index_select dim 0, repeats", [](const Xs& v) { return sq(index_select(v[0], 0, i64s({2, 0, 2}, {3}))); },
                 {x});
    check_second("index_select dim 1", [](const Xs& v) { return sq(index_select(v[0], 1, i64s({3, 1}, {2}))); }, {x});
    check_second("slice with step", [](const Xs& v) { return sq(slice(v[0], 1, 0, 4, 2)); }, {x});
    check_second("select", [](const Xs& v) { return mul(select(v[0], 0, -1), select(v[0], 0, 0)); }, {x});
    check_second("narrow", [](const Xs& v) { return sq(narrow(v[0], 1, 1, 2)); }, {x});
    check_second("cat", [](const Xs& v) { return sq(cat({v[0], v[1]}, 1)); }, {x, y});
    check_second("stack", [](const Xs& v) { return mul(stack({v[0], v[1]}, 2), v[0].unsqueeze(2)); },
                 {x, leaf(randn64({3, 4}, 33))});
    check_second("split", [](const Xs& v) {
        const std::vector<Tensor> p = split(v[0], 3, 1);
        return mul(p[0], expand(p[1], {3, 3}));
    }, {x});
    check_second("chunk", [](const Xs& v) {
        const std::vector<Tensor> p = chunk(v[0], 2, 1);
        return mul(p[0], p[1]);
    }, {x});
    check_second("unbind", [](const Xs& v) {
        const std::vector<Tensor> p = unbind(v[0], 1);
        return mul(mul(p[0], p[1]), add(p[2], p[3]));
    }, {x});
    const Tensor cond = tensor(std::vector<bool>{true, false, true, false}, {4});
    check_second("where (broadcast)", [cond](const Xs& v) { return sq(where(cond, v[0], v[1])); },
                 {x, leaf(randn64({4}, 34))});
    const Tensor mask = tensor(std::vector<bool>{false, true, false}, {3, 1});
    check_second("masked_fill", [mask](const Xs& v) { return sq(masked_fill(v[0], mask, 2.0)); }, {x});
    check_second("tril", [](const Xs& v) { return sq(tril(v[0], 1)); }, {x});
    check_second("triu", [](const Xs& v) { return sq(triu(v[0], -1)); }, {x});
    check_second("repeat", [](const Xs& v) { return sq(repeat(v[0], {2, 1, 2})); }, {y});
    check_second("clone", [](const Xs& v) { return sq(clone(v[0])); }, {x});
    check_second("to (same dtype)", [](const Xs& v) { return sq(to(v[0], Dtype::f64)); }, {x});
    check_second("dropout (a fixed mask)", [](const Xs& v) {
        Generator gen(7);
        return sq(dropout(v[0], 0.4, true, gen));
    }, {x});
}

TEST_CASE("gradgradcheck: reductions, scans and sorting", "[autograd][grad][gradcheck]") {
    const Tensor x = leaf(distinct64({3, 4}, 40));  // no ties: every max, min and sort is stable under a step
    check_second("max", [](const Xs& v) { return mul(max(v[0]), v[0]); }, {x});
    check_second("min", [](const Xs& v) { return mul(min(v[0]), v[0]); }, {x});
    check_second("max dim", [](const Xs& v) { return sq(max(v[0], 1)); }, {x});
    check_second("min dim keepdim", [](const Xs& v) { return mul(min(v[0], 0, true), v[0]); }, {x});
    check_second("amax dims", [](const Xs& v) { return sq(amax(v[0], std::vector<int64_t>{0})); }, {x});
    check_second("amin all", [](const Xs& v) { return mul(amin(v[0]), sum(v[0])); }, {x});
    check_second("var dim", [](const Xs& v) { return var(v[0], 1); }, {x});
    check_second("var dim, biased, keepdim", [](const Xs& v) { return mul(var(v[0], 0, false, true), v[0]); }, {x});
    check_second("var over dims", [](const Xs& v) { return var(v[0], std::vector<int64_t>{0, 1}); }, {x});
    const Tensor nonzero = leaf(distinct64({3, 4}, 41, -2.75));  // |x| has its kink at 0
    for (double p : {1.0, 2.0, 3.0}) {
        check_second("norm p " + std::to_string(p), [p](const Xs& v) { return mul(norm(v[0], p), v[0]); }, {nonzero});
        check_second("norm p " + std::to_string(p) + " over dim 1",
                     [p](const Xs& v) { return norm(v[0], p, {1}); }, {nonzero});
    }
    check_second("norm p inf", [](const Xs& v) { return sq(norm(v[0], INFINITY, {0})); }, {x});
    check_second("cumsum dim 0", [](const Xs& v) { return sq(cumsum(v[0], 0)); }, {x});
    check_second("cumsum dim 1", [](const Xs& v) { return sq(cumsum(v[0], -1)); }, {x});
    check_second("sort values", [](const Xs& v) { return mul(sort(v[0], 1).values, v[0]); }, {x});
    check_second("topk values", [](const Xs& v) { return sq(topk(v[0], 2, 0).values); }, {x});
}

TEST_CASE("second derivatives in f32 agree with f64 for the fused ops", "[autograd][grad]") {
    // hvp of a scalar built on each fused op, at the same point in both dtypes.
    const Tensor x = randn64({2, 3, 8}, 50), w = away_from_zero({8}, 51), b = randn64({8}, 52);
    const Tensor targets = i64s({1, 0, 7, 3, 3, 2}, {6});
    auto f = [targets](const std::vector<Tensor>& p) {
        const Tensor h = layer_norm(p[0], p[1], p[2], 1e-5);
        const Tensor a = attention_qkv(cat({h, gelu(h), silu(h)}, 2), 2, true);
        const Tensor img = reshape(a, {2, 1, 3, 8});
        const Tensor c = avg_pool2d(conv2d(img, reshape(p[1], {2, 1, 2, 2}), Tensor(), {.padding = {1, 1}}),
                                    {.kernel = {2, 2}, .stride = {1, 1}});
        return add(cross_entropy(reshape(softmax(a, -1), {6, 8}), targets), mean(square(c)));
    };
    const std::vector<Tensor> p64 = {x, w, b};
    const std::vector<Tensor> v64 = {randn64({2, 3, 8}, 53), randn64({8}, 54), randn64({8}, 55)};
    const std::vector<Tensor> h64 = hvp(f, p64, v64);
    std::vector<Tensor> p32, v32;
    for (std::size_t i = 0; i < p64.size(); ++i) {
        p32.push_back(p64[i].to(Dtype::f32));
        v32.push_back(v64[i].to(Dtype::f32));
    }
    const std::vector<Tensor> h32 = hvp(f, p32, v32);
    for (std::size_t i = 0; i < h64.size(); ++i) {
        INFO("input " << i);
        CHECK(h32[i].dtype() == Dtype::f32);
        CHECK(max(abs(h64[i])).item<double>() > 1e-3);  // something to compare
        CHECK(max_rel_diff(h32[i].to(Dtype::f64), h64[i]) < 1e-3);
    }
}

TEST_CASE("a GPT loss's Hessian-vector product matches a central difference of its gradients",
          "[autograd][grad][nn]") {
    // Pre-norm with tied embeddings, dropout off: layer_norm, attention_qkv, gelu, embedding,
    // linear and cross_entropy all take part.
    nn::GPT model(nn::GPTConfig{.vocab_size = 11, .context_length = 6, .d_model = 8, .n_layer = 2, .n_head = 2,
                                .seed = 3, .dtype = Dtype::f64});
    const Tensor tokens = i64s({1, 4, 2, 9, 0, 3, 5, 5, 10, 7}, {2, 5});
    const Tensor targets = i64s({4, 2, 9, 0, 3, 5, 5, 10, 7, 1}, {2, 5});
    std::vector<Tensor> params = model.parameters();
    std::vector<Tensor> v;
    for (std::size_t i = 0; i < params.size(); ++i) v.push_back(randn64(params[i].shape(), 60 + i));
    std::vector<Tensor> theta;
    for (const Tensor& p : params) theta.push_back(p.detach().clone());
    // H v by a double backward through every op of the model.
    const Tensor loss = model.loss(tokens, targets);
    const std::vector<Tensor> g = grad({loss}, params, {}, {.create_graph = true});
    Tensor gv = Tensor::zeros({}, Dtype::f64);
    for (std::size_t i = 0; i < g.size(); ++i) gv = add(gv, sum(mul(g[i], v[i])));
    const std::vector<Tensor> hv = grad({gv}, params);
    // (g(theta + e v) - g(theta - e v)) / 2e.
    const double eps = 1e-5;
    auto gradient_at = [&](double e) {
        {
            NoGradGuard ng;
            for (std::size_t i = 0; i < params.size(); ++i) params[i].copy_(add(theta[i], mul(v[i], e)));
        }
        return grad({model.loss(tokens, targets)}, params);
    };
    const std::vector<Tensor> plus = gradient_at(eps), minus = gradient_at(-eps);
    double worst = 0;
    for (std::size_t i = 0; i < params.size(); ++i) {
        INFO("parameter " << i << " " << shape_str(params[i].shape()));
        const Tensor numeric = mul(sub(plus[i], minus[i]), 1.0 / (2 * eps));
        const double rel = max_rel_diff(hv[i], numeric);
        worst = std::max(worst, rel);
        CHECK(rel < 1e-5);
    }
    INFO("worst relative difference " << worst);
    CHECK(worst < 1e-5);
}

TEST_CASE("gradgradcheck: the LSTM and GRU recurrences", "[autograd][grad][gradcheck]") {
    const int64_t T = 3, B = 2, H = 2;
    const Tensor x4 = leaf(randn64({T, B, 4 * H}, 70)), h0 = leaf(randn64({B, H}, 71)), c0 = leaf(randn64({B, H}, 72));
    const Tensor w4 = leaf(randn64({4 * H, H}, 73) * 0.5), b4 = leaf(randn64({4 * H}, 74));
    // Every output takes part: the sequence, the last h and the last c.
    check_second("lstm_recurrence", [](const Xs& v) {
        const LSTMSequence s = lstm_recurrence(v[0], v[1], v[2], v[3], v[4]);
        return add(sum(mul(s.output, s.output)), sum(mul(s.h, s.c)));
    }, {x4, h0, c0, w4, b4});
    check_second("lstm_recurrence without b_hh, one step", [](const Xs& v) {
        return lstm_recurrence(v[0], v[1], v[2], v[3], Tensor()).c;
    }, {leaf(randn64({1, B, 4 * H}, 75)), h0, c0, w4});
    const Tensor x3 = leaf(randn64({T, B, 3 * H}, 76)), w3 = leaf(randn64({3 * H, H}, 77) * 0.5),
                 b3 = leaf(randn64({3 * H}, 78));
    check_second("gru_recurrence", [](const Xs& v) { return gru_recurrence(v[0], v[1], v[2], v[3]); }, {x3, h0, w3, b3});
    check_second("gru_recurrence without b_hh", [](const Xs& v) {
        return square(gru_recurrence(v[0], v[1], v[2], Tensor()));
    }, {x3, h0, w3});
}

TEST_CASE("create_graph keeps the kernels' answers at zero norms and ignored rows", "[autograd][grad]") {
    // norm with p < 1 over a row of zeros: the kernel gives a zero gradient, and so must the
    // recorded backward (not 0 * inf = NaN), and its second derivative must be finite.
    Tensor x = tensor({0.0, 0.0, 1.0, -2.0}, {2, 2}).requires_grad_();
    const Tensor n = sum(norm(x, 0.5, {1}));
    const Tensor plain = grad({n}, {x}, {}, {.retain_graph = true})[0];
    const Tensor created = grad({n}, {x}, {}, {.create_graph = true})[0];
    CHECK(max_rel_diff(created, plain) < 1e-12);
    CHECK(plain.to_vector<double>()[0] == 0.0);
    CHECK(all(isfinite(grad({sum(mul(created, created))}, {x})[0])).item<bool>());
    // cross_entropy with a padding row of -inf logits that ignore_index leaves out.
    const double inf = INFINITY;
    Tensor logits = tensor({-inf, -inf, -inf, 0.5, -1.0, 2.0}, {2, 3}).requires_grad_();
    const Tensor targets = i64s({-100, 2}, {2});
    const Tensor l = cross_entropy(logits, targets, -100, 0.1);
    const Tensor p = grad({l}, {logits}, {}, {.retain_graph = true})[0];
    const Tensor c = grad({l}, {logits}, {}, {.create_graph = true})[0];
    CHECK(max_rel_diff(c, p) < 1e-12);
    CHECK(all(isfinite(grad({sum(mul(c, c))}, {logits})[0])).item<bool>());
}
