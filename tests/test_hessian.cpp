// Curvature diagnostics: Lanczos eigenvalues, Hutchinson's trace, the preconditioned and
// per-block sharpness, and the optimisers' stability thresholds, against Hessians small enough
// to build exactly (one Hessian-vector product per basis vector) in float64.
#include <nn/hessian_detail.hpp>

#include "helpers.hpp"

using namespace tg;
using Catch::Matchers::Contains;

namespace {

// The dense Hessian (n x n, row-major) of loss() in params: column j is H e_j, one double
// backward per basis vector, through tg::hvp.
std::vector<double> exact_hessian(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                                  const std::vector<Tensor>& params, int64_t& n) {
    n = 0;
    for (const Tensor& p : params) n += p.numel();
    std::vector<double> h(static_cast<std::size_t>(n * n));
    for (int64_t j = 0; j < n; ++j) {
        std::vector<Tensor> e;
        int64_t offset = 0;
        for (const Tensor& p : params) {
            Tensor t = Tensor::zeros(p.shape(), p.dtype());
            if (j >= offset && j < offset + p.numel()) {
                if (p.dtype() == Dtype::f64) t.data<double>()[j - offset] = 1.0;
                else t.data<float>()[j - offset] = 1.0f;
            }
            offset += p.numel();
            e.push_back(t);
        }
        const std::vector<Tensor> col = hvp(fn, params, e);
        int64_t row = 0;
        for (const Tensor& c : col)
            for (double x : c.to_vector<double>()) h[(row++) * n + j] = x;
    }
    for (int64_t i = 0; i < n; ++i)  // symmetrise the rounding away
        for (int64_t j = i + 1; j < n; ++j) h[i * n + j] = h[j * n + i] = 0.5 * (h[i * n + j] + h[j * n + i]);
    return h;
}

// A small tanh MLP with a cross-entropy loss: an indefinite Hessian with 38 parameters.
struct Mlp {
    Dtype dtype;
    std::vector<Tensor> params;
    Tensor x, y;
    explicit Mlp(Dtype d) : dtype(d) {
        params = {Tensor::randn({3, 5}, Dtype::f64, 1), Tensor::randn({5}, Dtype::f64, 2),
                  Tensor::randn({5, 3}, Dtype::f64, 3), Tensor::randn({3}, Dtype::f64, 4)};
        for (Tensor& p : params) p = p.to(d).requires_grad_();
        x = Tensor::randn({8, 3}, Dtype::f64, 5).to(d);
        Generator gen(6);
        y = Tensor::randint(0, 3, {8}, gen);
    }
    Tensor operator()(const std::vector<Tensor>& p) const {
        const Tensor h = tanh(add(matmul(x, p[0]), p[1]));
        return cross_entropy(add(matmul(h, p[2]), p[3]), y);
    }
    std::function<Tensor()> closure() const {
        return [this] { return (*this)(params); };
    }
};

double max_abs(const std::vector<double>& v) {
    double m = 0;
    for (double x : v) m = std::max(m, std::abs(x));
    return m;
}

}  // namespace

TEST_CASE("symmetric_eigen gives orthonormal eigenvectors, largest value first", "[hessian]") {
    const int64_t m = 7;
    const Tensor r = Tensor::randn({m, m}, Dtype::f64, 11);
    const std::vector<double> b = r.to_vector<double>();
    std::vector<double> a(m * m);
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < m; ++j) a[i * m + j] = b[i * m + j] + b[j * m + i];
    const nn::detail::SymmetricEigen e = nn::detail::symmetric_eigen(a, m);
    REQUIRE(e.values.size() == static_cast<std::size_t>(m));
    double trace = 0;
    for (int64_t i = 0; i < m; ++i) trace += a[i * m + i];
    double sum = 0;
    for (int64_t j = 0; j < m; ++j) {
        sum += e.values[j];
        if (j > 0) CHECK(e.values[j] <= e.values[j - 1]);
        for (int64_t i = 0; i < m; ++i) {  // (A v_j)_i = lambda_j v_ij
            double av = 0;
            for (int64_t k = 0; k < m; ++k) av += a[i * m + k] * e.vectors[k * m + j];
            CHECK(av == Approx(e.values[j] * e.vectors[i * m + j]).margin(1e-12));
        }
        for (int64_t l = 0; l < m; ++l) {
            double d = 0;
            for (int64_t k = 0; k < m; ++k) d += e.vectors[k * m + j] * e.vectors[k * m + l];
            CHECK(d == Approx(j == l ? 1.0 : 0.0).margin(1e-12));
        }
    }
    CHECK(sum == Approx(trace).margin(1e-12));
}

