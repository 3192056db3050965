// The core part of DESIGN.md's API contract, written as it appears there.
#include <cmath>
#include <type_traits>

#include "helpers.hpp"

using namespace tg;

TEST_CASE("the core API of the design contract compiles and runs as written", "[contract]") {
    Tensor a = tensor({1.f, 2.f, 3.f, 4.f}, {2, 2});
    Tensor ids = tensor(std::vector<int64_t>{3, 1}, {2});
    Tensor b = Tensor::randn({2, 2}, Dtype::f64, /*seed=*/7);
    Tensor w = Tensor::ones({2});
    Tensor bias = Tensor::zeros({2});
    a.requires_grad_(true);
    CHECK(a.shape() == Shape{2, 2});
    CHECK(a.numel() == 4);
    CHECK(a.dtype() == Dtype::f32);
    CHECK(a.to_vector<float>() == std::vector<float>{1, 2, 3, 4});
    CHECK(a.to(Dtype::f64).dtype() == Dtype::f64);
    CHECK(sum(a).item<double>() == 10.0);
    CHECK(ids.dtype() == Dtype::i64);
    CHECK(b.dtype() == Dtype::f64);

    Tensor y = layer_norm(matmul(a, a), w, bias, 1e-5);
    Tensor loss = mean(y * y);
    loss.backward();
    CHECK(a.grad().defined());
    CHECK(a.grad().shape() == a.shape());
    {
        NoGradGuard ng;
        CHECK_FALSE((a * a).requires_grad());
    }
    Tensor x = Tensor::randn({3, 2}, Dtype::f64, 1);
    Tensor w2 = Tensor::randn({2, 2}, Dtype::f64, 2);
    auto fn = [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); };
    GradcheckResult r = gradcheck(fn, {x, w2});
    CHECK(r.ok);
}

TEST_CASE("the nn part of the design contract compiles and runs as written", "[contract]") {
    Tensor x = Tensor::randn({2, 3, 64}, Dtype::f32, 1);
    Tensor sublayer_out = Tensor::randn({2, 3, 64}, Dtype::f32, 2);
    nn::LayerNorm ln(64);            // weight = ones, bias = zeros, eps = 1e-5 (members weight, bias, eps)
    nn::ResidualBlock res(64);       // member ln; res.forward(x, sublayer_out) == x + sublayer_out
    Tensor z = nn::apply_residual_connection(x, sublayer_out);
    CHECK(ln.eps == 1e-5);
    CHECK(res.ln.weight.shape() == Shape{64});
    CHECK(res.forward(x, sublayer_out).to_vector<float>() == z.to_vector<float>());
    CHECK(ln.forward(x).shape() == x.shape());
    nn::GPT model(nn::GPTConfig{.vocab_size = 65, .context_length = 64, .d_model = 64,
                                .n_layer = 2, .n_head = 4, .norm = nn::Norm::pre,  // pre|post|none
                                .tie_embeddings = true, .dropout = 0.0});
    std::vector<std::pair<std::string, Tensor>> named = model.named_parameters();
    CHECK(named.front().first == "wte.weight");
    const std::string path = "contract_model.safetensors";
    model.save(path);  model.load(path);
    std::remove(path.c_str());
    model.to(Dtype::f64);
    CHECK(model.wte.weight.dtype() == Dtype::f64);
}

