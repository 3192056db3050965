// conv1d, conv2d, max_pool2d and avg_pool2d: hand-computed values, PyTorch's values and
// gradients (tests/data/make_conv_reference.py), gradcheck over strides, padding, dilation and
// groups, max pooling's tie rule, f32 against f64, and the error messages.
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "op_inputs.hpp"

using namespace tg;
using namespace tg::test;
using Catch::Contains;

namespace {

const std::string kData = TG_TEST_DATA_DIR;

const std::map<std::string, Tensor>& reference() {
    static const std::map<std::string, Tensor> m = read_reference(kData + "/conv_reference.safetensors");
    return m;
}

std::vector<int64_t> args_of(const std::string& name) { return reference().at(name + ".args").to_vector<int64_t>(); }

// Requires a and b to have one shape and values within tol (absolute and relative).
void require_close(const Tensor& got, const Tensor& want, double tol, const std::string& what) {
    INFO(what);
    REQUIRE(got.defined());
    REQUIRE(got.shape() == want.shape());
    const auto g = got.to_vector<double>(), w = want.to_vector<double>();
    double worst = 0;
    for (std::size_t i = 0; i < g.size(); ++i) worst = std::max(worst, std::abs(g[i] - w[i]) / (1 + std::abs(w[i])));
    CHECK(worst < tol);
}

// Runs op on the reference's x (and w, b), backpropagates L = sum(r * y) and compares y and the
// gradients with PyTorch's.
void check_against_torch(const std::string& name, const std::function<Tensor(const Tensor&, const Tensor&, const Tensor&)>& op) {
    const auto& ref = reference();
    auto get = [&](const std::string& k) { return ref.count(name + "." + k) ? ref.at(name + "." + k).clone() : Tensor(); };
    Tensor x = get("x").requires_grad_(), w = get("w"), b = get("b");
    if (w.defined()) w.requires_grad_();
    if (b.defined()) b.requires_grad_();
    const Tensor y = op(x, w, b);
    require_close(y, get("y"), 1e-12, name + ": y");
    sum(mul(y, get("r"))).backward();
    require_close(x.grad(), get("dx"), 1e-12, name + ": dx");
    if (w.defined()) require_close(w.grad(), get("dw"), 1e-12, name + ": dw");
    if (b.defined()) require_close(b.grad(), get("db"), 1e-12, name + ": db");
}

Conv2dArgs conv2d_args(const std::vector<int64_t>& a) {
    return {.stride = {a[0], a[1]}, .padding = {a[2], a[3]}, .dilation = {a[4], a[5]}, .groups = a[6]};
}

Pool2dArgs pool_args(const std::vector<int64_t>& a) {
    return {.kernel = {a[0], a[1]}, .stride = {a[2], a[3]}, .padding = {a[4], a[5]}};
}

}  // namespace

TEST_CASE("conv2d of a 3x3 ramp with a 2x2 kernel gives the hand-computed sums", "[ops][conv]") {
    // x = [[0, 1, 2], [3, 4, 5], [6, 7, 8]], w = [[1, 2], [3, 4]]: y[i, j] = x[i, j] + 2 x[i, j+1] + 3 x[i+1, j] + 4 x[i+1, j+1].
    const Tensor x = iota64({1, 1, 3, 3});
    const Tensor w = tensor({1.0, 2.0, 3.0, 4.0}, {1, 1, 2, 2});
    require_values(conv2d(x, w, Tensor()), {1, 1, 2, 2}, {0 + 2 + 9 + 16, 1 + 4 + 12 + 20, 3 + 8 + 18 + 28, 4 + 10 + 21 + 32});
    // With bias 0.5, padding 1 and stride 2: windows at (-1, -1), (-1, 1), (1, -1), (1, 1).
    require_values(conv2d(x, w, tensor({0.5}), {.stride = {2, 2}, .padding = {1, 1}}), {1, 1, 2, 2},
                   {0.5 + 4 * 0, 0.5 + 3 * 1 + 4 * 2, 0.5 + 2 * 3 + 4 * 6, 0.5 + 4 + 2 * 5 + 3 * 7 + 4 * 8});
    // Dilation 2 on the 3x3 input: the one window reads the corners.
    require_values(conv2d(x, w, Tensor(), {.dilation = {2, 2}}), {1, 1, 1, 1}, {0 + 2 * 2 + 3 * 6 + 4 * 8});
    // Unbatched (C, H, W) input gives (Cout, Ho, Wo).
    require_values(conv2d(reshape(x, {1, 3, 3}), w, Tensor()), {1, 2, 2}, {27, 37, 57, 67});
}

