// The matrix engines (issue 18): oneDNN and the CBLAS give the same products, values and
// gradients, to float32 precision; which one runs is a pure function of the shape and the
// setting; oneDNN's primitives are made once per shape.
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "core/kernels/bf16.hpp"
#include "core/kernels/blas.hpp"
#include "core/kernels/mixed.hpp"
#include "core/kernels/onednn.hpp"
#include "helpers.hpp"

using namespace tg;
using namespace tg::test;
using kernels::choose_gemm_engine;
using kernels::GemmEngine;

namespace {

// Restores the engine setting a test changed.
struct EngineGuard {
    MatmulEngine saved = matmul_engine();
    ~EngineGuard() { set_matmul_engine(saved); }
};

// The largest |C - (alpha op(A) op(B) + beta C0)| over C's m x n block, against a float64 loop
// (A is m x k, or stored k x m when transposed; B likewise).
double worst_gemm_error(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha,
                        const std::vector<float>& a, int64_t lda, const std::vector<float>& b, int64_t ldb,
                        double beta, const std::vector<float>& c0, const std::vector<float>& c, int64_t ldc) {
    double worst = 0;
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
            double s = 0;
            for (int64_t p = 0; p < k; ++p)
                s += double(ta ? a[p * lda + i] : a[i * lda + p]) * double(tb ? b[j * ldb + p] : b[p * ldb + j]);
            worst = std::max(worst, std::abs(alpha * s + beta * double(c0[i * ldc + j]) - c[i * ldc + j]));
        }
    return worst;
}

// Runs f(ta, tb, alpha, beta, lda, ldb, ldc) for each transpose of A and B and each (alpha,
// beta), with the leading dimensions of storage padded by `pad`: A is m x k, leading dimension
// k + pad (stored k x m with m + pad when transposed), B likewise, C m x n with n + pad.
template <class F>
void for_each_layout(int64_t m, int64_t n, int64_t k, int64_t pad, std::vector<std::pair<float, float>> scales, F f) {
    for (const bool ta : {false, true})
        for (const bool tb : {false, true})
            for (const auto [alpha, beta] : scales) {
                INFO("ta " << ta << " tb " << tb << " alpha " << alpha << " beta " << beta);
                f(ta, tb, alpha, beta, ta ? m + pad : k + pad, tb ? k + pad : n + pad, n + pad);
            }
}

// Whether the columns [n, ldc) of C's rows, the padding, still hold C0's values.
bool padding_untouched(const std::vector<float>& c, const std::vector<float>& c0, int64_t m, int64_t n, int64_t ldc) {
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = n; j < ldc; ++j)
            if (c[i * ldc + j] != c0[i * ldc + j]) return false;
    return true;
}

}  // namespace

TEST_CASE("the engine rule: forced settings win, oneDNN only when present, automatic by CPU and size",
          "[runtime][engine]") {
    using M = MatmulEngine;
    const kernels::CpuFeatures avx512{.avx2_fma = true, .avx512 = true}, avx2{.avx2_fma = true, .amd = true};
    for (const auto& cpu : {avx512, avx2})
        for (const M s : {M::automatic, M::cblas, M::onednn})
            CHECK(choose_gemm_engine(cpu, 512, 512, 512, false, s) == GemmEngine::cblas);
    CHECK(choose_gemm_engine(avx2, 8, 8, 8, true, M::onednn) == GemmEngine::onednn);
    CHECK(choose_gemm_engine(avx512, 512, 512, 512, true, M::cblas) == GemmEngine::cblas);
    // automatic, AVX-512: 2^18 multiply-adds (64^3) and above go to oneDNN.
    CHECK(choose_gemm_engine(avx512, 64, 64, 64, true, M::automatic) == GemmEngine::onednn);
    CHECK(choose_gemm_engine(avx512, 64, 64, 63, true, M::automatic) == GemmEngine::cblas);
    CHECK(choose_gemm_engine(avx512, 2048, 256, 768, true, M::automatic) == GemmEngine::onednn);
    CHECK(choose_gemm_engine(avx512, 32, 9, 784, true, M::automatic) == GemmEngine::cblas);
    // automatic, AVX2 only: OpenBLAS measured as fast or faster, at every size.
    CHECK(choose_gemm_engine(avx2, 2048, 256, 768, true, M::automatic) == GemmEngine::cblas);
    CHECK(choose_gemm_engine(avx2, 128, 128, 128, true, M::automatic) == GemmEngine::cblas);
}

