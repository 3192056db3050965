// Optimizers against hand-computed updates and against torch.optim trajectories
// (tests/data/make_optim_reference.py), plus convergence, clipping, schedules and resuming.
#include <filesystem>
#include <fstream>
#include <type_traits>
#include <map>

#include "core/internal/tensor_impl.hpp"
#include "helpers.hpp"

using namespace tg;
using test::TempDir;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {

const std::string kData = TG_TEST_DATA_DIR;

Tensor scalar_param(double v) { return Tensor::scalar(v, Dtype::f64).requires_grad_(); }
void set_grad(Tensor& p, double g) { p.set_grad(Tensor::scalar(g, Dtype::f64)); }

std::map<std::string, Tensor> reference() { return test::read_reference(kData + "/optim_reference.safetensors"); }

template <class Opt, class Options>
void check_trajectory(const std::string& name, Options options) {
    INFO(name);
    auto ref = reference();
    std::vector<Tensor> params{ref.at("init.0").clone().requires_grad_(), ref.at("init.1").clone().requires_grad_()};
    Opt opt(params, options);
    for (int k = 0; k < 6; ++k) {
        for (int i = 0; i < 2; ++i) params[i].set_grad(ref.at(fmt::format("grad.{}.{}", k, i)).clone());
        opt.step();
        for (int i = 0; i < 2; ++i) {
            const auto got = params[i].to_vector<double>();
            const auto want = ref.at(fmt::format("{}.{}.{}", name, k, i)).to_vector<double>();
            for (std::size_t e = 0; e < got.size(); ++e) {
                INFO(fmt::format("step {} param {} element {}", k, i, e));
                CHECK(got[e] == Approx(want[e]).epsilon(1e-14).margin(1e-15));
            }
        }
    }
}


}  // namespace

TEST_CASE("SGD follows its update rule, worked by hand", "[optim]") {
    // p = 1, g = 0.5, lr 0.1, momentum 0.9, dampening 0.1, weight decay 0.2.
    Tensor p = scalar_param(1.0);
    optim::SGD opt({p}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.2});
    set_grad(p, 0.5);
    opt.step();
    // step 1: g = 0.5 + 0.2 * 1 = 0.7; buffer = g = 0.7; p = 1 - 0.1 * 0.7 = 0.93
    CHECK(p.item<double>() == Approx(0.93).epsilon(1e-15));
    set_grad(p, -0.25);
    opt.step();
    // step 2: g = -0.25 + 0.2 * 0.93 = -0.064; buffer = 0.9 * 0.7 + 0.9 * -0.064 = 0.5724
    // p = 0.93 - 0.1 * 0.5724 = 0.87276
    CHECK(p.item<double>() == Approx(0.87276).epsilon(1e-14));

    Tensor q = scalar_param(1.0);
    optim::SGD nesterov({q}, {.lr = 0.1, .momentum = 0.5, .nesterov = true});
    set_grad(q, 1.0);
    nesterov.step();  // buffer = 1; g = 1 + 0.5 * 1 = 1.5; q = 1 - 0.15
    CHECK(q.item<double>() == Approx(0.85).epsilon(1e-15));
}

TEST_CASE("Adam and AdamW follow their update rules, worked by hand", "[optim]") {
    // p = 1, g = 0.5, lr 0.1, betas (0.9, 0.999), eps 1e-8.
    // step 1: m = 0.05, v = 0.00025, m^ = 0.05 / 0.1 = 0.5, v^ = 0.00025 / 0.001 = 0.25
    Tensor a = scalar_param(1.0);
    optim::Adam adam({a}, {.lr = 0.1});
    set_grad(a, 0.5);
    adam.step();
    CHECK(a.item<double>() == Approx(1.0 - 0.1 * 0.5 / (0.5 + 1e-8)).epsilon(1e-15));
    // step 2 with g = -1: m = 0.045 - 0.1 = -0.055, v = 0.00024975 + 0.001 = 0.00124975
    set_grad(a, -1.0);
    adam.step();
    const double p1 = 1.0 - 0.1 * 0.5 / (0.5 + 1e-8);
    const double m_hat = -0.055 / (1 - 0.81), v_hat = 0.00124975 / (1 - 0.998001);
    CHECK(a.item<double>() == Approx(p1 - 0.1 * m_hat / (std::sqrt(v_hat) + 1e-8)).epsilon(1e-14));

    // AdamW: decay first (p *= 1 - lr wd), then the same step as Adam.
    Tensor w = scalar_param(2.0);
    optim::AdamW adamw({w}, {.lr = 0.1, .weight_decay = 0.5});
    set_grad(w, 0.5);
    adamw.step();
    CHECK(w.item<double>() == Approx(2.0 * (1 - 0.05) - 0.1 * 0.5 / (0.5 + 1e-8)).epsilon(1e-15));
    // Adam with weight decay adds wd p to the gradient instead: g = 0.5 + 0.5 * 2 = 1.5, and the
    // first step is then lr * sign(g) (up to eps).
    Tensor l2 = scalar_param(2.0);
    optim::Adam adam_l2({l2}, {.lr = 0.1, .weight_decay = 0.5});
    set_grad(l2, 0.5);
    adam_l2.step();
    CHECK(l2.item<double>() == Approx(2.0 - 0.1 * 1.5 / (1.5 + 1e-8)).epsilon(1e-15));
}