TEST_CASE("hessian_eigenvalues are the algebraically largest, not the largest in magnitude", "[hessian]") {
    // loss = 1/2 sum a x^2, H = diag(a): power iteration would find -5.
    Tensor a = Tensor::zeros({4}, Dtype::f64);
    const double values[] = {1.0, 2.0, -5.0, 0.5};
    for (int i = 0; i < 4; ++i) a.data<double>()[i] = values[i];
    Tensor x = Tensor::randn({4}, Dtype::f64, 3).requires_grad_();
    const auto loss = [&] { return mul(sum(mul(a, mul(x, x))), 0.5); };
    const std::vector<double> top = nn::hessian_eigenvalues(loss, {x}, 4);
    REQUIRE(top.size() == 4);
    CHECK(top[0] == Approx(2.0).margin(1e-10));
    CHECK(top[1] == Approx(1.0).margin(1e-10));
    CHECK(top[2] == Approx(0.5).margin(1e-10));
    CHECK(top[3] == Approx(-5.0).margin(1e-10));
    CHECK(nn::hessian_eigenvalues(loss, {x}).front() == Approx(2.0).margin(1e-10));
    // Two distinct values close the Krylov space after two steps, before k = 3 are found:
    // Lanczos restarts orthogonally to it and finds the repeats.
    const double repeated[] = {1.0, 1.0, -5.0, -5.0};
    for (int i = 0; i < 4; ++i) a.data<double>()[i] = repeated[i];
    a.mark_modified();
    const std::vector<double> three = nn::hessian_eigenvalues(loss, {x}, 3);
    CHECK(three[0] == Approx(1.0).margin(1e-10));
    CHECK(three[1] == Approx(1.0).margin(1e-10));
    CHECK(three[2] == Approx(-5.0).margin(1e-10));
    // With k = 2 the first space's two Ritz values {1, -5} are exact, yet not the answer: a
    // closed space is never taken while products are left, so the second 1 is found.
    const std::vector<double> two = nn::hessian_eigenvalues(loss, {x}, 2);
    CHECK(two[0] == Approx(1.0).margin(1e-10));
    CHECK(two[1] == Approx(1.0).margin(1e-10));
    CHECK(nn::hessian_eigenvalues(loss, {x}, 1).front() == Approx(1.0).margin(1e-10));
}

TEST_CASE("hessian_eigen_estimate reports its residuals, products and convergence", "[hessian]") {
    const Mlp mlp(Dtype::f64);
    int64_t n = 0;
    const std::vector<double> h = exact_hessian(mlp, mlp.params, n);
    const nn::detail::SymmetricEigen exact = nn::detail::symmetric_eigen(h, n);
    const nn::EigenEstimate full = nn::hessian_eigen_estimate(mlp.closure(), mlp.params, 2);
    REQUIRE(full.values.size() == 2);
    REQUIRE(full.residuals.size() == 2);
    CHECK(full.converged);
    CHECK(full.products >= 2);
    CHECK(full.products <= n);
    for (int i = 0; i < 2; ++i) {
        CHECK(full.residuals[i] <= 1e-4 * max_abs(exact.values));
        CHECK(std::abs(full.values[i] - exact.values[i]) <= full.residuals[i] + 1e-9);
    }
    CHECK(full.values == nn::hessian_eigenvalues(mlp.closure(), mlp.params, 2));
    // Three products are not enough: not converged, and the residual still bounds the distance
    // to the nearest eigenvalue.
    const nn::EigenEstimate rough = nn::hessian_eigen_estimate(mlp.closure(), mlp.params, 1, {.iterations = 3});
    CHECK_FALSE(rough.converged);
    CHECK(rough.products == 3);
    REQUIRE(rough.residuals.front() > 1e-6);
    double nearest = INFINITY;
    for (double v : exact.values) nearest = std::min(nearest, std::abs(v - rough.values.front()));
    CHECK(nearest <= rough.residuals.front() * (1 + 1e-9));
    CHECK(rough.values.front() <= exact.values.front() + 1e-9);  // a Ritz value never exceeds the top
}

