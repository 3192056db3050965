// The run-time pieces behind performance: OpenBLAS's core type chosen from the CPU's features,
// the BLAS report, and the buffer cache that lets a training step reuse its buffers.
#include <string>

#include "core/kernels/blas.hpp"
#include "helpers.hpp"

using namespace tg;
using namespace tg::test;
using kernels::choose_openblas_core;
using kernels::CpuFeatures;

TEST_CASE("OpenBLAS's core type follows the CPU's features, not its model number", "[runtime][blas]") {
    const CpuFeatures avx512{true, true, false}, avx512_amd{true, true, true};
    const CpuFeatures avx2_intel{true, false, false}, avx2_amd{true, false, true}, old{false, false, false};
    CHECK(choose_openblas_core(avx512, "").core == "SkylakeX");
    CHECK(choose_openblas_core(avx512_amd, "").core == "SkylakeX");
    CHECK(choose_openblas_core(avx2_intel, "").core == "Haswell");
    CHECK(choose_openblas_core(avx2_amd, "").core == "Zen");
    CHECK(choose_openblas_core(old, "").core.empty());  // OpenBLAS's own detection
    CHECK(choose_openblas_core(avx512, "").description == "SkylakeX (chosen by tapegrad: AVX-512 F/CD/BW/DQ/VL)");
    CHECK(choose_openblas_core(avx2_amd, "").description == "Zen (chosen by tapegrad: AVX2 + FMA)");
}

TEST_CASE("a user's OPENBLAS_CORETYPE stands unless the CPU cannot run it", "[runtime][blas]") {
    const CpuFeatures avx512{true, true, false}, avx2_amd{true, false, true}, old{false, false, false};
    // Weaker than the CPU allows: the user's choice.
    CHECK(choose_openblas_core(avx512, "Haswell").core == "Haswell");
    CHECK(choose_openblas_core(avx512, "Haswell").description == "Haswell (set by the user)");
    CHECK(choose_openblas_core(avx2_amd, "Sandybridge").core == "Sandybridge");
    // AVX-512 kernels on an AVX2 machine would die with SIGILL: replaced.
    const auto c = choose_openblas_core(avx2_amd, "SkylakeX");
    CHECK(c.core == "Zen");
    CHECK(c.description == "Zen (chosen by tapegrad: OPENBLAS_CORETYPE=SkylakeX needs AVX-512, which this CPU lacks)");
    CHECK(choose_openblas_core(avx2_amd, "cooperlake").core == "Zen");
    CHECK(choose_openblas_core(old, "Haswell").core.empty());
    CHECK(choose_openblas_core(old, "Haswell").description.find("needs AVX2") != std::string::npos);
}

TEST_CASE("blas_info names the loaded library, and products run through it", "[runtime][blas]") {
    const std::string info = blas_info();
    INFO(info);
    CHECK(info.rfind("none", 0) != 0);
    CHECK(info.find("OpenBLAS") != std::string::npos);
    CHECK(info.find("core ") != std::string::npos);
    require_values(matmul(tensor({1.0, 2.0, 3.0, 4.0}, {2, 2}), tensor({1.0, 0.0, 0.0, 1.0}, {2, 2})), {2, 2},
                   {1, 2, 3, 4});
}

TEST_CASE("freed buffers are reused: a steady training step takes nothing from the system", "[runtime][memory]") {
    set_buffer_cache_limit(std::size_t{1} << 30);
    Tensor w = Tensor::randn({32, 32}, Dtype::f32, 1).requires_grad_();
    const Tensor x = Tensor::randn({16, 32}, Dtype::f32, 2);
    auto step = [&] {
        w.set_grad(Tensor());
        sum(gelu(matmul(x, w))).backward();
    };
    step();
    step();
    const MemoryStats before = memory_stats();
    for (int i = 0; i < 20; ++i) step();
    const MemoryStats after = memory_stats();
    CHECK(after.system_allocs == before.system_allocs);
    CHECK(after.cached_bytes > 0);
    CHECK(after.live_bytes == before.live_bytes);

    // Emptying the cache returns its buffers; with the cache off every buffer is fresh.
    empty_buffer_cache();
    CHECK(memory_stats().cached_bytes == 0);
    set_buffer_cache_limit(0);
    const int64_t a0 = memory_stats().system_allocs;
    step();
    CHECK(memory_stats().system_allocs > a0);
    CHECK(memory_stats().cached_bytes == 0);
    set_buffer_cache_limit(std::size_t{4} << 30);
}

TEST_CASE("the buffer cache keeps at most its limit", "[runtime][memory]") {
    set_buffer_cache_limit(4096);
    { Tensor a = Tensor::empty({512}, Dtype::f32), b = Tensor::empty({512}, Dtype::f32); }  // 2 x 2048 B
    CHECK(memory_stats().cached_bytes == 4096);
    { Tensor c = Tensor::empty({2048}, Dtype::f32); }  // 8192 B: over the limit, freed
    CHECK(memory_stats().cached_bytes == 4096);
    set_buffer_cache_limit(std::size_t{4} << 30);
    CHECK(memory_stats().cached_bytes == 0);
}
