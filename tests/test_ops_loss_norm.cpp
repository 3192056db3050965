// batch_norm, rms_norm and the losses (mse_loss, nll_loss, binary_cross_entropy_with_logits,
// cross_entropy with ignore_index and label smoothing): values against hand computations and
// PyTorch (tests/data/make_norm_loss_reference.py), gradients against finite differences,
// float32 against float64, the running statistics' in-place update, and the errors.
#include <cmath>
#include <map>

#include "helpers.hpp"

using namespace tg;
using Catch::Contains;
using test::check_grad;
using test::randn64;
using test::require_close;
using test::require_values;

namespace {

const std::string kData = TG_TEST_DATA_DIR;

const std::map<std::string, Tensor>& reference() {
    static const std::map<std::string, Tensor> m = test::read_reference(kData + "/norm_loss_reference.safetensors");
    return m;
}

Tensor want(const std::string& name) {
    INFO("reference tensor " << name);
    REQUIRE(reference().count(name) == 1);
    return reference().at(name).clone();
}

bool has_ref(const std::string& name) { return reference().count(name) == 1; }

// Every element of a and b (same shape) within tol of each other, relative to max(1, |b|).
void require_near(const Tensor& a, const Tensor& b, double tol) {
    REQUIRE(a.shape() == b.shape());
    const auto va = a.to_vector<double>(), vb = b.to_vector<double>();
    for (std::size_t i = 0; i < va.size(); ++i) {
        INFO("element " << i << ": " << va[i] << " vs " << vb[i]);
        CHECK(std::abs(va[i] - vb[i]) <= tol * std::max(1.0, std::abs(vb[i])));
    }
}

Tensor f64v(std::initializer_list<double> v, const Shape& s) { return tensor(v, s); }
Tensor i64v(const std::vector<int64_t>& v) { return tensor(v); }
Tensor leaf(Tensor t) { return t.requires_grad_(); }

}  // namespace

// ---- batch_norm ----

TEST_CASE("batch_norm in training matches PyTorch: output, gradients and updated running statistics",
          "[ops][norm]") {
    struct Case {
        std::string name;
        double momentum, eps;
    };
    for (const Case& c : {Case{"bn_train_4d", 0.2, 1e-5}, Case{"bn_train_3d", 0.1, 1e-3}, Case{"bn_train_2d", 0.1, 1e-5}}) {
        INFO(c.name);
        const std::string p = c.name + ".";
        const bool affine = has_ref(p + "weight");
        Tensor x = leaf(want(p + "x"));
        Tensor w = affine ? leaf(want(p + "weight")) : Tensor();
        Tensor b = affine ? leaf(want(p + "bias")) : Tensor();
        Tensor rm = want(p + "running_mean"), rv = want(p + "running_var");
        const uint64_t vm = rm.version(), vv = rv.version();
        Tensor y = batch_norm(x, rm, rv, w, b, true, c.momentum, c.eps);
        require_close(y, want(p + "y"));
        require_close(rm, want(p + "running_mean_after"), 1e-14);
        require_close(rv, want(p + "running_var_after"), 1e-14);
        CHECK(rm.version() == vm + 1);
        CHECK(rv.version() == vv + 1);
        CHECK_FALSE(rm.requires_grad());
        sum(mul(y, want(p + "r"))).backward();
        require_close(x.grad(), want(p + "dx"), 1e-11);
        if (affine) {
            require_close(w.grad(), want(p + "dw"), 1e-11);
            require_close(b.grad(), want(p + "db"), 1e-11);
        }
    }
}