TEST_CASE("conv1d of a ramp gives the hand-computed sums, per group", "[ops][conv]") {
    // x channel 0 = [0, 1, 2, 3], channel 1 = [4, 5, 6, 7]; groups 2, one filter per group.
    const Tensor x = iota64({1, 2, 4});
    const Tensor w = tensor({1.0, -1.0, 2.0, 1.0}, {2, 1, 2});
    require_values(conv1d(x, w, tensor({0.0, 10.0}), {.groups = 2}), {1, 2, 3},
                   {-1, -1, -1, 10 + 8 + 5, 10 + 10 + 6, 10 + 12 + 7});
    // Padding 1, stride 2, dilation 2 on channel 0 with filter [1, -1]: positions -1|1, 1|3.
    require_values(conv1d(slice(x, 1, 0, 1), slice(w, 0, 0, 1), Tensor(), {.stride = 2, .padding = 1, .dilation = 2}),
                   {1, 1, 2}, {0 - 1, 1 - 3});
}

TEST_CASE("conv1d, conv2d and the pools are recorded under their own names", "[ops][conv][pool]") {
    const Tensor x3 = randn64({1, 2, 5}, 1).requires_grad_(), x4 = randn64({1, 2, 4, 4}, 2).requires_grad_();
    CHECK(conv1d(x3, randn64({3, 2, 2}, 3), Tensor()).grad_fn_name() == "conv1d");
    CHECK(conv2d(x4, randn64({3, 2, 2, 2}, 4), Tensor()).grad_fn_name() == "conv2d");
    CHECK(max_pool2d(x4, {}).grad_fn_name() == "max_pool2d");
    CHECK(avg_pool2d(x4, {}).grad_fn_name() == "avg_pool2d");
}

TEST_CASE("conv2d matches PyTorch's values and gradients", "[ops][conv]") {
    for (const char* name : {"conv2d_pad", "conv2d_groups", "conv2d_depthwise", "conv2d_1x1"}) {
        const Conv2dArgs args = conv2d_args(args_of(name));
        check_against_torch(name, [&](const Tensor& x, const Tensor& w, const Tensor& b) { return conv2d(x, w, b, args); });
    }
}

TEST_CASE("conv1d matches PyTorch's values and gradients", "[ops][conv]") {
    for (const char* name : {"conv1d_groups", "conv1d_one_output"}) {
        const auto a = args_of(name);
        const Conv1dArgs args{.stride = a[0], .padding = a[1], .dilation = a[2], .groups = a[3]};
        check_against_torch(name, [&](const Tensor& x, const Tensor& w, const Tensor& b) { return conv1d(x, w, b, args); });
    }
}

TEST_CASE("max_pool2d and avg_pool2d match PyTorch's values and gradients", "[ops][pool]") {
    for (const char* name : {"max_pool_pad", "max_pool_rect"}) {
        const Pool2dArgs args = pool_args(args_of(name));
        check_against_torch(name, [&](const Tensor& x, const Tensor&, const Tensor&) { return max_pool2d(x, args); });
    }
    for (const char* name : {"avg_pool_pad", "avg_pool_default_stride"}) {
        const Pool2dArgs args = pool_args(args_of(name));
        check_against_torch(name, [&](const Tensor& x, const Tensor&, const Tensor&) { return avg_pool2d(x, args); });
    }
}

