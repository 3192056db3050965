// Kernel micro-benchmarks (Google Benchmark). Each reports the bytes it must move (GB/s) or
// the floating-point work it does (GFLOP/s) as counters, for the shapes of the benchmark GPTs.
// Run: build/bench/tapegrad-kernels [--benchmark_filter=layer_norm]
#include <benchmark/benchmark.h>

#include <tapegrad.hpp>

#include <cmath>
#include <vector>

#include "core/kernels/adam.hpp"
#include "core/kernels/attention.hpp"
#include "core/kernels/bf16.hpp"
#include "core/kernels/finite.hpp"
#include "core/kernels/softmax.hpp"

using namespace tg;

namespace {

void set_rate(benchmark::State& state, double bytes, double flops) {
    const double iters = static_cast<double>(state.iterations());
    if (bytes > 0)
        state.counters["GB/s"] = benchmark::Counter(bytes * iters / 1e9, benchmark::Counter::kIsRate);
    if (flops > 0)
        state.counters["GFLOP/s"] = benchmark::Counter(flops * iters / 1e9, benchmark::Counter::kIsRate);
}

Tensor randn(const Shape& s, uint64_t seed) { return Tensor::randn(s, Dtype::f32, seed); }

// Forward and backward of an op of one input, timing both (the gradient buffers come back
// from the buffer cache, as in training).
template <class F>
void forward_backward(benchmark::State& state, const Tensor& x0, F f) {
    Tensor x = x0.detach().requires_grad_(true);
    const Tensor dy = Tensor::randn(f(x).shape(), Dtype::f32, 99);
    for (int warm = 0; warm < 3; ++warm) {  // first touches of fresh pages are not the kernel's cost
        x.set_grad(Tensor());
        f(x).backward(dy);
    }
    for (auto _ : state) {
        x.set_grad(Tensor());
        Tensor out = f(x);
        out.backward(dy);
        benchmark::DoNotOptimize(x.grad().raw_data());
    }
}

void BM_layer_norm_fwd_bwd(benchmark::State& state) {
    const int64_t R = state.range(0), C = state.range(1);
    const Tensor w = Tensor::ones({C}).requires_grad_(true), b = Tensor::zeros({C}).requires_grad_(true);
    forward_backward(state, randn({R, C}, 1), [&](const Tensor& x) { return layer_norm(x, w, b, 1e-5); });
    set_rate(state, 5.0 * R * C * 4, 0);  // x, y, dy, x again, dx
}
BENCHMARK(BM_layer_norm_fwd_bwd)->Args({4096, 768})->Args({512, 64})->Args({2048, 256})->UseRealTime();

void BM_layer_norm_fwd(benchmark::State& state) {
    const int64_t R = state.range(0), C = state.range(1);
    const Tensor x = randn({R, C}, 1), w = Tensor::ones({C}), b = Tensor::zeros({C});
    NoGradGuard ng;
    for (auto _ : state) benchmark::DoNotOptimize(layer_norm(x, w, b, 1e-5).raw_data());
    set_rate(state, 2.0 * R * C * 4, 0);
}
BENCHMARK(BM_layer_norm_fwd)->Args({4096, 768})->Args({2048, 256})->UseRealTime();

void BM_softmax_fwd_bwd(benchmark::State& state) {
    const int64_t R = state.range(0), C = state.range(1);
    forward_backward(state, randn({R, C}, 2), [](const Tensor& x) { return softmax(x, -1); });
    set_rate(state, 5.0 * R * C * 4, 0);  // x, y; dy, y, dx
}
BENCHMARK(BM_softmax_fwd_bwd)->Args({2048, 256})->Args({4096, 768})->UseRealTime();

void BM_gelu_fwd_bwd(benchmark::State& state) {
    const int64_t n = state.range(0);
    forward_backward(state, randn({n}, 3), [](const Tensor& x) { return gelu(x); });
    set_rate(state, 5.0 * n * 4, 0);  // x, y; dy, x, dx
}
BENCHMARK(BM_gelu_fwd_bwd)->Arg(512 * 256)->Arg(2048 * 1024)->UseRealTime();

void BM_cross_entropy_fwd_bwd(benchmark::State& state) {
    const int64_t N = state.range(0), V = state.range(1);
    Generator gen(4);
    const Tensor targets = Tensor::randint(0, V, {N}, gen);
    forward_backward(state, randn({N, V}, 5), [&](const Tensor& x) { return cross_entropy(x, targets); });
    set_rate(state, 3.0 * N * V * 4, 0);  // logits; probabilities; dlogits
}
BENCHMARK(BM_cross_entropy_fwd_bwd)->Args({512, 65})->Args({2048, 65})->Args({2048, 256})->UseRealTime();

// Causal attention on the packed projection, as the GPT block runs it: (B, T, 3C), H heads.
void BM_attention_fwd_bwd(benchmark::State& state) {
    const int64_t B = state.range(0), T = state.range(1), C = state.range(2), H = state.range(3);
    forward_backward(state, randn({B, T, 3 * C}, 6), [&](const Tensor& x) { return attention_qkv(x, H); });
    // Causal: half of the T x T scores; forward 2 products, backward 4, each 2 hs FLOP per score.
    const double scores = static_cast<double>(B * H) * T * (T + 1) / 2.0;
    set_rate(state, 0, scores * (C / H) * 2.0 * 6.0);
}
BENCHMARK(BM_attention_fwd_bwd)
    ->Args({8, 64, 64, 4})
    ->Args({16, 128, 128, 4})
    ->Args({8, 256, 256, 8})
    ->Args({2, 1024, 256, 8})
    ->UseRealTime();

// The matrix products of the models: (B T, C) x (C, 3C), (B T, C) x (C, 4C), (B T, 4C) x (4C, C).
void BM_linear_fwd_bwd(benchmark::State& state) {
    const int64_t N = state.range(0), in = state.range(1), out = state.range(2);
    const Tensor w = randn({out, in}, 7).requires_grad_(true), b = Tensor::zeros({out}).requires_grad_(true);
    forward_backward(state, randn({N, in}, 8), [&](const Tensor& x) { return linear(x, w, b); });
    set_rate(state, 0, 3.0 * 2.0 * N * in * out);  // y, dx, dw
}
BENCHMARK(BM_linear_fwd_bwd)
    ->Args({512, 64, 192})->Args({512, 64, 256})->Args({512, 256, 64})
    ->Args({2048, 128, 384})->Args({2048, 128, 512})->Args({2048, 512, 128})
    ->Args({2048, 256, 768})->Args({2048, 256, 1024})->Args({2048, 1024, 256})->UseRealTime();

// The same products through each engine: 0 the CBLAS, 1 oneDNN (skipped without it).
void BM_linear_engine(benchmark::State& state) {
    const int64_t N = state.range(0), in = state.range(1), out = state.range(2);
    const MatmulEngine engine = state.range(3) ? MatmulEngine::onednn : MatmulEngine::cblas;
    const MatmulEngine saved = matmul_engine();
    try {
        set_matmul_engine(engine);
    } catch (const Error& e) {
        state.SkipWithError(e.what());
        return;
    }
    const Tensor w = randn({out, in}, 7).requires_grad_(true), b = Tensor::zeros({out}).requires_grad_(true);
    forward_backward(state, randn({N, in}, 8), [&](const Tensor& x) { return linear(x, w, b); });
    set_rate(state, 0, 3.0 * 2.0 * N * in * out);
    set_matmul_engine(saved);
}
BENCHMARK(BM_linear_engine)
    ->ArgsProduct({{512}, {64}, {192, 256}, {0, 1}})
    ->ArgsProduct({{512}, {256}, {64}, {0, 1}})
    ->ArgsProduct({{2048}, {128}, {384, 512}, {0, 1}})
    ->ArgsProduct({{2048}, {512}, {128}, {0, 1}})
    ->ArgsProduct({{2048}, {256}, {768, 1024}, {0, 1}})
    ->ArgsProduct({{2048}, {1024}, {256}, {0, 1}})
    ->UseRealTime();

// Small square products, where a call's fixed cost shows: through each engine (0 CBLAS, 1 oneDNN).
void BM_matmul_engine(benchmark::State& state) {
    const int64_t n = state.range(0);
    const MatmulEngine saved = matmul_engine();
    try {
        set_matmul_engine(state.range(1) ? MatmulEngine::onednn : MatmulEngine::cblas);
    } catch (const Error& e) {
        state.SkipWithError(e.what());
        return;
    }
    const Tensor a = randn({n, n}, 9), b = randn({n, n}, 10);
    NoGradGuard ng;
    for (auto _ : state) benchmark::DoNotOptimize(matmul(a, b).raw_data());
    set_rate(state, 0, 2.0 * n * n * n);
    set_matmul_engine(saved);
}
BENCHMARK(BM_matmul_engine)->ArgsProduct({{8, 16, 32, 64, 128}, {0, 1}})->UseRealTime();

void BM_matmul_64(benchmark::State& state) {
    const Tensor a = randn({64, 64}, 9), b = randn({64, 64}, 10);
    NoGradGuard ng;
    for (auto _ : state) benchmark::DoNotOptimize(matmul(a, b).raw_data());
    set_rate(state, 0, 2.0 * 64 * 64 * 64);
}
BENCHMARK(BM_matmul_64)->UseRealTime();

// Per-op overhead: a recorded op on a tiny tensor (allocation, tape entry, closure).
void BM_recorded_add_tiny(benchmark::State& state) {
    const Tensor a = randn({4}, 11).requires_grad_(true), b = randn({4}, 12);
    for (auto _ : state) benchmark::DoNotOptimize(add(a, b).raw_data());
}
BENCHMARK(BM_recorded_add_tiny)->UseRealTime();

void BM_adamw_update(benchmark::State& state) {
    const int64_t n = state.range(0);
    Tensor p = randn({n}, 13);
    const Tensor g = randn({n}, 14);
    Tensor m = Tensor::zeros({n}), v = Tensor::zeros({n}), vmax;
    int64_t t = 0;
    for (auto _ : state) optim::detail::adam_update(p, g, m, v, vmax, ++t, 1e-3, 0.9, 0.999, 1e-8, 0.1, true, false);
    set_rate(state, 7.0 * n * 4, 0);  // read p, g, m, v; write p, m, v
}
BENCHMARK(BM_adamw_update)->Arg(1 << 16)->Arg(1 << 20)->Arg(1 << 22)->UseRealTime();

// The kernels themselves, called directly on buffers (no tape, no allocation): one causal head
// of the benchmark GPTs (T, hs) = (64, 16), (128, 32), (256, 32), softmax rows of the
// cross-entropy and attention widths, and the Adam step over a parameter buffer.
kernels::AttentionHead causal_head(int64_t T, int64_t hs) {
    return {.T = T, .S = T, .hs = hs, .hv = hs, .causal = true, .scale = 1.0 / std::sqrt(static_cast<double>(hs)),
            .q_row = hs, .k_row = hs, .v_row = hs, .o_row = hs};
}
double causal_scores(int64_t T) { return static_cast<double>(T) * (T + 1) / 2.0; }

// Forward of one head, blocked: scores, online softmax, weighted sum (2 products of 2 hs FLOP
// per visible score).
constexpr const float* kNoMask = nullptr;

void BM_attention_head_fwd_kernel(benchmark::State& state) {
    const int64_t T = state.range(0), hs = state.range(1);
    const kernels::AttentionHead head = causal_head(T, hs);
    const Tensor q = randn({T, hs}, 19), k = randn({T, hs}, 20), v = randn({T, hs}, 21);
    Tensor o = Tensor::empty({T, hs}), lse = Tensor::empty({T});
    for (auto _ : state) {
        kernels::attention_head_forward(head, q.data<float>(), k.data<float>(), v.data<float>(), kNoMask,
                                        o.data<float>(), lse.data<float>());
        benchmark::DoNotOptimize(o.raw_data());
    }
    set_rate(state, 0, causal_scores(T) * hs * 2.0 * 2.0);
}
BENCHMARK(BM_attention_head_fwd_kernel)->Args({64, 16})->Args({256, 32})->Args({1024, 64})->UseRealTime();

// Backward of one head from the forward's output and log-normalisers: dP, dQ, dK, dV (4 products
// counted; rebuilding P is a fifth, not counted).
void BM_attention_head_bwd_kernel(benchmark::State& state) {
    const int64_t T = state.range(0), hs = state.range(1);
    const kernels::AttentionHead head = causal_head(T, hs);
    const Tensor q = randn({T, hs}, 22), k = randn({T, hs}, 23), v = randn({T, hs}, 24), dout = randn({T, hs}, 25);
    Tensor o = Tensor::empty({T, hs}), lse = Tensor::empty({T});
    Tensor dq = Tensor::empty({T, hs}), dk = Tensor::empty({T, hs}), dv = Tensor::empty({T, hs});
    kernels::attention_head_forward(head, q.data<float>(), k.data<float>(), v.data<float>(), kNoMask,
                                    o.data<float>(), lse.data<float>());
    for (auto _ : state) {
        kernels::attention_head_backward(head, q.data<float>(), k.data<float>(), v.data<float>(), kNoMask,
                                         o.data<float>(), lse.data<float>(), dout.data<float>(), hs, dq.data<float>(),
                                         dk.data<float>(), dv.data<float>());
        benchmark::DoNotOptimize(dk.raw_data());
    }
    set_rate(state, 0, causal_scores(T) * hs * 2.0 * 4.0);
}
BENCHMARK(BM_attention_head_bwd_kernel)->Args({64, 16})->Args({256, 32})->Args({1024, 64})->UseRealTime();

// Softmax of R contiguous rows of C, one row kernel call each (the rows are what the op's
// threads share out).
void BM_softmax_row_kernel(benchmark::State& state) {
    const int64_t R = state.range(0), C = state.range(1);
    const Tensor x = randn({R, C}, 26);
    Tensor y = Tensor::empty({R, C});
    for (auto _ : state) {
        for (int64_t r = 0; r < R; ++r) kernels::softmax_row(x.data<float>() + r * C, y.data<float>() + r * C, C);
        benchmark::DoNotOptimize(y.raw_data());
    }
    set_rate(state, 2.0 * R * C * 4, 0);  // x; y
}
BENCHMARK(BM_softmax_row_kernel)->Args({2048, 65})->Args({2048, 256})->Args({4096, 768})->UseRealTime();

// The AdamW step over one buffer of n parameters (second argument 1: with amsgrad's v_max).
void BM_adam_step_kernel(benchmark::State& state) {
    const int64_t n = state.range(0);
    const bool amsgrad = state.range(1) != 0;
    Tensor p = randn({n}, 27), m = Tensor::zeros({n}), v = Tensor::zeros({n}), v_max = Tensor::zeros({n});
    const Tensor g = randn({n}, 28);
    const kernels::AdamStepArgs args{.lr = 1e-3,
                                     .beta1 = 0.9,
                                     .beta2 = 0.999,
                                     .eps = 1e-8,
                                     .weight_decay = 0.1,
                                     .bias_correction1 = 1.0 - std::pow(0.9, 10.0),
                                     .bias_correction2 = 1.0 - std::pow(0.999, 10.0),
                                     .decoupled = true};
    for (auto _ : state) {
        kernels::adam_step(p.data<float>(), g.data<float>(), m.data<float>(), v.data<float>(),
                           amsgrad ? v_max.data<float>() : nullptr, n, args);
        benchmark::DoNotOptimize(p.raw_data());
    }
    set_rate(state, (amsgrad ? 9.0 : 7.0) * n * 4, 0);  // read p, g, m, v (v_max); write p, m, v (v_max)
}
BENCHMARK(BM_adam_step_kernel)->Args({1 << 16, 0})->Args({1 << 20, 0})->Args({1 << 22, 0})->Args({1 << 20, 1})
    ->UseRealTime();

// The finite-gradient scan every optimizer step runs over each gradient (and anomaly detection
// over every output): reads n floats.
void BM_count_non_finite_kernel(benchmark::State& state) {
    const int64_t n = state.range(0);
    const Tensor g = randn({n}, 29);
    for (auto _ : state) benchmark::DoNotOptimize(kernels::count_non_finite(g.data<float>(), n));
    set_rate(state, 4.0 * n, 0);
}
BENCHMARK(BM_count_non_finite_kernel)->Arg(1 << 16)->Arg(1 << 20)->UseRealTime();

// The bf16 casts autocast runs on matmul inputs (and to() on any tensor): 4 bytes in and 2 out,
// or the reverse; round_to_bf16 reads and writes floats. n = a 768 x 768 weight, 4096 x 768
// activations.
void BM_to_bf16_kernel(benchmark::State& state) {
    const int64_t n = state.range(0);
    const Tensor x = randn({n}, 31);
    std::vector<uint16_t> out(static_cast<std::size_t>(n));
    for (auto _ : state) {
        kernels::to_bf16(x.data<float>(), out.data(), n);
        benchmark::DoNotOptimize(out.data());
    }
    set_rate(state, 6.0 * n, 0);
}
BENCHMARK(BM_to_bf16_kernel)->Arg(768 * 768)->Arg(4096 * 768)->UseRealTime();

void BM_from_bf16_kernel(benchmark::State& state) {
    const int64_t n = state.range(0);
    const std::vector<uint16_t> in(static_cast<std::size_t>(n), 0x3f81);
    Tensor y = Tensor::empty({n});
    for (auto _ : state) {
        kernels::from_bf16(in.data(), y.data<float>(), n);
        benchmark::DoNotOptimize(y.raw_data());
    }
    set_rate(state, 6.0 * n, 0);
}
BENCHMARK(BM_from_bf16_kernel)->Arg(768 * 768)->Arg(4096 * 768)->UseRealTime();

void BM_round_to_bf16_kernel(benchmark::State& state) {
    const int64_t n = state.range(0);
    const Tensor x = randn({n}, 37);
    Tensor y = Tensor::empty({n});
    for (auto _ : state) {
        kernels::round_to_bf16(x.data<float>(), y.data<float>(), n);
        benchmark::DoNotOptimize(y.raw_data());
    }
    set_rate(state, 8.0 * n, 0);
}
BENCHMARK(BM_round_to_bf16_kernel)->Arg(768 * 768)->Arg(4096 * 768)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
    // One thread unless TG_BENCH_THREADS says otherwise: kernel figures per core.
    const char* env = std::getenv("TG_BENCH_THREADS");
    set_num_threads(env ? std::max(1, std::atoi(env)) : 1);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::AddCustomContext("blas", blas_info());
    benchmark::AddCustomContext("threads", std::to_string(num_threads()));
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