TEST_CASE("hessian_eigenvalues match the exact spectrum of a small model, in f64 and f32", "[hessian]") {
    const Mlp mlp(Dtype::f64);
    int64_t n = 0;
    const std::vector<double> h = exact_hessian(mlp, mlp.params, n);
    REQUIRE(n == 38);
    const nn::detail::SymmetricEigen exact = nn::detail::symmetric_eigen(h, n);
    REQUIRE(exact.values.back() < -1e-3);  // indefinite: a real test of "largest"
    const std::vector<double> top = nn::hessian_eigenvalues(mlp.closure(), mlp.params, 3);
    REQUIRE(top.size() == 3);
    for (int i = 0; i < 3; ++i) CHECK(top[i] == Approx(exact.values[i]).margin(1e-3));
    // With fewer iterations than parameters, the top one still converges.
    const std::vector<double> fast = nn::hessian_eigenvalues(mlp.closure(), mlp.params, 1, {.iterations = 25});
    CHECK(fast[0] == Approx(exact.values[0]).margin(1e-3));

    const Mlp mlp32(Dtype::f32);
    const std::vector<double> top32 = nn::hessian_eigenvalues(mlp32.closure(), mlp32.params, 3);
    for (int i = 0; i < 3; ++i) CHECK(top32[i] == Approx(exact.values[i]).margin(1e-3 * max_abs(exact.values)));
}

TEST_CASE("hessian_trace lies within four standard errors of the exact trace", "[hessian]") {
    const Mlp mlp(Dtype::f64);
    int64_t n = 0;
    const std::vector<double> h = exact_hessian(mlp, mlp.params, n);
    double trace = 0, off = 0;
    for (int64_t i = 0; i < n; ++i) {
        trace += h[i * n + i];
        for (int64_t j = 0; j < n; ++j)
            if (i != j) off += h[i * n + j] * h[i * n + j];
    }
    const int samples = 100;
    const double se = std::sqrt(2 * off / samples);  // Var(z^T H z) = 2 sum_{i != j} H_ij^2 for Rademacher z
    for (uint64_t seed : {0u, 1u, 2u}) {
        const nn::TraceEstimate t = nn::hessian_trace_estimate(mlp.closure(), mlp.params, samples, {.seed = seed});
        INFO("seed " << seed << ": estimate " << t.trace << ", exact " << trace << ", standard error " << se);
        CHECK(std::abs(t.trace - trace) < 4 * se);
        CHECK(t.samples == samples);
        CHECK(t.standard_error > 0.5 * se);
        CHECK(t.standard_error < 2 * se);
        CHECK(nn::hessian_trace(mlp.closure(), mlp.params, samples, {.seed = seed}) == t.trace);
    }
    // A diagonal Hessian has no variance: one probe is exact.
    Tensor x = Tensor::randn({5}, Dtype::f64, 3).requires_grad_();
    const auto quad = [&] { return sum(mul(x, mul(x, x))); };  // H = diag(6 x)
    double exact = 0;
    for (double v : x.to_vector<double>()) exact += 6 * v;
    CHECK(nn::hessian_trace(quad, {x}, 1) == Approx(exact).margin(1e-12));
}

TEST_CASE("Hessian diagnostics leave .grad as it was, and work inside a NoGradGuard", "[hessian]") {
    Mlp mlp(Dtype::f64);
    const Tensor g0 = Tensor::full({3, 5}, 0.25, Dtype::f64);
    mlp.params[0].set_grad(g0);
    const double before = nn::hessian_eigenvalues(mlp.closure(), mlp.params).front();
    CHECK(mlp.params[0].grad().to_vector<double>() == g0.to_vector<double>());
    for (std::size_t i = 1; i < mlp.params.size(); ++i) CHECK_FALSE(mlp.params[i].grad().defined());
    nn::hessian_trace(mlp.closure(), mlp.params, 3);
    CHECK(mlp.params[0].grad().to_vector<double>() == g0.to_vector<double>());
    CHECK_FALSE(mlp.params[1].grad().defined());
    NoGradGuard ng;
    CHECK(nn::hessian_eigenvalues(mlp.closure(), mlp.params).front() == Approx(before).epsilon(1e-9));
}