TEST_CASE("optimizer trajectories match torch.optim", "[optim]") {
    check_trajectory<optim::SGD>("sgd", optim::SGDOptions{.lr = 0.1});
    check_trajectory<optim::SGD>("sgd_momentum", optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.01});
    check_trajectory<optim::SGD>("sgd_nesterov", optim::SGDOptions{.lr = 0.05, .momentum = 0.8, .nesterov = true, .weight_decay = 0.02});
    check_trajectory<optim::Adam>("adam", optim::AdamOptions{.lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01});
    check_trajectory<optim::Adam>("adam_amsgrad", optim::AdamOptions{.lr = 0.02, .beta1 = 0.8, .beta2 = 0.9, .eps = 1e-6, .amsgrad = true});
    check_trajectory<optim::AdamW>("adamw", optim::AdamWOptions{.lr = 0.01, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = 0.1});
    check_trajectory<optim::AdamW>("adamw_amsgrad",
                                   optim::AdamWOptions{.lr = 0.03, .beta1 = 0.85, .beta2 = 0.99, .eps = 1e-7, .weight_decay = 0.05, .amsgrad = true});
}

TEST_CASE("the design contract's AdamW line compiles as written", "[optim][contract]") {
    nn::GPT model(nn::GPTConfig{.vocab_size = 65, .context_length = 64, .d_model = 64, .n_layer = 2, .n_head = 4,
                                .norm = nn::Norm::pre, .tie_embeddings = true, .dropout = 0.0});
    optim::AdamW opt(model.parameters(), {.lr = 3e-4, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8,
                                          .weight_decay = 0.1});   // torch.optim.AdamW semantics
    Generator gen(1);
    Tensor tokens = Tensor::randint(0, 65, {2, 64}, gen);
    Tensor targets = Tensor::randint(0, 65, {2, 64}, gen);
    const auto before = model.wte.weight.to_vector<float>();
    opt.zero_grad();  model.loss(tokens, targets).backward();  opt.step();
    CHECK(model.wte.weight.to_vector<float>() != before);
    CHECK(opt.steps_taken() == 1);
}