TEST_CASE("batch_norm in evaluation matches PyTorch and leaves the running statistics untouched", "[ops][norm]") {
    for (const std::string name : {"bn_eval_2d", "bn_eval_3d"}) {
        INFO(name);
        const std::string p = name + ".";
        const bool affine = has_ref(p + "weight");
        Tensor x = leaf(want(p + "x"));
        Tensor w = affine ? leaf(want(p + "weight")) : Tensor();
        Tensor b = affine ? leaf(want(p + "bias")) : Tensor();
        Tensor rm = want(p + "running_mean"), rv = want(p + "running_var");
        const auto rm0 = rm.to_vector<double>(), rv0 = rv.to_vector<double>();
        const uint64_t vm = rm.version(), vv = rv.version();
        Tensor y = batch_norm(x, rm, rv, w, b, false, 0.1, name == "bn_eval_2d" ? 1e-5 : 1e-4);
        require_close(y, want(p + "y"));
        CHECK(rm.to_vector<double>() == rm0);  // bit for bit
        CHECK(rv.to_vector<double>() == rv0);
        CHECK(rm.version() == vm);
        CHECK(rv.version() == vv);
        require_close(want(p + "running_mean_after"), rm);  // torch left them alone too
        sum(mul(y, want(p + "r"))).backward();
        require_close(x.grad(), want(p + "dx"), 1e-12);
        if (affine) {
            require_close(w.grad(), want(p + "dw"), 1e-12);
            require_close(b.grad(), want(p + "db"), 1e-12);
        }
    }
}

TEST_CASE("batch_norm updates running statistics with momentum and the unbiased variance, worked by hand",
          "[ops][norm]") {
    // One channel holding 1, 2, 3, 6: mean 3, biased variance 14/4 = 3.5, unbiased 14/3.
    for (Dtype dt : {Dtype::f64, Dtype::f32}) {
        INFO(dtype_name(dt));
        const double tol = dt == Dtype::f64 ? 1e-15 : 1e-6;
        Tensor x = f64v({1, 2, 3, 6}, {4, 1}).to(dt);
        Tensor rm = Tensor::full({1}, 0.5, dt), rv = Tensor::full({1}, 2.0, dt);
        const uint64_t v0 = rm.version();
        Tensor y = batch_norm(x, rm, rv, Tensor(), Tensor(), true, 0.25, 0.0);
        const double s = std::sqrt(3.5);
        require_values(y, {4, 1}, {-2 / s, -1 / s, 0, 3 / s}, tol);
        require_values(rm, {1}, {0.75 * 0.5 + 0.25 * 3}, tol);
        require_values(rv, {1}, {0.75 * 2 + 0.25 * 14.0 / 3.0}, tol);
        // A second step moves them again from where they are now.
        batch_norm(x, rm, rv, Tensor(), Tensor(), true, 0.25, 0.0);
        require_values(rm, {1}, {0.75 * 1.125 + 0.25 * 3}, tol);
        require_values(rv, {1}, {0.75 * (1.5 + 14.0 / 12.0) + 0.25 * 14.0 / 3.0}, tol);
        CHECK(rm.version() == v0 + 2);
        // Evaluation normalises with them: (x - 1.59375) / sqrt(rv + eps) * w + b.
        const double m2 = 0.75 * 1.125 + 0.75, v2 = 0.75 * (1.5 + 14.0 / 12.0) + 14.0 / 12.0;
        Tensor w = Tensor::full({1}, 2.0, dt), b = Tensor::full({1}, -1.0, dt);
        Tensor ye = batch_norm(x, rm, rv, w, b, false, 0.25, 1e-3);
        const double r = 1 / std::sqrt(v2 + 1e-3);
        require_values(ye, {4, 1}, {(1 - m2) * r * 2 - 1, (2 - m2) * r * 2 - 1, (3 - m2) * r * 2 - 1, (6 - m2) * r * 2 - 1},
                       tol);
        CHECK(rm.version() == v0 + 2);
    }
    // Undefined running statistics: training still normalises with the batch's.
    Tensor y = batch_norm(f64v({1, 2, 3, 6}, {4, 1}), Tensor(), Tensor(), Tensor(), Tensor(), true);
    const double s = std::sqrt(3.5 + 1e-5);
    require_values(y, {4, 1}, {-2 / s, -1 / s, 0, 3 / s}, 1e-15);
}