TEST_CASE("set_matmul_engine refuses oneDNN when it is missing, and blas_info names the engines",
          "[runtime][engine]") {
    EngineGuard guard;
    const std::string info = blas_info();
    INFO(info);
    CHECK(info.find("f32 engine: ") != std::string::npos);
    CHECK(info.find("oneDNN") != std::string::npos);  // present, or why not
    if (!kernels::onednn::available()) {
        REQUIRE_THROWS_WITH(set_matmul_engine(MatmulEngine::onednn),
                            Catch::Contains("set_matmul_engine: oneDNN was asked for, but"));
        return;
    }
    set_matmul_engine(MatmulEngine::cblas);
    CHECK(matmul_engine() == MatmulEngine::cblas);
    CHECK(blas_info().find("f32 engine: cblas (forced)") != std::string::npos);
    set_matmul_engine(MatmulEngine::onednn);
    CHECK(matmul_engine() == MatmulEngine::onednn);
}

TEST_CASE("oneDNN's gemm matches a float64 loop for every transpose, alpha, beta and leading dimension",
          "[runtime][engine]") {
    if (!kernels::onednn::available()) {
        WARN("tapegrad was built without oneDNN: " << kernels::onednn::description());
        return;
    }
    const int64_t m = 37, n = 29, k = 53, pad = 3;
    const std::vector<float> a = Tensor::randn({m + pad, k + pad}, Dtype::f32, 1).to_vector<float>();
    const std::vector<float> b = Tensor::randn({k + pad, n + pad}, Dtype::f32, 2).to_vector<float>();
    const std::vector<float> c0 = Tensor::randn({m, n + pad}, Dtype::f32, 3).to_vector<float>();
    for_each_layout(m, n, k, pad, {{1.0f, 0.0f}, {0.5f, 1.0f}, {-2.0f, 0.25f}},
                    [&](bool ta, bool tb, float alpha, float beta, int64_t lda, int64_t ldb, int64_t ldc) {
        std::vector<float> c = c0;
        kernels::onednn::gemm(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
        CHECK(worst_gemm_error(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c0, c, ldc) < 1e-4);
        CHECK(padding_untouched(c, c0, m, n, ldc));
    });
}

TEST_CASE("oneDNN and the CBLAS agree on matmul, linear and conv2d: values and gradients", "[runtime][engine]") {
    if (!kernels::onednn::available()) {
        WARN("tapegrad was built without oneDNN: " << kernels::onednn::description());
        return;
    }
    EngineGuard guard;
    struct Result {
        std::vector<Tensor> values;
    };
    // Everything through one engine: a batched matmul with odd sizes, linear, conv2d, each
    // forward and backward, big enough for the automatic rule to pick oneDNN too.
    auto run = [](MatmulEngine engine) {
        set_matmul_engine(engine);
        Tensor a = Tensor::randn({3, 67, 45}, Dtype::f32, 10).requires_grad_(true);
        Tensor b = Tensor::randn({45, 131}, Dtype::f32, 11).requires_grad_(true);
        Tensor x = Tensor::randn({2, 97, 70}, Dtype::f32, 12).requires_grad_(true);
        Tensor w = Tensor::randn({83, 70}, Dtype::f32, 13).requires_grad_(true);
        Tensor bias = Tensor::randn({83}, Dtype::f32, 14).requires_grad_(true);
        Tensor img = Tensor::randn({2, 5, 23, 19}, Dtype::f32, 15).requires_grad_(true);
        Tensor kern = Tensor::randn({17, 5, 3, 3}, Dtype::f32, 16).requires_grad_(true);
        const Tensor y1 = matmul(a, b), y2 = linear(x, w, bias), y3 = conv2d(img, kern, Tensor(), {.padding = {1, 1}});
        (y1.pow(2).sum() + y2.pow(2).sum() + y3.pow(2).sum()).backward();
        return Result{{y1, y2, y3, a.grad(), b.grad(), x.grad(), w.grad(), bias.grad(), img.grad(), kern.grad()}};
    };
    const Result cblas = run(MatmulEngine::cblas), onednn = run(MatmulEngine::onednn), automatic = run(MatmulEngine::automatic);
    const char* names[] = {"matmul", "linear", "conv2d", "d a", "d b", "d x", "d w", "d bias", "d img", "d kernel"};
    for (std::size_t i = 0; i < cblas.values.size(); ++i) {
        INFO(names[i]);
        CHECK(max_rel_diff(onednn.values[i], cblas.values[i]) < 2e-6);
        CHECK(max_rel_diff(automatic.values[i], cblas.values[i]) < 2e-6);
    }
}

TEST_CASE("oneDNN makes one primitive per product shape and reuses it", "[runtime][engine]") {
    if (!kernels::onednn::available()) {
        WARN("tapegrad was built without oneDNN: " << kernels::onednn::description());
        return;
    }
    EngineGuard guard;
    set_matmul_engine(MatmulEngine::onednn);
    NoGradGuard ng;
    const Tensor a = Tensor::randn({41, 43}, Dtype::f32, 20), b = Tensor::randn({43, 47}, Dtype::f32, 21);
    const Tensor first = matmul(a, b);
    const int64_t after_first = kernels::onednn::cached_primitives();
    for (int i = 0; i < 5; ++i) REQUIRE(max_rel_diff(matmul(a, b), first) == 0.0);
    CHECK(kernels::onednn::cached_primitives() == after_first);
    (void)matmul(b.transpose(0, 1), a.transpose(0, 1));  // (47, 43) x (43, 41)
    CHECK(kernels::onednn::cached_primitives() == after_first + 1);
    CHECK(blas_info().find("f32 kernels: none yet") == std::string::npos);  // names what ran
}

TEST_CASE("oneDNN's primitives are per thread: threads running one shape at once get the same products",
          "[runtime][engine]") {
    if (!kernels::onednn::available()) {
        WARN("tapegrad was built without oneDNN: " << kernels::onednn::description());
        return;
    }
    // A oneDNN 2.6 primitive has one scratchpad: two threads running one primitive at once could
    // mix their operands. Each thread has its own cache, so a new thread starts with none. (Not
    // in the ThreadSanitizer stage: oneDNN is not built with TSan, so its work is not seen.)
    const Tensor a = Tensor::randn({96, 80}, Dtype::f32, 30), b = Tensor::randn({80, 72}, Dtype::f32, 31);
    auto product = [&] {
        set_matmul_engine(MatmulEngine::onednn);
        set_num_threads(1);
        NoGradGuard ng;
        return matmul(a, b);
    };
    EngineGuard guard;
    const Tensor want = product();
    std::vector<int64_t> fresh(2, -1), after(2, -1);
    std::vector<double> worst(2, 0.0);
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t)
        threads.emplace_back([&, t] {
            fresh[t] = kernels::onednn::cached_primitives();
            for (int i = 0; i < 200; ++i) worst[t] = std::max(worst[t], max_rel_diff(product(), want));
            after[t] = kernels::onednn::cached_primitives();
        });
    for (std::thread& t : threads) t.join();
    for (int t = 0; t < 2; ++t) {
        CHECK(fresh[t] == 0);
        CHECK(after[t] == 1);
        CHECK(worst[t] == 0.0);
    }
}