TEST_CASE("optimizers reach the minimum of a quadratic bowl and of Rosenbrock's function", "[optim]") {
    // Bowl: f(x) = sum a_i (x_i - c_i)^2 with minimum at c.
    Tensor a = tensor({1.0, 4.0, 0.5}, {3});
    Tensor c = tensor({1.0, -2.0, 3.0}, {3});
    auto bowl = [&](const Tensor& x) { return sum(a * (x - c) * (x - c)); };
    auto run = [&](optim::Optimizer& opt, Tensor& x, int steps) {
        for (int i = 0; i < steps; ++i) {
            opt.zero_grad();
            bowl(x).backward();
            opt.step();
        }
        return x.to_vector<double>();
    };
    {
        Tensor x = Tensor::zeros({3}, Dtype::f64).requires_grad_();
        optim::SGD opt({x}, {.lr = 0.05, .momentum = 0.9});
        const auto r = run(opt, x, 500);
        for (int i = 0; i < 3; ++i) CHECK(r[i] == Approx(c.to_vector<double>()[i]).margin(1e-6));
    }
    {
        Tensor x = Tensor::zeros({3}, Dtype::f64).requires_grad_();
        optim::Adam opt({x}, {.lr = 0.05});
        const auto r = run(opt, x, 2000);
        for (int i = 0; i < 3; ++i) CHECK(r[i] == Approx(c.to_vector<double>()[i]).margin(1e-4));
    }
    // Rosenbrock: f(x, y) = (1 - x)^2 + 100 (y - x^2)^2, minimum at (1, 1).
    Tensor xy = tensor({-1.0, 1.5}, {2}).requires_grad_();
    optim::AdamW opt({xy}, {.lr = 0.02, .weight_decay = 0.0});
    for (int i = 0; i < 6000; ++i) {
        opt.zero_grad();
        Tensor x = slice(xy, 0, 0, 1), y = slice(xy, 0, 1, 2);
        Tensor f = sum(pow(1.0 - x, 2.0) + 100.0 * pow(y - x * x, 2.0));
        f.backward();
        opt.step();
    }
    const auto r = xy.to_vector<double>();
    CHECK(r[0] == Approx(1.0).margin(1e-3));
    CHECK(r[1] == Approx(1.0).margin(2e-3));
}

TEST_CASE("a tiny GPT's loss falls under AdamW with warmup, cosine decay and clipping", "[optim]") {
    nn::GPT model(nn::GPTConfig{.vocab_size = 8, .context_length = 8, .d_model = 16, .n_layer = 2, .n_head = 2, .seed = 1});
    optim::AdamW opt(optim::weight_decay_groups(model, optim::AdamWOptions{.lr = 1e-2, .weight_decay = 0.1}));
    optim::CosineDecay schedule(1e-2, 10, 100, 1e-3);
    // Next-token prediction on the repeating sequence 0 1 2 ... 7 0 1 ...
    std::vector<int64_t> seq;
    for (int i = 0; i < 9 * 4; ++i) seq.push_back(i % 8);
    std::vector<int64_t> in, out;
    for (int b = 0; b < 4; ++b)
        for (int t = 0; t < 8; ++t) {
            in.push_back(seq[b * 9 + t]);
            out.push_back(seq[b * 9 + t + 1]);
        }
    Tensor tokens = tensor(in, {4, 8}), targets = tensor(out, {4, 8});
    double first = 0, last = 0;
    for (int step = 0; step < 100; ++step) {
        schedule.apply(opt, step);
        opt.zero_grad();
        Tensor loss = model.loss(tokens, targets);
        loss.backward();
        optim::clip_grad_norm(model.parameters(), 1.0);
        opt.step();
        (step == 0 ? first : last) = loss.item<double>();
    }
    CHECK(first == Approx(std::log(8.0)).epsilon(0.05));
    CHECK(last < 0.1);
}

TEST_CASE("resuming from saved model and optimizer state reproduces the run bit for bit", "[optim]") {
    TempDir dir;
    const nn::GPTConfig cfg{.vocab_size = 11, .context_length = 8, .d_model = 16, .n_layer = 2, .n_head = 2, .seed = 4};
    Generator data_gen(3);
    std::vector<std::pair<Tensor, Tensor>> batches;
    for (int i = 0; i < 10; ++i)
        batches.emplace_back(Tensor::randint(0, 11, {2, 8}, data_gen), Tensor::randint(0, 11, {2, 8}, data_gen));
    auto train = [&](nn::GPT& model, optim::AdamW& opt, int from, int to) {
        optim::CosineDecay schedule(3e-3, 2, 10, 3e-4);
        for (int step = from; step < to; ++step) {
            schedule.apply(opt, step);
            opt.zero_grad();
            model.loss(batches[step].first, batches[step].second).backward();
            optim::clip_grad_norm(model.parameters(), 0.5);
            opt.step();
        }
    };
    auto make_opt = [](nn::GPT& m) {
        return optim::AdamW(optim::weight_decay_groups(m, optim::AdamWOptions{.lr = 3e-3, .weight_decay = 0.1, .amsgrad = true}));
    };
    nn::GPT straight(cfg);
    optim::AdamW opt_straight = make_opt(straight);
    train(straight, opt_straight, 0, 10);

    nn::GPT first(cfg);
    optim::AdamW opt_first = make_opt(first);
    train(first, opt_first, 0, 6);
    first.save(dir.file("model.safetensors"));
    opt_first.save(dir.file("optim.safetensors"));

    nn::GPTConfig other = cfg;
    other.seed = 99;  // different initial weights: everything must come from the files
    nn::GPT resumed(other);
    optim::AdamW opt_resumed = make_opt(resumed);
    resumed.load(dir.file("model.safetensors"));
    opt_resumed.load(dir.file("optim.safetensors"));
    CHECK(opt_resumed.steps_taken() == 6);
    train(resumed, opt_resumed, 6, 10);

    const auto a = straight.named_parameters(), b = resumed.named_parameters();
    for (std::size_t i = 0; i < a.size(); ++i) {
        INFO(a[i].first);
        CHECK(a[i].second.to_vector<float>() == b[i].second.to_vector<float>());
    }
}