TEST_CASE("batch_norm backward matches finite differences", "[ops][norm]") {
    const std::vector<Shape> shapes{{4, 3}, {3, 2, 5}, {2, 3, 2, 3}, {2, 1, 1, 1}, {1, 2, 3}};
    for (const Shape& s : shapes) {
        for (bool training : {true, false}) {
            INFO(shape_str(s) << (training ? " training" : " eval"));
            const int64_t C = s[1];
            Tensor x = randn64(s, 11) * 2.0 + 0.5;
            Tensor w = randn64({C}, 12) * 0.5 + 1.0, b = randn64({C}, 13);
            Tensor rm = randn64({C}, 14), rv = Tensor::rand({C}, Dtype::f64, 15) + 0.5;
            check_grad([&](const std::vector<Tensor>& in) { return batch_norm(in[0], rm, rv, in[1], in[2], training); },
                       {x, w, b});
            check_grad([&](const std::vector<Tensor>& in) { return batch_norm(in[0], rm, rv, Tensor(), Tensor(), training, 0.1, 1e-3); },
                       {x});
            check_grad([&](const std::vector<Tensor>& in) { return batch_norm(in[0], rm, rv, in[1], Tensor(), training); },
                       {x, w});
            check_grad([&](const std::vector<Tensor>& in) { return batch_norm(in[0], rm, rv, Tensor(), in[1], training); },
                       {x, b});
        }
    }
    // Training without running statistics, and large magnitudes.
    Tensor x = randn64({5, 2, 3}, 21) * 1000.0 + 3000.0;
    check_grad([](const std::vector<Tensor>& in) { return batch_norm(in[0], Tensor(), Tensor(), in[1], in[2], true); },
               {x, randn64({2}, 22), randn64({2}, 23)});
}

TEST_CASE("batch_norm's backward uses the statistics it normalised with, not the buffers' later values",
          "[ops][norm]") {
    Tensor x = leaf(randn64({4, 3}, 31));
    Tensor rm = randn64({3}, 32), rv = Tensor::rand({3}, Dtype::f64, 33) + 0.5;
    Tensor r = randn64({4, 3}, 34);
    Tensor y = batch_norm(x, rm, rv, Tensor(), Tensor(), false);
    const Tensor rv0 = rv.clone();
    batch_norm(randn64({4, 3}, 35), rm, rv, Tensor(), Tensor(), true);  // a training step moves them
    sum(mul(y, r)).backward();
    // Evaluation's dx = dy / sqrt(running_var + eps) with the running_var of the forward.
    const auto g = x.grad().to_vector<double>(), rr = r.to_vector<double>(), v = rv0.to_vector<double>();
    for (int i = 0; i < 12; ++i) CHECK(g[i] == Approx(rr[i] / std::sqrt(v[i % 3] + 1e-5)).epsilon(1e-14));
}

TEST_CASE("batch_norm in float32 agrees with float64", "[ops][norm]") {
    for (bool training : {true, false}) {
        Tensor x = randn64({8, 4, 3, 5}, 41) * 3.0 + 1.0;
        Tensor w = randn64({4}, 42), b = randn64({4}, 43), r = randn64({8, 4, 3, 5}, 44);
        Tensor rm = randn64({4}, 45), rv = Tensor::rand({4}, Dtype::f64, 46) + 0.5;
        Tensor rm32 = rm.to(Dtype::f32), rv32 = rv.to(Dtype::f32);
        Tensor x64 = leaf(x.clone()), x32 = leaf(x.to(Dtype::f32));
        Tensor y64 = batch_norm(x64, rm, rv, w, b, training);
        Tensor y32 = batch_norm(x32, rm32, rv32, w.to(Dtype::f32), b.to(Dtype::f32), training);
        REQUIRE(y32.dtype() == Dtype::f32);
        require_near(y32, y64, 1e-5);
        require_near(rm32, rm, 1e-6);
        require_near(rv32, rv, 1e-6);
        sum(mul(y64, r)).backward();
        sum(mul(y32, r.to(Dtype::f32))).backward();
        require_near(x32.grad(), x64.grad(), 1e-4);
    }
}