TEST_CASE("oneDNN's cache is keyed by the thread count and bounded, least recently used out first",
          "[runtime][engine]") {
    if (!kernels::onednn::available()) {
        WARN("tapegrad was built without oneDNN: " << kernels::onednn::description());
        return;
    }
    // In a thread of its own, so that the count starts at 0 and the suite's other primitives stay.
    std::thread([] {
        EngineGuard guard;
        set_matmul_engine(MatmulEngine::onednn);
        NoGradGuard ng;
        // 2^25 multiply-adds: big enough to run on every thread (smaller ones run on one).
        const Tensor a = Tensor::randn({256, 512}, Dtype::f32, 40), b = Tensor::randn({512, 256}, Dtype::f32, 41);
        // oneDNN fixes a primitive's threads when it is made: another count is another primitive.
        set_num_threads(1);
        const Tensor one = matmul(a, b);
        CHECK(kernels::onednn::cached_primitives() == 1);
        set_num_threads(2);
        CHECK(max_rel_diff(matmul(a, b), one) < 1e-6);
        CHECK(kernels::onednn::cached_primitives() == 2);
        set_num_threads(1);
        // More shapes than the cache holds: (r, 20) x (20, 16) for r = 1, 2, ...
        const Tensor bb = Tensor::randn({20, 16}, Dtype::f32, 42);
        const int64_t cap = kernels::onednn::kCacheCapacity;
        for (int64_t r = 1; r <= cap + 10; ++r) {
            const Tensor x = Tensor::randn({r, 20}, Dtype::f32, static_cast<uint64_t>(100 + r));
            set_matmul_engine(MatmulEngine::onednn);
            const Tensor got = matmul(x, bb);
            set_matmul_engine(MatmulEngine::cblas);
            REQUIRE(max_rel_diff(got, matmul(x, bb)) < 2e-6);
        }
        CHECK(kernels::onednn::cached_primitives() == cap);
    }).join();
}