TEST_CASE("optimizer state files are checked before they are used", "[optim]") {
    TempDir dir;
    Tensor p = Tensor::ones({3}, Dtype::f64).requires_grad_();
    optim::Adam adam({p});
    p.set_grad(Tensor::ones({3}, Dtype::f64));
    adam.step();
    adam.save(dir.file("adam.safetensors"));

    Tensor q = Tensor::ones({3}, Dtype::f64).requires_grad_();
    optim::SGD sgd({q});
    REQUIRE_THROWS_WITH(sgd.load(dir.file("adam.safetensors")), Contains("SGD.load") && Contains("the state is for optimizer Adam"));
    Tensor r = Tensor::ones({4}, Dtype::f64).requires_grad_();
    optim::Adam other({r});
    REQUIRE_THROWS_WITH(other.load(dir.file("adam.safetensors")),
                        Contains("'0.0.exp_avg' is (3,) f64, but parameter 0 of group 0 is (4,) f64"));
    CHECK(other.steps_taken() == 0);
    optim::Adam two_groups(std::vector<optim::ParamGroup<optim::AdamOptions>>{{{r}, {}}, {{q}, {}}});
    REQUIRE_THROWS_WITH(two_groups.load(dir.file("adam.safetensors")), Contains("the state has 1 parameter groups, this optimizer 2"));
}

TEST_CASE("steps skip parameters without gradients and reject bad ones by name", "[optim]") {
    nn::Linear lin(3, 2, {.seed = 1, .dtype = Dtype::f64});
    optim::SGD opt(optim::named_group(lin, optim::SGDOptions{.lr = 0.1, .check_finite = true}));
    const auto w0 = lin.weight.to_vector<double>(), b0 = lin.bias.to_vector<double>();
    lin.weight.set_grad(Tensor::ones({2, 3}, Dtype::f64));
    opt.step();
    CHECK(lin.bias.to_vector<double>() == b0);  // no gradient: untouched
    CHECK(lin.weight.to_vector<double>()[0] == Approx(w0[0] - 0.1));

    Tensor bad = Tensor::ones({2, 3}, Dtype::f64);
    bad.data<double>()[4] = std::nan("");
    lin.weight.set_grad(bad);
    lin.bias.set_grad(Tensor::ones({2}, Dtype::f64));
    const auto w1 = lin.weight.to_vector<double>(), b1 = lin.bias.to_vector<double>();
    REQUIRE_THROWS_WITH(opt.step(), Contains("SGD.step: gradient of 'weight' holds 1 NaN or Inf values; no parameter was changed"));
    CHECK(lin.bias.to_vector<double>() == b1);

    Tensor p = Tensor::ones({2}, Dtype::f64).requires_grad_();
    optim::Adam adam({p});
    p.impl()->grad = Tensor::ones({3}, Dtype::f64).impl();  // bypassing set_grad's check
    REQUIRE_THROWS_WITH(adam.step(), Contains("Adam.step: gradient of parameter 0 of group 0 is (3,) f64, the parameter is (2,) f64"));
    REQUIRE_THROWS_WITH(optim::Adam({p, p}), Contains("parameter 1 appears more than once"));
    REQUIRE_THROWS_WITH(optim::AdamW({p}, {.beta1 = 1.0}), Contains("AdamW: need lr >= 0, 0 <= beta1, beta2 < 1"));
    REQUIRE_THROWS_WITH(optim::SGD({p}, {.nesterov = true}), Contains("SGD: Nesterov momentum needs momentum > 0"));
    REQUIRE_THROWS_AS(optim::SGD({Tensor::ones({2})}), ValueError);  // does not require grad
}