TEST_CASE("batch_norm rejects one value per channel in training, missing statistics and bad shapes", "[ops][norm]") {
    Tensor rm = Tensor::zeros({3}, Dtype::f64), rv = Tensor::ones({3}, Dtype::f64);
    const uint64_t v0 = rm.version();
    REQUIRE_THROWS_AS(batch_norm(Tensor::ones({1, 3}, Dtype::f64), rm, rv, Tensor(), Tensor(), true), ValueError);
    REQUIRE_THROWS_WITH(batch_norm(Tensor::ones({1, 3, 1}, Dtype::f64), rm, rv, Tensor(), Tensor(), true),
                        Contains("batch_norm: Expected more than 1 value per channel when training, got input size (1, 3, 1)"));
    CHECK(rm.version() == v0);
    // One value per channel is fine in evaluation.
    require_values(batch_norm(Tensor::ones({1, 3}, Dtype::f64), rm, rv, Tensor(), Tensor(), false), {1, 3},
                   {1 / std::sqrt(1 + 1e-5), 1 / std::sqrt(1 + 1e-5), 1 / std::sqrt(1 + 1e-5)});
    // An empty batch gives an empty output and leaves the buffers (as torch).
    CHECK(batch_norm(Tensor::ones({0, 3}, Dtype::f64), rm, rv, Tensor(), Tensor(), true).shape() == Shape{0, 3});
    CHECK(rm.version() == v0);
    REQUIRE_THROWS_WITH(batch_norm(Tensor::ones({2, 3}, Dtype::f64), Tensor(), rv, Tensor(), Tensor(), false),
                        Contains("batch_norm: running_mean and running_var must both be defined when training is false"));
    REQUIRE_THROWS_WITH(batch_norm(Tensor::ones({2, 3}, Dtype::f64), rm, rv, Tensor::ones({4}, Dtype::f64), Tensor(), true),
                        Contains("batch_norm: weight (4,) must be (C,) = (3,) for x (2, 3)"));
    REQUIRE_THROWS_WITH(batch_norm(Tensor::ones({2, 3}), rm, rv, Tensor(), Tensor(), true),
                        Contains("batch_norm: running_mean has dtype f64, x has f32"));
    REQUIRE_THROWS_WITH(batch_norm(Tensor::ones({3}, Dtype::f64), rm, rv, Tensor(), Tensor(), true),
                        Contains("batch_norm: x must be (N, C, ...) with rank >= 2, got (3,)"));
    Tensor rm_grad = Tensor::zeros({3}, Dtype::f64).requires_grad_();
    REQUIRE_THROWS_WITH(batch_norm(Tensor::ones({2, 3}, Dtype::f64), rm_grad, rv, Tensor(), Tensor(), true),
                        Contains("batch_norm: running_mean requires grad"));
    REQUIRE_THROWS_WITH(batch_norm(Tensor::ones({2, 3}, Dtype::f64), rm, rv, Tensor(), Tensor(), true, 0.1, -1.0),
                        Contains("batch_norm: eps must be finite and >= 0"));
}

// ---- rms_norm ----