TEST_CASE("conv2d backward matches finite differences over strides, padding, dilation and groups", "[ops][conv]") {
    struct Case {
        const char* what;
        Shape x, w;
        bool bias;
        Conv2dArgs args;
    };
    const std::vector<Case> cases = {
        {"3x3, stride 1, padding 1", {2, 3, 5, 4}, {4, 3, 3, 3}, true, {.padding = {1, 1}}},
        {"stride 2, odd sizes", {2, 2, 7, 5}, {3, 2, 3, 3}, true, {.stride = {2, 2}}},
        {"stride (2, 1), padding (0, 2), rectangular kernel", {1, 2, 6, 3}, {2, 2, 2, 3}, true,
         {.stride = {2, 1}, .padding = {0, 2}}},
        {"dilation 2 with padding", {2, 2, 6, 6}, {2, 2, 3, 2}, false, {.padding = {2, 1}, .dilation = {2, 2}}},
        {"groups 2", {2, 4, 5, 5}, {6, 2, 3, 3}, true, {.padding = {1, 1}, .groups = 2}},
        {"depthwise, stride 2", {1, 3, 6, 7}, {3, 1, 3, 3}, true, {.stride = {2, 2}, .padding = {1, 1}, .groups = 3}},
        {"1x1 kernel (direct path)", {2, 3, 3, 2}, {4, 3, 1, 1}, true, {}},
        {"1x1 kernel with stride 2", {1, 2, 5, 5}, {2, 2, 1, 1}, false, {.stride = {2, 2}}},
        {"size-1 dims: one sample, height 1, kernel as wide as x", {1, 1, 1, 4}, {2, 1, 1, 4}, true, {}},
        {"padding wider than the input", {1, 1, 2, 2}, {1, 1, 3, 3}, false, {.padding = {2, 2}}},
        {"unbatched (C, H, W) input", {2, 4, 4}, {3, 2, 2, 2}, true, {.stride = {1, 2}}},
    };
    uint64_t seed = 100;
    for (const Case& c : cases) {
        INFO(c.what);
        std::vector<Tensor> inputs{randn64(c.x, ++seed), randn64(c.w, ++seed)};
        if (c.bias) inputs.push_back(randn64({c.w[0]}, ++seed));
        const Conv2dArgs args = c.args;
        check_grad([args](const Xs& v) { return conv2d(v[0], v[1], v.size() > 2 ? v[2] : Tensor(), args); }, inputs);
    }
}

TEST_CASE("conv1d backward matches finite differences", "[ops][conv]") {
    struct Case {
        const char* what;
        Shape x, w;
        bool bias;
        Conv1dArgs args;
    };
    const std::vector<Case> cases = {
        {"kernel 3, padding 1", {2, 3, 7}, {4, 3, 3}, true, {.padding = 1}},
        {"stride 2, dilation 2, groups 2", {2, 4, 11}, {2, 2, 3}, true, {.stride = 2, .padding = 1, .dilation = 2, .groups = 2}},
        {"depthwise, no bias", {1, 3, 5}, {3, 1, 2}, false, {.groups = 3}},
        {"unbatched (C, L), one output position", {2, 4}, {3, 2, 4}, true, {}},
    };
    uint64_t seed = 200;
    for (const Case& c : cases) {
        INFO(c.what);
        std::vector<Tensor> inputs{randn64(c.x, ++seed), randn64(c.w, ++seed)};
        if (c.bias) inputs.push_back(randn64({c.w[0]}, ++seed));
        const Conv1dArgs args = c.args;
        check_grad([args](const Xs& v) { return conv1d(v[0], v[1], v.size() > 2 ? v[2] : Tensor(), args); }, inputs);
    }
}