TEST_CASE("weight_decay_groups keeps biases and LayerNorm weights out of weight decay", "[optim]") {
    nn::GPT model(nn::GPTConfig{.vocab_size = 5, .context_length = 4, .d_model = 8, .n_layer = 1, .n_head = 2});
    optim::AdamW opt(optim::weight_decay_groups(model, optim::AdamWOptions{.weight_decay = 0.1}));
    REQUIRE(opt.num_groups() == 2);
    CHECK(opt.options(0).weight_decay == 0.1);
    CHECK(opt.options(1).weight_decay == 0.0);
    for (const Tensor& p : opt.params(0)) CHECK(p.dim() == 2);
    for (const Tensor& p : opt.params(1)) CHECK(p.dim() == 1);
    CHECK(opt.params(0).size() + opt.params(1).size() == model.parameters().size());
}

TEST_CASE("clip_grad_norm scales all gradients together and returns the norm before", "[optim]") {
    Tensor a = Tensor::zeros({2}, Dtype::f64).requires_grad_();
    Tensor b = Tensor::zeros({1}, Dtype::f64).requires_grad_();
    Tensor none = Tensor::zeros({1}, Dtype::f64).requires_grad_();
    a.set_grad(tensor({3.0, 0.0}, {2}));
    b.set_grad(tensor({4.0}, {1}));
    CHECK(optim::clip_grad_norm({a, b, none}, 1.0) == Approx(5.0).epsilon(1e-15));
    CHECK(a.grad().to_vector<double>()[0] == Approx(3.0 / (5.0 + 1e-6)).epsilon(1e-15));
    CHECK(b.grad().to_vector<double>()[0] == Approx(4.0 / (5.0 + 1e-6)).epsilon(1e-15));
    CHECK(optim::clip_grad_norm({a, b}, 10.0) == Approx(1.0).epsilon(1e-6));  // below max: unchanged
    CHECK(b.grad().to_vector<double>()[0] == Approx(4.0 / (5.0 + 1e-6)).epsilon(1e-15));
    a.set_grad(tensor({-3.0, 0.5}, {2}));
    optim::clip_grad_value({a}, 1.0);
    CHECK(a.grad().to_vector<double>() == std::vector<double>{-1.0, 0.5});
    REQUIRE_THROWS_AS(optim::clip_grad_norm({a}, -1.0), ValueError);
}

TEST_CASE("learning-rate schedules give the documented rates", "[optim]") {
    optim::ConstantLR constant(0.1);
    CHECK(constant.lr(0) == 0.1);
    CHECK(constant.lr(1000) == 0.1);
    optim::LinearWarmup warm(1.0, 4);
    CHECK(warm.lr(0) == 0.25);
    CHECK(warm.lr(3) == 1.0);
    CHECK(warm.lr(10) == 1.0);
    optim::CosineDecay cos(1.0, 10, 110, 0.1);
    CHECK(cos.lr(0) == Approx(0.1));
    CHECK(cos.lr(9) == Approx(1.0));
    CHECK(cos.lr(10) == Approx(1.0));
    CHECK(cos.lr(60) == Approx(0.55));  // half way: the mean of lr and min_lr
    CHECK(cos.lr(110) == Approx(0.1));
    CHECK(cos.lr(500) == Approx(0.1));
    optim::StepDecay decay(1.0, 10, 0.5);
    CHECK(decay.lr(9) == 1.0);
    CHECK(decay.lr(10) == 0.5);
    CHECK(decay.lr(25) == 0.25);
    Tensor p = Tensor::ones({1}).requires_grad_();
    optim::SGD opt({p}, {.lr = 5.0});
    CHECK(cos.apply(opt, 60) == Approx(0.55));
    CHECK(opt.lr() == Approx(0.55));
    REQUIRE_THROWS_WITH(optim::CosineDecay(1.0, 10, 5), Contains("CosineDecay: need 0 <= warmup_steps (10) <= total_steps (5)"));
    REQUIRE_THROWS_WITH(cos.lr(-1), Contains("CosineDecay: step must be >= 0, got -1"));
}