// The custom-model ops of DESIGN.md (issue 16's signatures): each name with its exact type, and
// the calls with their defaults as the contract writes them.
TEST_CASE("the custom-model ops have the contract's signatures and defaults", "[contract]") {
    using T = const Tensor&;
    static_assert(std::is_same_v<decltype(static_cast<Tensor (*)(T, T, T, const Conv1dArgs&)>(&conv1d)), Tensor (*)(T, T, T, const Conv1dArgs&)>);
    [[maybe_unused]] Tensor (*c2)(T, T, T, const Conv2dArgs&) = &conv2d;
    [[maybe_unused]] Tensor (*mp)(T, const Pool2dArgs&) = &max_pool2d;
    [[maybe_unused]] Tensor (*ap)(T, const Pool2dArgs&) = &avg_pool2d;
    [[maybe_unused]] Tensor (*bn)(T, T, T, T, T, bool, double, double) = &batch_norm;
    [[maybe_unused]] Tensor (*rms)(T, T, double) = &rms_norm;
    [[maybe_unused]] Tensor (*lr)(T, double) = &leaky_relu;
    [[maybe_unused]] Tensor (*cl)(T, double, double) = &clamp;
    [[maybe_unused]] Tensor (*wh)(T, T, T) = &where;
    [[maybe_unused]] Tensor (*mf)(T, T, double) = &masked_fill;
    [[maybe_unused]] Tensor (*ga)(T, int64_t, T) = &gather;
    [[maybe_unused]] Tensor (*is)(T, int64_t, T) = &index_select;
    [[maybe_unused]] Tensor (*st)(const std::vector<Tensor>&, int64_t) = &stack;
    [[maybe_unused]] std::vector<Tensor> (*sp)(T, int64_t, int64_t) = &split;
    [[maybe_unused]] std::vector<Tensor> (*ch)(T, int64_t, int64_t) = &chunk;
    [[maybe_unused]] Tensor (*ex)(T, const Shape&) = &expand;
    [[maybe_unused]] Tensor (*va)(T, int64_t, bool, bool) = &var;
    [[maybe_unused]] Tensor (*ce)(T, T, int64_t, double) = &cross_entropy;
    [[maybe_unused]] Tensor (*bce)(T, T) = &binary_cross_entropy_with_logits;

    Tensor x = Tensor::randn({2, 2, 5, 5}, Dtype::f64, 1);
    Tensor w = Tensor::randn({4, 2, 3, 3}, Dtype::f64, 2);
    CHECK(conv2d(x, w, Tensor()).shape() == Shape{2, 4, 3, 3});
    CHECK(conv2d(x, w, Tensor(), {.stride = {2, 2}, .padding = {1, 1}}).shape() == Shape{2, 4, 3, 3});
    CHECK(conv1d(Tensor::randn({1, 2, 7}, Dtype::f64, 3), Tensor::randn({3, 2, 3}, Dtype::f64, 4), Tensor(),
                 {.padding = 1})
              .shape() == Shape{1, 3, 7});
    CHECK(max_pool2d(x, {}).shape() == Shape{2, 2, 2, 2});
    CHECK(avg_pool2d(x, {.kernel = {3, 3}, .stride = {1, 1}, .padding = {1, 1}}).shape() == Shape{2, 2, 5, 5});
    CHECK(batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true).shape() == x.shape());
    CHECK(leaky_relu(x).shape() == x.shape());
    CHECK(flatten(x).shape() == Shape{100});
    CHECK(var(x, 1).shape() == Shape{2, 5, 5});
    CHECK(min(x, 0).shape() == Shape{2, 5, 5});
    CHECK(argmax(x, -1, true).dtype() == Dtype::i64);
    Tensor logits = Tensor::randn({3, 4}, Dtype::f64, 5);
    Tensor targets = tensor(std::vector<int64_t>{0, -100, 3}, {3});
    CHECK(std::isfinite(cross_entropy(logits, targets, -100).item<double>()));
    CHECK(std::isfinite(cross_entropy(logits, targets, -100, 0.1).item<double>()));
}

TEST_CASE("gradients of gradients have the contract's names, signatures and defaults", "[contract]") {
    using V = std::vector<Tensor>;
    static_assert(std::is_same_v<decltype(static_cast<V (*)(const V&, const V&, const V&, const GradOptions&)>(&grad)),
                                 V (*)(const V&, const V&, const V&, const GradOptions&)>);
    static_assert(std::is_same_v<decltype(&hvp), V (*)(const std::function<Tensor(const V&)>&, const V&, const V&)>);
    static_assert(std::is_same_v<decltype(&gradgradcheck),
                                 GradcheckResult (*)(const GradcheckFn&, const V&, const GradcheckOptions&)>);
    static_assert(std::is_same_v<decltype(static_cast<void (Tensor::*)(const Tensor&, const GradOptions&) const>(
                                     &Tensor::backward)),
                                 void (Tensor::*)(const Tensor&, const GradOptions&) const>);
    const GradOptions defaults;
    CHECK_FALSE(defaults.retain_graph);
    CHECK_FALSE(defaults.create_graph);
    CHECK_FALSE(defaults.allow_unused);
    Tensor x = Tensor::full({}, 3.0, Dtype::f64).requires_grad_();
    CHECK(grad({mul(x, x)}, {x})[0].item() == 6.0);  // grad_outputs and options default
}