TEST_CASE("bf16 gemm equals float64 on the bf16-rounded inputs: emulated on any CPU, oneDNN's with bf16 units",
          "[runtime][engine][bf16]") {
    const kernels::CpuFeatures cpu = kernels::cpu_features();
    std::vector<kernels::Bf16Route> routes{kernels::Bf16Route::emulated};
    if (kernels::onednn::available() && (cpu.amx_bf16 || cpu.avx512_bf16))
        routes.push_back(kernels::Bf16Route::onednn);
    else
        WARN("oneDNN's bf16 kernels skipped: they need AMX-BF16 or AVX512_BF16; " << kernels::bf16_description());
    const int64_t m = 67, n = 45, k = 131, pad = 5;
    auto bits = [](const Shape& s, uint64_t seed) {
        const std::vector<float> f = Tensor::randn(s, Dtype::f32, seed).to_vector<float>();
        std::vector<uint16_t> out(f.size());
        kernels::to_bf16(f.data(), out.data(), static_cast<int64_t>(f.size()));
        return out;
    };
    const std::vector<uint16_t> a = bits({m + pad, k + pad}, 50), b = bits({k + pad, n + pad}, 51);
    std::vector<float> fa(a.size()), fb(b.size());
    kernels::from_bf16(a.data(), fa.data(), static_cast<int64_t>(a.size()));
    kernels::from_bf16(b.data(), fb.data(), static_cast<int64_t>(b.size()));
    const std::vector<float> c0 = Tensor::randn({m, n + pad}, Dtype::f32, 52).to_vector<float>();
    for (const kernels::Bf16Route route : routes) {
        INFO((route == kernels::Bf16Route::onednn ? "oneDNN" : "emulated"));
        for_each_layout(m, n, k, pad, {{1.0f, 0.0f}, {0.5f, 1.0f}},
                        [&](bool ta, bool tb, float alpha, float beta, int64_t lda, int64_t ldb, int64_t ldc) {
            std::vector<float> c = c0;
            kernels::gemm_bf16(route, ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
            // Products of bf16 values are exact in float32; only the float32 sums round.
            CHECK(worst_gemm_error(ta, tb, m, n, k, alpha, fa, lda, fb, ldb, beta, c0, c, ldc) < 1e-3);
            CHECK(padding_untouched(c, c0, m, n, ldc));
        });
    }
    // A reference implementation would mean a slow path was taken silently.
    CHECK(kernels::onednn::description().find("ref:") == std::string::npos);
}

TEST_CASE("TG_MAX_CPU_ISA's ceiling drops exactly the features above it", "[runtime][engine]") {
    using kernels::CpuIsaCap;
    const kernels::CpuFeatures amx{.avx2_fma = true, .avx512 = true, .amd = false, .avx512_bf16 = true, .amx_bf16 = true};
    auto same = [](const kernels::CpuFeatures& x, const kernels::CpuFeatures& y) {
        return x.avx2_fma == y.avx2_fma && x.avx512 == y.avx512 && x.amd == y.amd && x.avx512_bf16 == y.avx512_bf16 &&
               x.amx_bf16 == y.amx_bf16;
    };
    CHECK(same(kernels::cap_cpu_features(amx, CpuIsaCap::none), amx));
    CHECK(same(kernels::cap_cpu_features(amx, CpuIsaCap::avx512_bf16), {true, true, false, true, false}));
    CHECK(same(kernels::cap_cpu_features(amx, CpuIsaCap::avx512), {true, true, false, false, false}));
    CHECK(same(kernels::cap_cpu_features(amx, CpuIsaCap::avx2), {true, false, false, false, false}));
    // A ceiling never adds what the CPU lacks.
    const kernels::CpuFeatures zen3{.avx2_fma = true, .amd = true};
    CHECK(same(kernels::cap_cpu_features(zen3, CpuIsaCap::avx512_bf16), zen3));
    CHECK(std::string(kernels::cpu_isa_cap_name(CpuIsaCap::avx512_bf16)) == "avx512_bf16");
    // This process: the ceiling, when set, shows in blas_info and holds for cpu_features().
    const CpuIsaCap cap = kernels::cpu_isa_cap();
    if (cap == CpuIsaCap::avx2) CHECK_FALSE(kernels::cpu_features().avx512);
    if (cap != CpuIsaCap::none && cap != CpuIsaCap::avx512_bf16) CHECK_FALSE(kernels::cpu_features().avx512_bf16);
    const std::string named = fmt::format("at most {} (TG_MAX_CPU_ISA)", kernels::cpu_isa_cap_name(cap));
    if (cap != CpuIsaCap::none) CHECK(blas_info().find(named) != std::string::npos);
    else CHECK(blas_info().find("TG_MAX_CPU_ISA") == std::string::npos);
}