TEST_CASE("optimizer mistakes a newcomer makes get errors that say what to do", "[optim]") {
    TempDir dir;
    // A module that forgot register_module has no parameters: an error, as in PyTorch.
    struct Forgetful : nn::Module {
        nn::Linear lin{2, 2};
    } forgetful;
    REQUIRE_THROWS_AS(optim::AdamW(forgetful.parameters()), ValueError);
    REQUIRE_THROWS_WITH(optim::SGD(std::vector<Tensor>{}),
                        "SGD: got an empty parameter list; does the model register its parameters and submodules "
                        "(register_parameter, register_module)?");
    REQUIRE_THROWS_WITH(optim::Adam(std::vector<optim::ParamGroup<optim::AdamOptions>>{}),
                        Contains("Adam: got an empty parameter list"));

    // The common call compiles: AdamW options from a braced list.
    nn::Linear lin(3, 2, {.seed = 4});
    auto groups = optim::weight_decay_groups(lin, {.lr = 1e-2});
    static_assert(std::is_same_v<decltype(groups), std::vector<optim::ParamGroup<optim::AdamWOptions>>>);
    CHECK(groups[0].options.lr == 1e-2);
    CHECK(groups[0].options.weight_decay == 1e-2);
    CHECK(groups[1].options.weight_decay == 0.0);
    optim::AdamW opt(groups);

    // A model checkpoint passed to opt.load says so.
    lin.save(dir.file("model.safetensors"));
    REQUIRE_THROWS_WITH(opt.load(dir.file("model.safetensors")),
                        Contains("AdamW.load") && Contains("this is not an optimizer state") &&
                            Contains("a model checkpoint loads with Module::load"));
    // A text file passed to load says it is not a safetensors file, and what it looks like.
    std::ofstream(dir.file("notes.txt")) << "These are my training notes, not a checkpoint.\n";
    REQUIRE_THROWS_WITH(lin.load(dir.file("notes.txt")),
                        Contains("not a safetensors file: it looks like a text file"));
    REQUIRE_THROWS_WITH(opt.load(dir.file("notes.txt")), Contains("not a safetensors file"));
    std::ofstream(dir.file("model.pt"), std::ios::binary) << std::string("PK\x03\x04", 4) << std::string(40, '\0');
    REQUIRE_THROWS_WITH(lin.load(dir.file("model.pt")), Contains("it looks like a zip archive, as torch.save writes"));
}

TEST_CASE("an optimizer keeps working after model.to() changes its parameters' dtype", "[optim][messages]") {
    // Built before to(): no state yet, so the first step simply runs in the new dtype.
    {
        nn::Linear lin(3, 2, {.seed = 2});
        optim::Adam adam(optim::named_group(lin, optim::AdamOptions{.lr = 0.01}));
        lin.to(Dtype::f64);
        Tensor x = Tensor::ones({4, 3}, Dtype::f64);
        sum(lin.forward(x)).backward();
        REQUIRE_NOTHROW(adam.step());
        CHECK(lin.weight.dtype() == Dtype::f64);
    }
    // Stepped before to(): the momentum follows the parameter into f64, so the next step is the
    // one an f64 optimizer with the same history takes.
    nn::Linear lin(1, 1, {.bias = false, .seed = Seed{3}});
    lin.weight.set_data(tensor({1.0f}, {1, 1}));
    optim::SGD sgd(lin.parameters(), {.lr = 0.5, .momentum = 0.5});
    Tensor x32 = tensor({2.0f}, {1, 1});
    sum(lin.forward(x32)).backward();  // dW = 2
    sgd.step();                        // buf = 2, W = 1 - 0.5 * 2 = 0
    test::require_values(lin.weight, {1, 1}, {0});
    sgd.zero_grad();
    lin.to(Dtype::f64);
    Tensor x64 = tensor({4.0}, {1, 1});
    sum(lin.forward(x64)).backward();  // dW = 4
    REQUIRE_NOTHROW(sgd.step());       // buf = 0.5 * 2 + 4 = 5, W = 0 - 0.5 * 5
    CHECK(lin.weight.dtype() == Dtype::f64);
    test::require_values(lin.weight, {1, 1}, {-2.5});
}