TEST_CASE("preconditioned_hessian_eigenvalues are those of P^-1 H", "[hessian]") {
    const Mlp mlp(Dtype::f64);
    int64_t n = 0;
    const std::vector<double> h = exact_hessian(mlp, mlp.params, n);
    std::vector<Tensor> precond;
    std::vector<double> d;  // P^-1/2, flattened
    for (std::size_t i = 0; i < mlp.params.size(); ++i) {
        Tensor p = add(abs(Tensor::randn(mlp.params[i].shape(), Dtype::f64, 20 + i)), 0.1);
        for (double v : p.to_vector<double>()) d.push_back(1 / std::sqrt(v));
        precond.push_back(p);
    }
    std::vector<double> dhd(h.size());
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) dhd[i * n + j] = d[i] * h[i * n + j] * d[j];
    const nn::detail::SymmetricEigen exact = nn::detail::symmetric_eigen(dhd, n);
    const std::vector<double> top = nn::preconditioned_hessian_eigenvalues(mlp.closure(), mlp.params, precond, 2);
    CHECK(top[0] == Approx(exact.values[0]).margin(1e-3));
    CHECK(top[1] == Approx(exact.values[1]).margin(1e-3));
    precond[2] = mul(precond[2], 0.0);
    REQUIRE_THROWS_WITH(nn::preconditioned_hessian_eigenvalues(mlp.closure(), mlp.params, precond),
                        Contains("preconditioner 2 holds 0 at element 0; its entries must be positive"));
    REQUIRE_THROWS_WITH(nn::preconditioned_hessian_eigenvalues(mlp.closure(), mlp.params, {precond[0]}),
                        Contains("1 preconditioner tensors for 4 parameters"));
}

TEST_CASE("block_sharpness is the top eigenvalue of each block's own Hessian", "[hessian]") {
    nn::GPT model(nn::GPTConfig{.vocab_size = 7, .context_length = 4, .d_model = 4, .n_layer = 2, .n_head = 2,
                                .seed = 3, .dtype = Dtype::f64});
    Generator gen(9);
    const Tensor tokens = Tensor::randint(0, 7, {2, 4}, gen), targets = Tensor::randint(0, 7, {2, 4}, gen);
    const auto loss = [&] { return model.loss(tokens, targets); };
    const std::vector<double> blocks = nn::block_sharpness(loss, model);
    REQUIRE(blocks.size() == 2);
    for (std::size_t b = 0; b < 2; ++b) {
        std::vector<Tensor> params;
        for (const auto& [name, p] : model.named_parameters())
            if (name.starts_with(fmt::format("h.{}.", b))) params.push_back(p);
        // The exact Hessian restricted to the block, column by column with tg::grad.
        int64_t n = 0;
        for (const Tensor& p : params) n += p.numel();
        const Tensor y = loss();
        const std::vector<Tensor> g = grad({y}, params, {}, {.create_graph = true});
        std::vector<double> h(static_cast<std::size_t>(n * n));
        for (int64_t j = 0; j < n; ++j) {
            std::vector<Tensor> e;
            int64_t offset = 0;
            for (const Tensor& p : params) {
                Tensor t = Tensor::zeros(p.shape(), Dtype::f64);
                if (j >= offset && j < offset + p.numel()) t.data<double>()[j - offset] = 1.0;
                offset += p.numel();
                e.push_back(t);
            }
            const std::vector<Tensor> col = grad(g, params, e, {.retain_graph = true, .allow_unused = true});
            int64_t row = 0;
            for (std::size_t i = 0; i < col.size(); ++i) {
                const std::vector<double> v =
                    col[i].defined() ? col[i].to_vector<double>() : std::vector<double>(params[i].numel(), 0.0);
                for (double x : v) h[(row++) * n + j] = x;
            }
        }
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = i + 1; j < n; ++j) h[i * n + j] = h[j * n + i] = 0.5 * (h[i * n + j] + h[j * n + i]);
        const double exact = nn::detail::symmetric_eigen(h, n).values.front();
        INFO("block " << b << " of " << n << " parameters");
        CHECK(blocks[b] == Approx(exact).margin(1e-3 * std::max(1.0, std::abs(exact))));
    }
}

