// Autocast (issue 18): bf16 products with float32 accumulation under tg::Autocast, with
// PyTorch's semantics. Which route a product takes is a pure function of the CPU, the build and
// the shape, tested here for every kind of CPU; the bf16 arithmetic itself is tested through the
// emulated route, which any CPU runs, and through oneDNN where this CPU has bf16 units.
#include <cmath>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/internal/autocast.hpp"
#include "core/kernels/mixed.hpp"
#include "core/kernels/onednn.hpp"
#include "helpers.hpp"
#include "op_inputs.hpp"

using namespace tg;
using namespace tg::test;
using kernels::Bf16Route;
using kernels::choose_bf16_route;
using kernels::CpuFeatures;

namespace {

// Turns emulation on (or off) for a test, whatever TG_AUTOCAST_EMULATE says, and restores it.
struct Emulation {
    bool saved;
    explicit Emulation(bool on = true) : saved(kernels::set_bf16_emulation(on)) {}
    ~Emulation() { kernels::set_bf16_emulation(saved); }
    Emulation(const Emulation&) = delete;
    Emulation& operator=(const Emulation&) = delete;
};

bool cpu_has_bf16() {
    const CpuFeatures cpu = kernels::cpu_features();
    return (cpu.amx_bf16 || cpu.avx512_bf16) && kernels::onednn::available();
}

}  // namespace

TEST_CASE("the bf16 route: oneDNN on CPUs with bf16 units, float32 elsewhere and for small products",
          "[autocast]") {
    CpuFeatures amx{.avx2_fma = true, .avx512 = true}, avx512bf16 = amx, plain = amx, avx2{.avx2_fma = true};
    amx.amx_bf16 = true;
    avx512bf16.avx512_bf16 = true;
    const int64_t big = 256;  // 2^24 multiply-adds
    CHECK(choose_bf16_route(amx, true, false, big, big, big) == Bf16Route::onednn);
    CHECK(choose_bf16_route(avx512bf16, true, false, big, big, big) == Bf16Route::onednn);
    // No bf16 units: float32, never a slow emulation unless asked for.
    CHECK(choose_bf16_route(plain, true, false, big, big, big) == Bf16Route::float32);
    CHECK(choose_bf16_route(avx2, true, false, big, big, big) == Bf16Route::float32);
    CHECK(choose_bf16_route(avx2, true, true, big, big, big) == Bf16Route::emulated);
    // bf16 units but no oneDNN in this build.
    CHECK(choose_bf16_route(amx, false, false, big, big, big) == Bf16Route::float32);
    // Small products stay float32 everywhere: under 2^20 multiply-adds, or a side under 32.
    CHECK(choose_bf16_route(amx, true, false, 64, 128, 127) == Bf16Route::float32);
    CHECK(choose_bf16_route(amx, true, false, 64, 128, 128) == Bf16Route::onednn);
    CHECK(choose_bf16_route(amx, true, false, 4096, 4096, 31) == Bf16Route::float32);
    CHECK(choose_bf16_route(avx2, true, true, 64, 64, 64) == Bf16Route::float32);
}

TEST_CASE("autocast_info says what bf16 does on this machine", "[autocast]") {
    {
        Emulation off(false);
        const std::string info = autocast_info();
        INFO(info);
        if (cpu_has_bf16()) CHECK(info.rfind("bf16 through oneDNN", 0) == 0);
        else CHECK(info.find("so products under Autocast run in float32") != std::string::npos);
    }
    Emulation on;
    if (!cpu_has_bf16()) CHECK(autocast_info().rfind("bf16 emulated in float32", 0) == 0);
}