TEST_CASE("conv2d on a batch large enough for threads gives each sample's gradients", "[ops][conv]") {
    // 6 x 32 x 72 x 200 = 2.8M multiply-adds, above the 1M where samples are spread over the
    // threads and dw and db are summed from per-thread partial sums; they must equal the sums of
    // the one-sample gradients (which run on one thread).
    const Conv2dArgs args{.stride = {1, 2}, .padding = {1, 1}, .groups = 2};
    const Tensor x = randn64({6, 16, 20, 19}, 1), w = randn64({32, 8, 3, 3}, 2), b = randn64({32}, 3);
    Tensor xb = x.clone().requires_grad_(), wb = w.clone().requires_grad_(), bb = b.clone().requires_grad_();
    const Tensor yb = conv2d(xb, wb, bb, args);
    const Tensor r = randn64(yb.shape(), 4);
    sum(mul(yb, r)).backward();
    Tensor dw_sum = Tensor::zeros(w.shape(), Dtype::f64), db_sum = Tensor::zeros(b.shape(), Dtype::f64);
    for (int64_t n = 0; n < 6; ++n) {
        Tensor xn = slice(x, 0, n, n + 1).clone().requires_grad_(), wn = w.clone().requires_grad_(),
               bn = b.clone().requires_grad_();
        const Tensor yn = conv2d(xn, wn, bn, args);
        require_close(yn, slice(yb, 0, n, n + 1), 1e-12, "y of one sample");
        sum(mul(yn, slice(r, 0, n, n + 1))).backward();
        require_close(xn.grad(), slice(xb.grad(), 0, n, n + 1), 1e-12, "dx of one sample");
        dw_sum = add(dw_sum, wn.grad());
        db_sum = add(db_sum, bn.grad());
    }
    require_close(wb.grad(), dw_sum, 1e-12, "dw");
    require_close(bb.grad(), db_sum, 1e-12, "db");
}

TEST_CASE("conv2d in f32 agrees with f64, forward and backward", "[ops][conv]") {
    const Conv2dArgs args{.stride = {2, 1}, .padding = {1, 1}};
    const Tensor x = randn64({6, 5, 12, 11}, 11), w = randn64({8, 5, 3, 3}, 12), b = randn64({8}, 13);
    std::vector<Tensor> grads64, grads32;
    Tensor y64, y32;
    for (Dtype dt : {Dtype::f64, Dtype::f32}) {
        Tensor xd = x.to(dt).clone().requires_grad_(), wd = w.to(dt).clone().requires_grad_(),
               bd = b.to(dt).clone().requires_grad_();
        const Tensor y = conv2d(xd, wd, bd, args);
        CHECK(y.dtype() == dt);
        sum(mul(y, randn64(y.shape(), 14).to(dt))).backward();
        (dt == Dtype::f64 ? y64 : y32) = y;
        (dt == Dtype::f64 ? grads64 : grads32) = {xd.grad(), wd.grad(), bd.grad()};
    }
    require_close(y32.to(Dtype::f64), y64, 1e-5, "y");
    for (int i = 0; i < 3; ++i) {
        CHECK(grads32[i].dtype() == Dtype::f32);
        // dw and db sum over hundreds of positions: scale the tolerance by the gradient's size.
        require_close(grads32[i].to(Dtype::f64), grads64[i], i == 0 ? 1e-5 : 1e-4, fmt::format("gradient {}", i));
    }
    // And conv1d in f32.
    const Tensor y1 = conv1d(x.to(Dtype::f32).reshape({6, 5, 132}), randn64({2, 5, 4}, 15).to(Dtype::f32), Tensor());
    const Tensor y1_64 = conv1d(x.reshape({6, 5, 132}), randn64({2, 5, 4}, 15), Tensor());
    require_close(y1.to(Dtype::f64), y1_64, 1e-5, "conv1d y");
}

