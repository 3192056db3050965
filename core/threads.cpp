#include "core/threads.hpp"

#include <fmt/format.h>
#include <omp.h>

#include "core/error.hpp"
#include "core/kernels/blas.hpp"

namespace tg {

void set_num_threads(int n) {
    if (n < 1) throw ValueError(fmt::format("set_num_threads: need at least 1 thread, got {}", n));
    omp_set_num_threads(n);
    kernels::blas_set_num_threads(n);
}

int num_threads() { return omp_get_max_threads(); }

std::string blas_info() { return kernels::blas_description(); }

void set_matmul_engine(MatmulEngine engine) { kernels::set_gemm_engine_setting(engine); }

MatmulEngine matmul_engine() { return kernels::gemm_engine_setting(); }

}  // namespace tg
