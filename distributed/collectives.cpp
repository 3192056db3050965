#include "distributed/collectives.hpp"

#include <fmt/format.h>

#include <limits>

#include "core/autograd.hpp"
#include "core/check.hpp"
#include "distributed/mpi_internal.hpp"
#include "distributed/session.hpp"
#include "nn/module.hpp"

namespace tg::dist {

using detail::check;
using detail::equal_on_every_rank;
using detail::mpi_type;
using detail::require_mpi;
using detail::scaled_copy;

namespace {

// The same shape and dtype on every rank: compares a fingerprint (dtype, dims) by min/max.
void same_everywhere(const Tensor& t, const char* fn) {
    TG_CHECK(t.numel() <= std::numeric_limits<int>::max(), ValueError,
             "dist::{}: {} elements is more than one MPI call takes ({})", fn, t.numel(),
             std::numeric_limits<int>::max());
    std::vector<int64_t> mine = {static_cast<int64_t>(t.dtype()), t.dim()};
    mine.insert(mine.end(), t.shape().begin(), t.shape().end());
    mine.resize(2 + 8, -1);  // up to 8 dims compared; more dims still compare numel below
    mine.push_back(t.numel());
    TG_CHECK(equal_on_every_rank(mine, fn), ShapeError,
             "dist::{}: the tensor differs between ranks (rank {} has {} {})", fn, rank(), shape_str(t.shape()),
             dtype_name(t.dtype()));
}

MPI_Op mpi_op(ReduceOp op) {
    switch (op) {
        case ReduceOp::max: return MPI_MAX;
        case ReduceOp::min: return MPI_MIN;
        default: return MPI_SUM;
    }
}

}  // namespace

void broadcast(const Tensor& t, int root) {
    require_mpi("broadcast");
    TG_CHECK(t.defined(), ValueError, "dist::broadcast: the tensor is undefined");
    TG_CHECK(t.dtype() != Dtype::bf16, DtypeError,
             "dist::broadcast: bf16 is a storage dtype, not communicated; convert with .to(Dtype::f32)");
    TG_CHECK(root >= 0 && root < world_size(), ValueError, "dist::broadcast: root {} is not a rank (world size {})",
             root, world_size());
    same_everywhere(t, "broadcast");
    Tensor buf = t.clone().detach();  // written through copy_, so t's version records the change
    if (t.numel() > 0)
        check(MPI_Bcast(buf.raw_data(), static_cast<int>(t.numel()), mpi_type(t.dtype()), root, MPI_COMM_WORLD),
              "broadcast");
    NoGradGuard no_grad;
    Tensor(t).copy_(buf);
}

void all_reduce(const Tensor& t, ReduceOp op) {
    require_mpi("all_reduce");
    TG_CHECK(t.defined(), ValueError, "dist::all_reduce: the tensor is undefined");
    TG_CHECK(t.dtype() != Dtype::bf16, DtypeError,
             "dist::all_reduce: bf16 is a storage dtype, not communicated; convert with .to(Dtype::f32)");
    TG_CHECK(t.dtype() != Dtype::b8, DtypeError,
             "dist::all_reduce: b8 (bool) values are not summed; convert with .to(Dtype::i64) (a count) first");
    TG_CHECK(t.dtype() != Dtype::i64 || op != ReduceOp::average, DtypeError,
             "dist::all_reduce: average needs f32 or f64, got i64");
    same_everywhere(t, "all_reduce");
    Tensor buf = t.clone().detach();
    if (t.numel() > 0) {
        check(MPI_Allreduce(MPI_IN_PLACE, buf.raw_data(), static_cast<int>(t.numel()), mpi_type(t.dtype()), mpi_op(op),
                            MPI_COMM_WORLD),
              "all_reduce");
        if (op == ReduceOp::average) scaled_copy(buf.raw_data(), buf.raw_data(), t.dtype(), t.numel(), 1.0 / world_size());
    }
    NoGradGuard no_grad;
    Tensor(t).copy_(buf);
}

void broadcast_parameters(nn::Module& m, int root) {
    for (const Tensor& p : m.parameters()) broadcast(p, root);
    for (const Tensor& b : m.buffers()) broadcast(b, root);
}

}  // namespace tg::dist