TEST_CASE("rms_norm matches PyTorch and a hand computation", "[ops][norm]") {
    for (const std::string name : {"rms_w", "rms_nw"}) {
        INFO(name);
        const std::string p = name + ".";
        const bool has_w = has_ref(p + "weight");
        Tensor x = leaf(want(p + "x"));
        Tensor w = has_w ? leaf(want(p + "weight")) : Tensor();
        Tensor y = rms_norm(x, w, has_w ? 1e-6 : 1e-5);
        require_close(y, want(p + "y"));
        sum(mul(y, want(p + "r"))).backward();
        require_close(x.grad(), want(p + "dx"), 1e-12);
        if (has_w) require_close(w.grad(), want(p + "dw"), 1e-12);
    }
    // x = (3, 4): mean(x^2) = 12.5; weight (2, -1).
    const double s = std::sqrt(12.5);
    require_values(rms_norm(f64v({3, 4}, {1, 2}), f64v({2, -1}, {2}), 0.0), {1, 2}, {6 / s, -4 / s});
    require_values(rms_norm(f64v({3, 4}, {2}), Tensor(), 0.5), {2}, {3 / std::sqrt(13.0), 4 / std::sqrt(13.0)});
}

TEST_CASE("rms_norm backward matches finite differences", "[ops][norm]") {
    for (const Shape& s : std::vector<Shape>{{4}, {3, 5}, {2, 3, 17}, {2, 33}, {3, 1}}) {
        INFO(shape_str(s));
        const int64_t C = s.back();
        Tensor x = randn64(s, 51), w = randn64({C}, 52) * 0.5 + 1.0;
        // With C = 1, y = x / sqrt(x^2 + eps) is flat unless eps is large enough to matter.
        const double eps = C == 1 ? 0.1 : 1e-6;
        check_grad([eps](const std::vector<Tensor>& in) { return rms_norm(in[0], in[1], eps); }, {x, w});
        check_grad([](const std::vector<Tensor>& in) { return rms_norm(in[0], Tensor(), 1e-3); }, {x});
    }
    check_grad([](const std::vector<Tensor>& in) { return rms_norm(in[0], in[1], 1e-5); },
               {randn64({3, 9}, 53) * 500.0 + 200.0, randn64({9}, 54)});
}

TEST_CASE("rms_norm in float32 agrees with float64", "[ops][norm]") {
    Tensor x = randn64({6, 37}, 61) * 2.0, w = randn64({37}, 62), r = randn64({6, 37}, 63);
    Tensor x64 = leaf(x.clone()), w64 = leaf(w.clone()), x32 = leaf(x.to(Dtype::f32)), w32 = leaf(w.to(Dtype::f32));
    Tensor y64 = rms_norm(x64, w64, 1e-6), y32 = rms_norm(x32, w32, 1e-6);
    REQUIRE(y32.dtype() == Dtype::f32);
    require_near(y32, y64, 1e-5);
    sum(mul(y64, r)).backward();
    sum(mul(y32, r.to(Dtype::f32))).backward();
    require_near(x32.grad(), x64.grad(), 1e-4);
    require_near(w32.grad(), w64.grad(), 1e-4);
}

TEST_CASE("rms_norm rejects a weight that does not fit and a bad eps", "[ops][norm]") {
    REQUIRE_THROWS_WITH(rms_norm(Tensor::ones({2, 3}, Dtype::f64), Tensor::ones({2}, Dtype::f64), 1e-5),
                        Contains("rms_norm: weight (2,) must be (C,) with C the last dim of x (2, 3)"));
    REQUIRE_THROWS_WITH(rms_norm(Tensor::ones({2, 3}, Dtype::f64), Tensor::ones({3}), 1e-5),
                        Contains("rms_norm: dtypes differ: f64 and f32"));
    REQUIRE_THROWS_WITH(rms_norm(Tensor::ones({2, 3}, Dtype::f64), Tensor(), std::nan("")),
                        Contains("rms_norm: eps must be finite and >= 0"));
}

// ---- losses ----