TEST_CASE("max_pool2d and avg_pool2d backward match finite differences", "[ops][pool]") {
    const std::vector<std::pair<Shape, Pool2dArgs>> cases = {
        {{2, 3, 6, 6}, {.kernel = {2, 2}}},
        {{1, 2, 7, 5}, {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}}},
        {{1, 1, 5, 6}, {.kernel = {3, 2}, .stride = {1, 1}, .padding = {1, 1}}},
        {{2, 1, 4}, {.kernel = {1, 3}, .stride = {1, 1}}},
        {{1, 1, 1, 1}, {.kernel = {1, 1}}},
        {{3, 5, 5}, {.kernel = {5, 5}, .padding = {2, 0}}},
    };
    uint64_t seed = 300;
    for (const auto& [shape, args] : cases) {
        INFO(shape_str(shape) << " kernel " << args.kernel[0] << "x" << args.kernel[1]);
        // Values at least 0.5 apart: no window holds a near-tie a finite-difference step could flip.
        check_grad([args](const Xs& v) { return max_pool2d(v[0], args); }, {distinct64(shape, ++seed)});
        check_grad([args](const Xs& v) { return avg_pool2d(v[0], args); }, {randn64(shape, ++seed)});
    }
}

TEST_CASE("max_pool2d sends the gradient to the first maximum of each window, row-major", "[ops][pool]") {
    // Window (0, 0) holds 1 three times, window (0, 1) holds 2 three times.
    Tensor x = tensor({1.0, 1.0, 0.0, 2.0,  //
                       1.0, 0.0, 2.0, 2.0},
                      {1, 1, 2, 4})
                   .requires_grad_();
    Tensor y = max_pool2d(x, {.kernel = {2, 2}});
    require_values(y, {1, 1, 1, 2}, {1.0, 2.0});
    sum(mul(y, tensor({10.0, 20.0}, {1, 1, 1, 2}))).backward();
    require_values(x.grad(), {1, 1, 2, 4}, {10, 0, 0, 20, 0, 0, 0, 0});

    // Overlapping windows (stride 1) on a constant row: each window's first position gets its
    // gradient, so position j receives dy[j], and the last position nothing.
    Tensor c = Tensor::full({1, 1, 1, 5}, 3.0, Dtype::f64).requires_grad_();
    Tensor yc = max_pool2d(c, {.kernel = {1, 3}, .stride = {1, 1}});
    require_values(yc, {1, 1, 1, 3}, {3, 3, 3});
    sum(mul(yc, tensor({1.0, 2.0, 4.0}, {1, 1, 1, 3}))).backward();
    require_values(c.grad(), {1, 1, 1, 5}, {1, 2, 4, 0, 0});

    // Overlapping windows whose maxima coincide sum their gradients there.
    Tensor z = tensor({0.0, 5.0, 1.0, 0.0}, {1, 1, 1, 4}).requires_grad_();
    Tensor yz = max_pool2d(z, {.kernel = {1, 2}, .stride = {1, 1}});
    require_values(yz, {1, 1, 1, 3}, {5, 5, 1});
    sum(mul(yz, tensor({1.0, 2.0, 4.0}, {1, 1, 1, 3}))).backward();
    require_values(z.grad(), {1, 1, 1, 4}, {0, 3, 4, 0});

    // A NaN wins its window (the first NaN, wherever the window's maximum is), as torch's.
    const double nan = std::numeric_limits<double>::quiet_NaN();
    Tensor q = tensor({1.0, nan, 3.0, nan, nan, 2.0, 7.0, 1.0}, {1, 1, 2, 4}).requires_grad_();
    Tensor yq = max_pool2d(q, {.kernel = {1, 4}});
    const auto vq = yq.to_vector<double>();
    CHECK(std::isnan(vq[0]));
    CHECK(std::isnan(vq[1]));
    sum(mul(yq, tensor({1.0, 2.0}, {1, 1, 2, 1}))).backward();
    require_values(q.grad(), {1, 1, 2, 4}, {0, 1, 0, 0, 2, 0, 0, 0});
}