TEST_CASE("Autocast is per thread, nests, and takes bf16 only", "[autocast]") {
    CHECK_FALSE(is_autocast_enabled());
    {
        Autocast outer;
        CHECK(is_autocast_enabled());
        bool other_thread = true;
        std::thread([&] { other_thread = is_autocast_enabled(); }).join();
        CHECK_FALSE(other_thread);
        {
            Autocast off(Dtype::bf16, false);
            CHECK_FALSE(is_autocast_enabled());
        }
        CHECK(is_autocast_enabled());
    }
    CHECK_FALSE(is_autocast_enabled());
    REQUIRE_THROWS_AS(Autocast(Dtype::f64), DtypeError);
    REQUIRE_THROWS_WITH(Autocast(Dtype::f32), Catch::Contains("Autocast: products can be cast to bf16 only, not f32"));
}

TEST_CASE("bf16 products agree with float64 to bf16's precision, values and gradients, on odd shapes",
          "[autocast]") {
    Emulation on;  // bf16's arithmetic on any CPU (oneDNN's kernels where the CPU has them)
    struct Case {
        int64_t batch, m, k, n;
    };
    for (const Case c : {Case{1, 129, 97, 101}, Case{3, 67, 45, 401}, Case{2, 33, 257, 131}}) {
        INFO("batch " << c.batch << " (" << c.m << " x " << c.k << ") @ (" << c.k << " x " << c.n << ")");
        const Tensor a64 = Tensor::randn({c.batch, c.m, c.k}, Dtype::f64, 1);
        const Tensor b64 = Tensor::randn({c.k, c.n}, Dtype::f64, 2);
        const Tensor w64 = Tensor::randn({c.n, c.k}, Dtype::f64, 3);
        const Tensor dy64 = Tensor::randn({c.batch, c.m, c.n}, Dtype::f64, 4);
        auto run = [&](Dtype dt, bool autocast) {
            Tensor a = a64.to(dt).detach().requires_grad_(true), b = b64.to(dt).detach().requires_grad_(true);
            Tensor w = w64.to(dt).detach().requires_grad_(true);
            Tensor y1, y2;
            {
                std::optional<Autocast> guard;
                if (autocast) guard.emplace();
                y1 = matmul(a, b);
                y2 = linear(a, w, Tensor());
            }
            // backward after the guard ended: still bf16, as the forward recorded
            ((y1 * dy64.to(dt)).sum() + (y2 * dy64.to(dt)).sum()).backward();
            return std::vector<Tensor>{y1, y2, a.grad(), b.grad(), w.grad()};
        };
        const auto ref = run(Dtype::f64, false), f32 = run(Dtype::f32, false), bf16 = run(Dtype::f32, true);
        const char* names[] = {"matmul", "linear", "d a", "d b", "d w"};
        for (std::size_t i = 0; i < ref.size(); ++i) {
            INFO(names[i]);
            const double e32 = max_rel_diff(f32[i], ref[i]), e16 = max_rel_diff(bf16[i], ref[i]);
            CHECK(e32 < 1e-5);
            CHECK(e16 < 2e-2);   // bf16 keeps 8 significant bits: 2^-8 = 0.4% per input
            CHECK(e16 > 1e-4);   // and it did run in bf16
            CHECK(bf16[i].dtype() == Dtype::f32);
        }
    }
}

TEST_CASE("autocast leaves float64 alone: values bit for bit, and gradcheck", "[autocast]") {
    Emulation on;
    const Tensor a = Tensor::randn({70, 80}, Dtype::f64, 5), b = Tensor::randn({80, 300}, Dtype::f64, 6);
    const Tensor plain = matmul(a, b);
    Autocast guard;
    CHECK(max_rel_diff(matmul(a, b), plain) == 0.0);
    check_grad([](const Xs& x) { return linear(x[0], x[1], x[2]); },
               {randn64({3, 5}, 7), randn64({4, 5}, 8), randn64({4}, 9)});
}

