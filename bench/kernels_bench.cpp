// Kernel micro-benchmarks (Google Benchmark). Each reports the bytes it must move (GB/s) or
// the floating-point work it does (GFLOP/s) as counters, for the shapes of the benchmark GPTs.
// Run: build/bench/tapegrad-kernels [--benchmark_filter=layer_norm]
#include <benchmark/benchmark.h>

#include <tapegrad.hpp>

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
BENCHMARK(BM_attention_fwd_bwd)->Args({8, 64, 64, 4})->Args({16, 128, 128, 4})->Args({8, 256, 256, 8})->UseRealTime();

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