TEST_CASE("Adam's preconditioner and preconditioned sharpness, and the stability thresholds", "[hessian][optim]") {
    Mlp mlp(Dtype::f64);
    optim::AdamW opt(mlp.params, {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8});
    REQUIRE_THROWS_WITH(opt.preconditioner(), Contains("AdamW.preconditioner: parameter 0 of group 0 has not been "
                                                       "updated yet"));
    const Tensor y = mlp(mlp.params);
    y.backward();
    std::vector<std::vector<double>> grads;
    for (const Tensor& p : mlp.params) grads.push_back(p.grad().to_vector<double>());
    opt.step();
    // After one step v = (1 - beta2) g^2 and the bias correction is 1 - beta2: P = |g| + eps.
    const std::vector<Tensor> p = opt.preconditioner();
    REQUIRE(p.size() == mlp.params.size());
    for (std::size_t i = 0; i < p.size(); ++i) {
        const std::vector<double> v = p[i].to_vector<double>();
        for (std::size_t j = 0; j < v.size(); ++j) CHECK(v[j] == Approx(std::abs(grads[i][j]) + 1e-8).epsilon(1e-12));
    }
    const double s = optim::preconditioned_sharpness(mlp.closure(), opt);
    CHECK(s == Approx(nn::preconditioned_hessian_eigenvalues(mlp.closure(), mlp.params, p).front()).epsilon(1e-9));
    CHECK(s > nn::hessian_eigenvalues(mlp.closure(), mlp.params).front());  // |g| < 1 everywhere here
    const nn::EigenEstimate se = optim::preconditioned_sharpness_estimate(mlp.closure(), opt);
    CHECK(se.values.front() == s);
    CHECK(se.converged);

    // After a second step v = beta2 (1 - beta2) g1^2 + (1 - beta2) g2^2, corrected by 1 - beta2^2;
    // with amsgrad the larger of v after steps 1 and 2.
    {
        Mlp plain(Dtype::f64), with_max(Dtype::f64);  // the same weights; step 1 is the same for both
        optim::AdamW a1(plain.params, {.lr = 1e-2, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8});
        optim::AdamW a2(with_max.params, {.lr = 1e-2, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8, .amsgrad = true});
        std::vector<std::vector<double>> g[2];
        for (int t = 0; t < 2; ++t) {
            a1.zero_grad();
            a2.zero_grad();
            plain(plain.params).backward();
            with_max(with_max.params).backward();
            for (const Tensor& q : plain.params) g[t].push_back(q.grad().to_vector<double>());
            a1.step();
            a2.step();
        }
        const std::vector<Tensor> p2 = a1.preconditioner(), pa = a2.preconditioner();
        for (std::size_t i = 0; i < p2.size(); ++i) {
            const std::vector<double> v2 = p2[i].to_vector<double>(), va = pa[i].to_vector<double>();
            for (std::size_t j = 0; j < v2.size(); ++j) {
                const double g1 = g[0][i][j], g2 = g[1][i][j];
                const double v = 0.99 * 0.01 * g1 * g1 + 0.01 * g2 * g2, c = 1 - 0.99 * 0.99;
                CHECK(v2[j] == Approx(std::sqrt(v / c) + 1e-8).epsilon(1e-9));
                CHECK(va[j] == Approx(std::sqrt(std::max(v, 0.01 * g1 * g1) / c) + 1e-8).epsilon(1e-9));
            }
        }
    }

    CHECK(optim::stability_threshold(opt) == Approx(38.0 / 1e-3));
    optim::Adam adam(mlp.params, {.lr = 0.01, .beta1 = 0.5});
    CHECK(optim::stability_threshold(adam) == Approx(3.0 / 0.5 / 0.01));
    CHECK(optim::stability_threshold(optim::SGD(mlp.params, {.lr = 0.1})) == Approx(20.0));
    CHECK(optim::stability_threshold(optim::SGD(mlp.params, {.lr = 0.1, .momentum = 0.9})) == Approx(38.0));
    REQUIRE_THROWS_WITH(optim::stability_threshold(optim::SGD(mlp.params, {.lr = 0.1, .momentum = 0.9,
                                                                            .nesterov = true})),
                        Contains("only plain SGD and heavy-ball momentum"));
    REQUIRE_THROWS_WITH(optim::stability_threshold(optim::SGD(mlp.params, {.lr = 0.1, .momentum = 0.9,
                                                                            .dampening = 0.5})),
                        Contains("SGD group 0 uses dampening"));
    optim::ParamGroup<optim::AdamWOptions> first, second;
    first.params = {mlp.params[0]};
    second.params = {mlp.params[1]};
    second.options.beta1 = 0.8;
    optim::AdamW two(std::vector<optim::ParamGroup<optim::AdamWOptions>>{first, second});
    REQUIRE_THROWS_WITH(optim::stability_threshold(two), Contains("differ in beta1 (0.9 in group 0, 0.8 in group 1)"));
}