TEST_CASE("max_pool2d pads with -inf and avg_pool2d counts padding in the divisor", "[ops][pool]") {
    // All values negative: a zero pad would win every border window; -inf never does.
    const Tensor neg = Tensor::full({1, 1, 3, 3}, -5.0, Dtype::f64);
    require_values(max_pool2d(neg, {.kernel = {3, 3}, .stride = {1, 1}, .padding = {1, 1}}), {1, 1, 3, 3},
                   std::vector<double>(9, -5.0));
    // Ones (2, 2), kernel 2, padding 1, stride 2 (the default): each corner window holds one
    // input and three pads, so y = 1/4 (count_include_pad) and dx = dy / 4.
    Tensor ones = Tensor::ones({1, 1, 2, 2}, Dtype::f64).requires_grad_();
    Tensor y = avg_pool2d(ones, {.kernel = {2, 2}, .padding = {1, 1}});
    require_values(y, {1, 1, 2, 2}, {0.25, 0.25, 0.25, 0.25});
    sum(mul(y, tensor({4.0, 8.0, 12.0, 16.0}, {1, 1, 2, 2}))).backward();
    require_values(ones.grad(), {1, 1, 2, 2}, {1, 2, 3, 4});
    // Unbatched 3-d input and stride 0 meaning the kernel: means of 2x2 blocks of 0..15.
    require_values(avg_pool2d(iota64({1, 4, 4}), {.kernel = {2, 2}}), {1, 2, 2}, {2.5, 4.5, 10.5, 12.5});
    require_values(max_pool2d(iota64({1, 4, 4}), {.kernel = {2, 2}}), {1, 2, 2}, {5, 7, 13, 15});
    // f32 gives the same means and maxima.
    require_values(avg_pool2d(iota64({1, 4, 4}).to(Dtype::f32), {.kernel = {2, 2}}), {1, 2, 2}, {2.5, 4.5, 10.5, 12.5});
}

TEST_CASE("pooling in f32 agrees with f64", "[ops][pool]") {
    const Tensor x = randn64({4, 8, 13, 12}, 21);
    const Pool2dArgs args{.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}};
    require_close(max_pool2d(x.to(Dtype::f32), args).to(Dtype::f64), max_pool2d(x, args), 1e-6, "max");
    require_close(avg_pool2d(x.to(Dtype::f32), args).to(Dtype::f64), avg_pool2d(x, args), 1e-6, "avg");
}