TEST_CASE("mse_loss matches PyTorch and a hand computation, with gradients to both arguments", "[ops][loss]") {
    Tensor a = leaf(want("mse.input")), t = leaf(want("mse.target"));
    Tensor l = mse_loss(a, t);
    require_close(l, want("mse.loss"));
    l.backward();
    require_close(a.grad(), want("mse.dinput"));
    require_close(t.grad(), want("mse.dtarget"));
    // ((1 - 0)^2 + (2 - 4)^2) / 2 = 2.5; d/da = (a - b) = (1, -2), d/db = (-1, 2).
    Tensor x = leaf(f64v({1, 2}, {2})), y = leaf(f64v({0, 4}, {2}));
    Tensor hand = mse_loss(x, y);
    require_values(hand, {}, {2.5});
    hand.backward();
    require_values(x.grad(), {2}, {1, -2});
    require_values(y.grad(), {2}, {-1, 2});
}

TEST_CASE("nll_loss matches PyTorch and a hand computation", "[ops][loss]") {
    Tensor lp = leaf(want("nll.log_probs"));
    Tensor l = nll_loss(lp, want("nll.targets"));
    require_close(l, want("nll.loss"));
    l.backward();
    require_close(lp.grad(), want("nll.dlog_probs"));
    // -(x[0, 1] + x[1, 0]) / 2
    Tensor x = leaf(f64v({-1, -2, -3, -4}, {2, 2}));
    Tensor hand = nll_loss(x, i64v({1, 0}));
    require_values(hand, {}, {2.5});
    hand.backward();
    require_values(x.grad(), {2, 2}, {0, -0.5, -0.5, 0});
    // One sample: (C) log-probabilities with a 0-d target.
    require_values(nll_loss(f64v({-1, -2, -3}, {3}), tensor(std::vector<int64_t>{2}, Shape{})), {}, {3});
}

TEST_CASE("binary_cross_entropy_with_logits matches PyTorch, also for logits far from zero", "[ops][loss]") {
    Tensor z = leaf(want("bce.logits")), t = leaf(want("bce.targets"));
    Tensor l = binary_cross_entropy_with_logits(z, t);
    require_close(l, want("bce.loss"));
    l.backward();
    require_close(z.grad(), want("bce.dlogits"));
    require_close(t.grad(), want("bce.dtargets"));
    // z = 0, t = 1: log 2. z = -800, t = 0: 0 (no overflow). z = 800, t = 0: 800.
    require_values(binary_cross_entropy_with_logits(f64v({0}, {1}), f64v({1}, {1})), {}, {std::log(2.0)});
    Tensor zz = leaf(f64v({-800, 800}, {2}));
    Tensor big = binary_cross_entropy_with_logits(zz, f64v({0, 0}, {2}));
    require_values(big, {}, {400});
    big.backward();
    require_values(zz.grad(), {2}, {0, 0.5});
    Tensor z32 = binary_cross_entropy_with_logits(Tensor::full({3}, 200.0), Tensor::zeros({3}));
    CHECK(z32.item<float>() == 200.0f);
}

TEST_CASE("cross_entropy with ignore_index and label smoothing matches PyTorch", "[ops][loss]") {
    struct Case {
        std::string name;
        int64_t ignore_index;
        double label_smoothing;
    };
    for (const Case& c : {Case{"ce_plain", -100, 0.0}, Case{"ce_ignore", -100, 0.0}, Case{"ce_smooth", -100, 0.1},
                          Case{"ce_ignore_smooth", 3, 0.25}}) {
        INFO(c.name);
        Tensor x = leaf(want(c.name + ".logits"));
        Tensor l = cross_entropy(x, want(c.name + ".targets"), c.ignore_index, c.label_smoothing);
        require_close(l, want(c.name + ".loss"));
        l.backward();
        require_close(x.grad(), want(c.name + ".dlogits"));
    }
    // Every row ignored: nan, as torch, and a zero gradient.
    Tensor x = leaf(want("ce_all_ignored.logits"));
    Tensor l = cross_entropy(x, want("ce_all_ignored.targets"), -100, 0.3);
    CHECK(std::isnan(l.item<double>()));
    CHECK(std::isnan(want("ce_all_ignored.loss").item<double>()));
    l.backward();
    require_close(x.grad(), want("ce_all_ignored.dlogits"));
    // Hand: logits (0, 0) for target 1, smoothing 0.5: -log p = log 2 for either class.
    require_values(cross_entropy(f64v({0, 0}, {1, 2}), i64v({1}), -100, 0.5), {}, {std::log(2.0)});
    // logits (0, log 3): p = (1/4, 3/4); target 0 with smoothing 0.5 (C = 2):
    // 0.5 * log 4 + 0.25 * (log 4 + log 4/3).
    require_values(cross_entropy(f64v({0, std::log(3.0)}, {1, 2}), i64v({0}), -100, 0.5), {},
                   {0.5 * std::log(4.0) + 0.25 * (std::log(4.0) + std::log(4.0 / 3.0))}, 1e-14);
}