TEST_CASE("without bf16 units and without emulation, autocast products are the float32 ones", "[autocast]") {
    if (cpu_has_bf16()) {
        WARN("this CPU has bf16 units: the float32 fallback is not what runs here");
        return;
    }
    Emulation off(false);
    const Tensor a = Tensor::randn({128, 256}, Dtype::f32, 10), b = Tensor::randn({256, 512}, Dtype::f32, 11);
    const Tensor plain = matmul(a, b);
    Autocast guard;
    CHECK(max_rel_diff(matmul(a, b), plain) == 0.0);
}

TEST_CASE("a weight's bf16 copy is made once while autocast lives, and again after it changes", "[autocast]") {
    Tensor w = Tensor::randn({64, 48}, Dtype::f32, 12).requires_grad_(true);
    const Tensor activation = Tensor::randn({64, 48}, Dtype::f32, 13);
    const void* first = nullptr;
    {
        Autocast guard;
        const Tensor c1 = detail::bf16_copy(w), c2 = detail::bf16_copy(w);
        CHECK(c1.dtype() == Dtype::bf16);
        CHECK(c1.shape() == w.shape());
        CHECK(c1.raw_data() == c2.raw_data());  // one copy, reused
        first = c1.raw_data();
        // The copy holds w's values rounded to bf16.
        CHECK(max_rel_diff(c1.to(Dtype::f32), w) < 4e-3);
        // Activations (not leaves that require grad) are cast every time.
        CHECK(detail::bf16_copy(activation).raw_data() != detail::bf16_copy(activation).raw_data());
        {
            NoGradGuard ng;
            w.mul_(2.0);  // an optimizer step: the version changes
        }
        const Tensor c3 = detail::bf16_copy(w);
        CHECK(c3.raw_data() != c1.raw_data());
        CHECK(max_rel_diff(c3.to(Dtype::f32), w) < 4e-3);
    }
    Autocast again;  // the outermost guard's end dropped the cache
    CHECK(detail::bf16_copy(w).raw_data() != first);
}

TEST_CASE("a long autocast guard lets go of the copies of weights that were freed", "[autocast]") {
    Autocast guard;  // one guard around many short-lived models
    std::weak_ptr<TensorImpl> previous;
    for (int model = 0; model < 4; ++model) {
        std::weak_ptr<TensorImpl> copy;
        {
            Tensor w = Tensor::randn({64, 48}, Dtype::f32, static_cast<uint64_t>(20 + model)).requires_grad_(true);
            copy = detail::bf16_copy(w).impl();
            CHECK_FALSE(copy.expired());  // kept while w lives
            // Copying the next model's first weight dropped the last model's copy.
            if (model > 0) CHECK(previous.expired());
        }
        previous = copy;
    }
}

TEST_CASE("a tiny GPT trains under autocast like in float32", "[autocast]") {
    Emulation on;
    nn::GPTConfig cfg{.vocab_size = 16, .context_length = 32, .d_model = 64, .n_layer = 2, .n_head = 2};
    auto train = [&](bool autocast) {
        nn::GPT model(cfg);
        optim::AdamW opt(model.parameters(), optim::AdamWOptions{.lr = 3e-3});
        Generator gen(7);
        std::vector<double> losses;
        for (int step = 0; step < 30; ++step) {
            const Tensor x = Tensor::randint(0, 8, {16, cfg.context_length}, gen);
            opt.zero_grad();
            Tensor loss;
            {
                std::optional<Autocast> guard;
                if (autocast) guard.emplace();
                loss = model.loss(x, x);
            }
            loss.backward();
            opt.step();
            losses.push_back(loss.item<double>());
        }
        return losses;
    };
    const auto f32 = train(false), bf16 = train(true);
    INFO("float32 " << f32.front() << " -> " << f32.back() << ", bf16 " << bf16.front() << " -> " << bf16.back());
    CHECK(bf16.front() == Approx(f32.front()).epsilon(0.02));
    CHECK(bf16.back() < 0.5 * bf16.front());  // it learns (copying its input)
    CHECK(bf16.back() == Approx(f32.back()).epsilon(0.15));
    CHECK(bf16 != f32);  // and bf16 did run
}