TEST_CASE("conv1d and conv2d reject bad arguments with messages that say what is wrong", "[ops][conv]") {
    const Tensor x = randn64({2, 4, 5, 5}, 1), w = randn64({6, 2, 3, 3}, 2);
    REQUIRE_THROWS_AS(conv2d(x, w, Tensor(), {.groups = 3}), ShapeError);
    REQUIRE_THROWS_WITH(conv2d(x, w, Tensor(), {.groups = 3}),
                        Contains("conv2d: groups = 3 must divide both Cin = 4 (x (2, 4, 5, 5)) and Cout = 6"));
    REQUIRE_THROWS_WITH(conv2d(x, w, Tensor()),
                        Contains("conv2d: weight (6, 2, 3, 3) has 2 input channels per group, but x (2, 4, 5, 5) has "
                                 "Cin / groups = 4 / 1 = 4"));
    REQUIRE_THROWS_AS(conv2d(x, randn64({6, 4, 7, 3}, 3), Tensor()), ShapeError);
    REQUIRE_THROWS_WITH(conv2d(x, randn64({6, 4, 7, 3}, 3), Tensor(), {.dilation = {1, 2}}),
                        Contains("conv2d: the input is smaller than the kernel: input size (5, 5) with padding (0, 0) "
                                 "against kernel (7, 3) at dilation (1, 2) leaves no output position"));
    REQUIRE_NOTHROW(conv2d(x, randn64({6, 4, 7, 3}, 3), Tensor(), {.padding = {1, 0}}));
    REQUIRE_THROWS_AS(conv2d(x, w, Tensor(), {.stride = {0, 1}, .groups = 2}), ValueError);
    REQUIRE_THROWS_WITH(conv2d(x, w, Tensor(), {.stride = {0, 1}, .groups = 2}), Contains("conv2d: stride must be >= 1, got (0, 1)"));
    REQUIRE_THROWS_WITH(conv2d(x, w, Tensor(), {.padding = {-1, 0}, .groups = 2}), Contains("conv2d: padding must be >= 0"));
    REQUIRE_THROWS_WITH(conv2d(x, w, Tensor(), {.dilation = {1, 0}, .groups = 2}), Contains("conv2d: dilation must be >= 1"));
    REQUIRE_THROWS_WITH(conv2d(x, w, Tensor(), {.groups = 0}), Contains("conv2d: groups must be >= 1, got 0"));
    REQUIRE_THROWS_WITH(conv2d(x, w, randn64({4}, 4), {.groups = 2}),
                        Contains("conv2d: bias must be (Cout,) = (6,) for weight (6, 2, 3, 3), got (4,)"));
    REQUIRE_THROWS_WITH(conv2d(randn64({4, 5, 5, 1, 1}, 5), w, Tensor()),
                        Contains("conv2d: x must be 4-d (N, Cin, H, W) or 3-d (Cin, H, W), got (4, 5, 5, 1, 1)"));
    REQUIRE_THROWS_AS(conv2d(x.to(Dtype::f32), w, Tensor()), DtypeError);
    // conv1d names itself and its 1-d arguments, though it runs as conv2d.
    const Tensor x1 = randn64({2, 4, 5}, 6);
    REQUIRE_THROWS_WITH(conv1d(x1, randn64({3, 4, 2, 2}, 7), Tensor()),
                        Contains("conv1d: weight must be 3-d (Cout, Cin/groups, K), got (3, 4, 2, 2)"));
    REQUIRE_THROWS_WITH(conv1d(x1, randn64({3, 4, 4}, 7), Tensor(), {.dilation = 2}),
                        Contains("conv1d: the input is smaller than the kernel: input size 5 with padding 0 against "
                                 "kernel 4 at dilation 2"));
    REQUIRE_THROWS_WITH(conv1d(x1, randn64({3, 4, 2}, 7), Tensor(), {.stride = 0}), Contains("conv1d: stride must be >= 1, got 0"));
}

TEST_CASE("max_pool2d and avg_pool2d reject bad arguments with messages that say what is wrong", "[ops][pool]") {
    const Tensor x = randn64({1, 2, 5, 5}, 1);
    REQUIRE_THROWS_AS(max_pool2d(x, {.kernel = {3, 3}, .padding = {2, 0}}), ValueError);
    REQUIRE_THROWS_WITH(max_pool2d(x, {.kernel = {3, 3}, .padding = {2, 0}}),
                        Contains("max_pool2d: padding must be >= 0 and at most half the kernel: padding (2, 0) with "
                                 "kernel (3, 3)"));
    REQUIRE_THROWS_WITH(avg_pool2d(x, {.kernel = {0, 2}}), Contains("avg_pool2d: kernel must be >= 1, got (0, 2)"));
    REQUIRE_THROWS_WITH(avg_pool2d(x, {.kernel = {2, 2}, .stride = {-1, 1}}), Contains("avg_pool2d: stride must be >= 1"));
    REQUIRE_THROWS_AS(max_pool2d(x, {.kernel = {6, 2}}), ShapeError);
    REQUIRE_THROWS_WITH(max_pool2d(x, {.kernel = {6, 2}}),
                        Contains("max_pool2d: the input (1, 2, 5, 5) is smaller than the kernel"));
    REQUIRE_THROWS_WITH(max_pool2d(randn64({5, 5}, 2), {}), Contains("max_pool2d: x must be 4-d (N, C, H, W) or 3-d"));
    REQUIRE_THROWS_AS(avg_pool2d(Tensor::zeros({1, 1, 2, 2}, Dtype::i64), {}), DtypeError);
}