TEST_CASE("cross_entropy without ignored rows or smoothing gives exactly the two-argument values", "[ops][loss]") {
    Generator gen(71);
    for (const Shape& s : std::vector<Shape>{{7, 5}, {64, 50}, {512, 300}}) {
        INFO(shape_str(s));
        // The last shape runs the OpenMP path, whose reduction adds the threads' partial sums in
        // the order they finish (with more than two threads the last bits may then differ).
        const bool parallel = s[0] * s[1] >= (int64_t{1} << 17);
        for (Dtype dt : {Dtype::f32, Dtype::f64}) {
            Tensor logits = Tensor::randn(s, dt, 72) * 3.0;
            Tensor targets = Tensor::randint(0, s[1], {s[0]}, gen);
            Tensor a = leaf(logits.clone()), b = leaf(logits.clone());
            Tensor la = cross_entropy(a, targets), lb = cross_entropy(b, targets, -100, 0.0);
            if (parallel) CHECK(la.item<double>() == Approx(lb.item<double>()).epsilon(dt == Dtype::f32 ? 1e-6 : 1e-12));
            else CHECK(la.item<double>() == lb.item<double>());
            la.backward();
            lb.backward();
            CHECK(a.grad().to_vector<double>() == b.grad().to_vector<double>());
        }
    }
}

TEST_CASE("loss backwards match finite differences", "[ops][loss]") {
    for (const Shape& s : std::vector<Shape>{{5}, {3, 4}, {2, 3, 2}, {}}) {
        INFO(shape_str(s));
        check_grad([](const std::vector<Tensor>& in) { return mse_loss(in[0], in[1]); }, {randn64(s, 81), randn64(s, 82)});
        check_grad([](const std::vector<Tensor>& in) { return binary_cross_entropy_with_logits(in[0], in[1]); },
                   {randn64(s, 83) * 3.0, Tensor::rand(s, Dtype::f64, 84)});
    }
    Tensor lp = log_softmax(randn64({6, 4}, 85), 1).detach();
    check_grad([](const std::vector<Tensor>& in) { return nll_loss(in[0], in[1]); }, {lp, i64v({0, 3, 3, 1, 2, 0})});
    check_grad([](const std::vector<Tensor>& in) { return nll_loss(in[0], in[1]); },
               {randn64({4}, 86), tensor(std::vector<int64_t>{1}, Shape{})});
    const Tensor targets = i64v({0, -100, 3, 1, 3, -100, 2});
    for (double ls : {0.0, 0.1, 1.0}) {
        INFO("label_smoothing " << ls);
        Tensor x = randn64({7, 4}, 87) * 2.0;
        check_grad([ls](const std::vector<Tensor>& in) { return cross_entropy(in[0], in[1], -100, ls); }, {x, targets});
        check_grad([ls](const std::vector<Tensor>& in) { return cross_entropy(in[0], in[1], 3, ls); },
                   {x, i64v({0, 1, 3, 1, 3, 2, 2})});
        check_grad([ls](const std::vector<Tensor>& in) { return cross_entropy(in[0], in[1], -100, ls); },
                   {randn64({5}, 88), tensor(std::vector<int64_t>{4}, Shape{})});
    }
}