TEST_CASE("the Hessian diagnostics have the contract's names, signatures and defaults", "[contract]") {
    using V = std::vector<Tensor>;
    using Loss = std::function<Tensor()>;
    static_assert(std::is_same_v<decltype(&nn::hessian_eigenvalues),
                                 std::vector<double> (*)(const Loss&, const V&, int, const nn::HessianOptions&)>);
    static_assert(std::is_same_v<decltype(&nn::hessian_trace),
                                 double (*)(const Loss&, const V&, int, const nn::HessianOptions&)>);
    static_assert(std::is_same_v<decltype(nn::HessianOptions::iterations), int>);
    static_assert(std::is_same_v<decltype(nn::HessianOptions::tol), double>);
    static_assert(std::is_same_v<decltype(nn::HessianOptions::seed), uint64_t>);
    const nn::HessianOptions defaults;
    CHECK(defaults.iterations == 100);
    CHECK(defaults.tol == 1e-4);
    CHECK(defaults.seed == 0);
    Tensor x = Tensor::full({2}, 3.0, Dtype::f64).requires_grad_();
    const Loss loss = [&] { return sum(mul(x, mul(x, x))); };  // H = diag(6 x) = diag(18, 18)
    CHECK(nn::hessian_eigenvalues(loss, {x}).at(0) == Approx(18.0));  // k and options default
    CHECK(nn::hessian_trace(loss, {x}) == Approx(36.0));              // samples and options default
}

TEST_CASE("the profiler, memory statistics, write_graph and checkpoint have the contract's signatures",
          "[contract][profiler]") {
    using V = std::vector<Tensor>;
    static_assert(std::is_same_v<decltype(ProfilerTableOptions::sort_by), std::string>);
    static_assert(std::is_same_v<decltype(ProfilerTableOptions::group_by), std::string>);
    static_assert(std::is_same_v<decltype(ProfilerTableOptions::rows), int>);
    static_assert(std::is_same_v<decltype(&Profiler::stop), void (Profiler::*)()>);
    static_assert(std::is_same_v<decltype(&Profiler::table), std::string (Profiler::*)(const ProfilerTableOptions&) const>);
    static_assert(std::is_same_v<decltype(&Profiler::export_chrome_trace), void (Profiler::*)(const std::string&) const>);
    static_assert(std::is_same_v<decltype(MemoryStats::saved_by_tape_bytes), int64_t>);
    static_assert(std::is_same_v<decltype(&reset_peak_memory), void (*)()>);
    static_assert(std::is_same_v<decltype(static_cast<void (*)(const Tensor&, const std::string&)>(&write_graph)),
                                 void (*)(const Tensor&, const std::string&)>);
    static_assert(std::is_same_v<decltype(&checkpoint),
                                 V (*)(const std::function<V(const V&)>&, const V&)>);
    const ProfilerTableOptions defaults;
    CHECK(defaults.sort_by == "total");
    CHECK(defaults.group_by == "op");
    CHECK(defaults.rows == 25);
    CHECK(MemoryStats{}.saved_by_tape_bytes == 0);
    Profiler prof;
    Tensor w = Tensor::ones({2}).requires_grad_();
    sum(checkpoint([](const V& in) { return V{mul(in[0], 3.0)}; }, {w})[0]).backward();
    prof.stop();
    CHECK(w.grad().data<float>()[0] == 3.0f);
    CHECK(prof.table().find("checkpoint") != std::string::npos);
}
