#include "distributed/mpi_internal.hpp"

#include <fmt/format.h>

#include <string>

#include "core/check.hpp"
#include "core/error.hpp"

namespace tg::dist::detail {

bool mpi_up() {
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    return init && !fin;
}

void require_mpi(const char* fn) {
    TG_CHECK(mpi_up(), ValueError, "dist::{}: MPI is not initialised (create a tg::dist::Session first)", fn);
}

void check(int rc, const char* what) {
    if (rc == MPI_SUCCESS) return;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    throw Error(fmt::format("dist::{}: MPI error: {}", what, std::string(msg, static_cast<std::size_t>(len))));
}

MPI_Datatype mpi_type(Dtype d) {
    switch (d) {
        case Dtype::f32: return MPI_FLOAT;
        case Dtype::f64: return MPI_DOUBLE;
        case Dtype::i64: return MPI_INT64_T;
        case Dtype::b8: return MPI_C_BOOL;  // broadcast only: all_reduce refuses it
        case Dtype::bf16: break;  // the collectives refuse it first; no bf16 bytes go out as another type
    }
    throw DtypeError(fmt::format("dist: {} tensors are not communicated; convert with .to(Dtype::f32)", dtype_name(d)));
}

bool equal_on_every_rank(const std::vector<int64_t>& mine, const char* fn) {
    std::vector<int64_t> lo(mine.size()), hi(mine.size());
    const int n = static_cast<int>(mine.size());
    check(MPI_Allreduce(mine.data(), lo.data(), n, MPI_INT64_T, MPI_MIN, MPI_COMM_WORLD), fn);
    check(MPI_Allreduce(mine.data(), hi.data(), n, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD), fn);
    return lo == hi;
}

void scaled_copy(const void* src, void* dst, Dtype d, int64_t n, double s) {
    if (d == Dtype::f32) {
        const auto sf = static_cast<float>(s);
        for (int64_t i = 0; i < n; ++i) static_cast<float*>(dst)[i] = static_cast<const float*>(src)[i] * sf;
    } else {
        for (int64_t i = 0; i < n; ++i) static_cast<double*>(dst)[i] = static_cast<const double*>(src)[i] * s;
    }
}

}  // namespace tg::dist::detail