TEST_CASE("Hessian diagnostics reject bad input with clear errors", "[hessian]") {
    const Mlp mlp(Dtype::f64);
    REQUIRE_THROWS_WITH(nn::hessian_eigenvalues(mlp.closure(), mlp.params, 0),
                        Contains("hessian_eigenvalues: k = 0 eigenvalues asked for with iterations = 100; need 1 <= k"));
    REQUIRE_THROWS_WITH(nn::hessian_eigenvalues(mlp.closure(), mlp.params, 39),
                        Contains("k = 39 eigenvalues asked for, but there are only 38 parameters"));
    // What can be checked before loss() runs is: a bad k costs no forward pass.
    int calls = 0;
    const auto counted = [&] { return ++calls, mlp(mlp.params); };
    REQUIRE_THROWS(nn::hessian_eigenvalues(counted, mlp.params, 0));
    REQUIRE_THROWS(nn::block_sharpness(counted, nn::GPT(nn::GPTConfig{.vocab_size = 4, .context_length = 4, .d_model = 4,
                                                                      .n_layer = 1, .n_head = 1}),
                                       {.iterations = 0}));
    CHECK(calls == 0);
    REQUIRE_THROWS_WITH(nn::hessian_eigenvalues(mlp.closure(), mlp.params, 5, {.iterations = 4}),
                        Contains("iterations = 4"));
    REQUIRE_THROWS_WITH(nn::hessian_eigenvalues(mlp.closure(), {}), Contains("hessian_eigenvalues: no parameters"));
    REQUIRE_THROWS_WITH(nn::hessian_eigenvalues(mlp.closure(), mlp.params, 1, {.iterations = 0}),
                        Contains("need iterations >= 1"));
    REQUIRE_THROWS_WITH(nn::hessian_eigenvalues([&] { return mlp.x; }, mlp.params),
                        Contains("loss() must return one f32 or f64 element (a scalar loss), got (8, 3) f64"));
    REQUIRE_THROWS_WITH(nn::hessian_eigenvalues([] { return Tensor::scalar(1.0, Dtype::f64); }, mlp.params),
                        Contains("loss() does not depend on the parameters"));
    REQUIRE_THROWS_WITH(nn::hessian_eigenvalues(mlp.closure(), {mlp.x}),
                        Contains("parameter 0 ((8, 3)) does not require grad"));
    REQUIRE_THROWS_WITH(nn::hessian_trace(mlp.closure(), mlp.params, 0), Contains("hessian_trace: samples = 0"));
    // A parameter the loss does not read contributes zero rows.
    Tensor unused = Tensor::ones({2}, Dtype::f64).requires_grad_();
    std::vector<Tensor> more = mlp.params;
    more.push_back(unused);
    CHECK(nn::hessian_eigenvalues(mlp.closure(), more).front() ==
          Approx(nn::hessian_eigenvalues(mlp.closure(), mlp.params).front()).margin(1e-8));
}