TEST_CASE("losses in float32 agree with float64", "[ops][loss]") {
    Tensor a = randn64({10, 7}, 91) * 3.0, b = randn64({10, 7}, 92);
    const Tensor targets = i64v({0, 6, 3, -100, 2, 5, 1, 1, 4, 6});
    auto f32 = [](const Tensor& t) { return t.to(Dtype::f32); };
    require_near(mse_loss(f32(a), f32(b)), mse_loss(a, b), 1e-6);
    require_near(binary_cross_entropy_with_logits(f32(a), f32(Tensor::rand({10, 7}, Dtype::f64, 93))),
                 binary_cross_entropy_with_logits(a, Tensor::rand({10, 7}, Dtype::f64, 93)), 1e-6);
    require_near(cross_entropy(f32(a), targets, -100, 0.2), cross_entropy(a, targets, -100, 0.2), 1e-6);
    const Tensor lp = log_softmax(a, 1), t2 = i64v({0, 6, 3, 3, 2, 5, 1, 1, 4, 6});
    require_near(nll_loss(f32(lp), t2), nll_loss(lp, t2), 1e-6);
    CHECK(mse_loss(f32(a), f32(b)).dtype() == Dtype::f32);
}

TEST_CASE("losses reject mismatched shapes, out-of-range targets and bad smoothing", "[ops][loss]") {
    REQUIRE_THROWS_WITH(mse_loss(Tensor::ones({2, 3}), Tensor::ones({3})),
                        Contains("mse_loss: input (2, 3) and target (3,) must have the same shape"));
    REQUIRE_THROWS_AS(mse_loss(Tensor::ones({2}), Tensor::ones({2}, Dtype::f64)), DtypeError);
    REQUIRE_THROWS_WITH(binary_cross_entropy_with_logits(Tensor::ones({2, 1}), Tensor::ones({2})),
                        Contains("binary_cross_entropy_with_logits: logits (2, 1) and targets (2,) must have the same shape"));
    REQUIRE_THROWS_WITH(nll_loss(Tensor::zeros({2, 3}), i64v({0, 3})),
                        Contains("nll_loss: target 3 at position 1 is out of range for 3 classes"));
    REQUIRE_THROWS_WITH(nll_loss(Tensor::zeros({2, 3}), i64v({-100, 0})),
                        Contains("nll_loss: target -100 at position 0 is out of range for 3 classes"));
    REQUIRE_THROWS_WITH(nll_loss(Tensor::zeros({2, 3}), Tensor::zeros({2})), Contains("nll_loss: targets must be i64"));
    REQUIRE_THROWS_WITH(nll_loss(Tensor::zeros({2, 3}), i64v({0, 1, 2})),
                        Contains("nll_loss: targets (3,) do not match log_probs (2, 3) (expected (2,))"));
    REQUIRE_THROWS_WITH(cross_entropy(Tensor::zeros({2, 3}), i64v({0, -1}), -100, 0.0),
                        Contains("cross_entropy: target -1 at position 1 is out of range for 3 classes"));
    CHECK_NOTHROW(cross_entropy(Tensor::zeros({2, 3}), i64v({0, -1}), -1, 0.0));
    REQUIRE_THROWS_WITH(cross_entropy(Tensor::zeros({2, 3}), i64v({0, 1}), -100, 1.5),
                        Contains("cross_entropy: label_smoothing must be in [0, 1], got 1.5"));
    REQUIRE_THROWS_WITH(cross_entropy(Tensor::zeros({2, 3, 4}), i64v({0, 1}), -100, 0.0),
                        Contains("cross_entropy: targets (2,) do not match logits (2, 3, 4) (for (N, C, d1, ...) scores the targets are (N, d1, ...): expected (2, 4))"));
}
