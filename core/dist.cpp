#include "core/dist.hpp"

#include <fmt/format.h>
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <vector>

#include "core/autograd.hpp"
#include "core/error.hpp"
#include "core/ops.hpp"
#include "core/random.hpp"
#include "nn/module.hpp"

namespace tg::dist {

namespace {

bool mpi_up() {
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    return init && !fin;
}

void require_mpi(const char* fn) {
    if (!mpi_up())
        throw ValueError(fmt::format("dist::{}: MPI is not initialised (create a tg::dist::Session first)", fn));
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
        default: return MPI_INT64_T;
    }
}

// The same shape and dtype on every rank: compares a fingerprint (rank, dtype, dims) by min/max.
void same_everywhere(const Tensor& t, const char* fn) {
    if (t.numel() > std::numeric_limits<int>::max())
        throw ValueError(fmt::format("dist::{}: {} elements is more than one MPI call takes ({})", fn, t.numel(),
                                     std::numeric_limits<int>::max()));
    std::vector<int64_t> mine = {static_cast<int64_t>(t.dtype()), t.dim()};
    mine.insert(mine.end(), t.shape().begin(), t.shape().end());
    mine.resize(2 + 8, -1);  // up to 8 dims compared; more dims still compare numel below
    mine.push_back(t.numel());
    std::vector<int64_t> lo(mine.size()), hi(mine.size());
    check(MPI_Allreduce(mine.data(), lo.data(), static_cast<int>(mine.size()), MPI_INT64_T, MPI_MIN, MPI_COMM_WORLD), fn);
    check(MPI_Allreduce(mine.data(), hi.data(), static_cast<int>(mine.size()), MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD), fn);
    if (lo != hi)
        throw ShapeError(fmt::format("dist::{}: the tensor differs between ranks (rank {} has {} {})", fn, rank(),
                                     shape_str(t.shape()), dtype_name(t.dtype())));
}

}  // namespace

// ---- lifetime ----

void init(int* argc, char*** argv) {
    int already = 0;
    MPI_Initialized(&already);
    if (already) return;
    int provided = 0;
    check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "init");
    if (provided < MPI_THREAD_FUNNELED) {
        MPI_Finalize();
        throw Error(fmt::format("dist::init: the MPI library provides thread level {}, tapegrad needs "
                                "MPI_THREAD_FUNNELED ({})", provided, MPI_THREAD_FUNNELED));
    }
    // Errors come back as codes (turned into tg::Error) rather than killing the job silently.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

void finalize() {
    if (mpi_up()) MPI_Finalize();
}

bool is_initialized() { return mpi_up(); }

bool launched_by_mpirun() {
    for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
        if (const char* v = std::getenv(var); v && *v) return true;
    return false;
}

Session::Session(int* argc, char*** argv) {
    owns_ = !mpi_up();
    init(argc, argv);
}

Session::~Session() {
    if (std::uncaught_exceptions() > 0 && mpi_up()) {
        std::fprintf(stderr, "tapegrad rank %d: an exception is leaving the MPI session; stopping every rank\n", rank());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (owns_) finalize();
}

int rank() {
    if (!mpi_up()) return 0;
    int r = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

int world_size() {
    if (!mpi_up()) return 1;
    int n = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    return n;
}

void barrier() {
    require_mpi("barrier");
    check(MPI_Barrier(MPI_COMM_WORLD), "barrier");
}

void abort(const std::string& message, int code) {
    std::fprintf(stderr, "tapegrad rank %d: %s\n", rank(), message.c_str());
    std::fflush(stderr);
    if (mpi_up()) MPI_Abort(MPI_COMM_WORLD, code);
    std::exit(code);
}

int run(const std::function<int()>& fn) {
    try {
        return fn();
    } catch (const std::exception& e) {
        abort(e.what());
    } catch (...) {
        abort("unknown exception");
    }
}

// ---- collectives ----

void broadcast(const Tensor& t, int root) {
    require_mpi("broadcast");
    if (!t.defined()) throw ValueError("dist::broadcast: the tensor is undefined");
    if (root < 0 || root >= world_size())
        throw ValueError(fmt::format("dist::broadcast: root {} is not a rank (world size {})", root, world_size()));
    same_everywhere(t, "broadcast");
    Tensor buf = t.clone().detach();  // written through copy_, so t's version records the change
    if (t.numel() > 0)
        check(MPI_Bcast(buf.raw_data(), static_cast<int>(t.numel()), mpi_type(t.dtype()), root, MPI_COMM_WORLD),
              "broadcast");
    NoGradGuard no_grad;
    Tensor(t).copy_(buf);
}

namespace {
MPI_Op mpi_op(ReduceOp op) {
    switch (op) {
        case ReduceOp::max: return MPI_MAX;
        case ReduceOp::min: return MPI_MIN;
        default: return MPI_SUM;
    }
}
// x[i] *= s for a float buffer of dtype d.
void scale(void* p, Dtype d, int64_t n, double s) {
    if (d == Dtype::f32)
        for (int64_t i = 0; i < n; ++i) static_cast<float*>(p)[i] *= static_cast<float>(s);
    else
        for (int64_t i = 0; i < n; ++i) static_cast<double*>(p)[i] *= s;
}
}  // namespace

void all_reduce(const Tensor& t, ReduceOp op) {
    require_mpi("all_reduce");
    if (!t.defined()) throw ValueError("dist::all_reduce: the tensor is undefined");
    if (t.dtype() == Dtype::i64 && op == ReduceOp::average)
        throw DtypeError("dist::all_reduce: average needs f32 or f64, got i64");
    same_everywhere(t, "all_reduce");
    Tensor buf = t.clone().detach();
    if (t.numel() > 0) {
        check(MPI_Allreduce(MPI_IN_PLACE, buf.raw_data(), static_cast<int>(t.numel()), mpi_type(t.dtype()), mpi_op(op),
                            MPI_COMM_WORLD),
              "all_reduce");
        if (op == ReduceOp::average) scale(buf.raw_data(), t.dtype(), t.numel(), 1.0 / world_size());
    }
    NoGradGuard no_grad;
    Tensor(t).copy_(buf);
}

void broadcast_parameters(nn::Module& m, int root) {
    for (const Tensor& p : m.parameters()) broadcast(p, root);
}

ReduceStats all_reduce_gradients(nn::Module& m, std::size_t bucket_bytes) {
    require_mpi("all_reduce_gradients");
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<Tensor> params = m.parameters();
    // The parameter list must be the same everywhere: compare its length and total size.
    int64_t total = 0;
    for (const Tensor& p : params) total += p.numel() * 8 + static_cast<int64_t>(p.dtype());
    {
        const int64_t mine[2] = {static_cast<int64_t>(params.size()), total};
        int64_t lo[2], hi[2];
        check(MPI_Allreduce(mine, lo, 2, MPI_INT64_T, MPI_MIN, MPI_COMM_WORLD), "all_reduce_gradients");
        check(MPI_Allreduce(mine, hi, 2, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD), "all_reduce_gradients");
        if (lo[0] != hi[0] || lo[1] != hi[1])
            throw ShapeError(fmt::format("dist::all_reduce_gradients: the model differs between ranks (rank {} has {} "
                                         "parameters)", rank(), params.size()));
    }
    struct Bucket {
        Dtype dtype;
        std::vector<std::size_t> members;
        int64_t numel = 0;
        Tensor flat;
    };
    std::vector<Bucket> buckets;
    for (std::size_t i = 0; i < params.size(); ++i) {
        const Tensor& p = params[i];
        if (!is_floating(p.dtype())) continue;
        const auto bytes = static_cast<std::size_t>(p.numel()) * dtype_size(p.dtype());
        Bucket* b = nullptr;
        for (auto it = buckets.rbegin(); it != buckets.rend(); ++it)
            if (it->dtype == p.dtype()) {
                b = &*it;
                break;
            }
        if (!b || (b->numel > 0 && static_cast<std::size_t>(b->numel) * dtype_size(p.dtype()) + bytes > bucket_bytes)) {
            buckets.push_back({p.dtype(), {}, 0, {}});
            b = &buckets.back();
        }
        b->members.push_back(i);
        b->numel += p.numel();
    }
    // Pack, start every reduction, then unpack as they finish.
    std::vector<MPI_Request> requests(buckets.size(), MPI_REQUEST_NULL);
    ReduceStats stats;
    for (std::size_t k = 0; k < buckets.size(); ++k) {
        Bucket& b = buckets[k];
        b.flat = Tensor::empty({b.numel}, b.dtype);
        auto* dst = static_cast<char*>(b.flat.raw_data());
        for (std::size_t i : b.members) {
            const Tensor& p = params[i];
            const std::size_t n = p.nbytes();
            const Tensor g = p.grad();
            if (g.defined() && n) std::memcpy(dst, g.raw_data(), n);
            else if (n) std::memset(dst, 0, n);
            dst += n;
        }
        if (b.numel > 0)
            check(MPI_Iallreduce(MPI_IN_PLACE, b.flat.raw_data(), static_cast<int>(b.numel), mpi_type(b.dtype), MPI_SUM,
                                 MPI_COMM_WORLD, &requests[k]),
                  "all_reduce_gradients");
        stats.buckets += 1;
        stats.bytes += static_cast<int64_t>(b.flat.nbytes());
    }
    const double inv = 1.0 / world_size();
    NoGradGuard no_grad;
    for (std::size_t k = 0; k < buckets.size(); ++k) {
        Bucket& b = buckets[k];
        check(MPI_Wait(&requests[k], MPI_STATUS_IGNORE), "all_reduce_gradients");
        scale(b.flat.raw_data(), b.dtype, b.numel, inv);
        const auto* src = static_cast<const char*>(b.flat.raw_data());
        for (std::size_t i : b.members) {
            const Tensor& p = params[i];
            Tensor g = p.grad();
            const bool fresh = !g.defined();
            if (fresh) g = Tensor::empty(p.shape(), p.dtype());
            if (p.nbytes()) std::memcpy(g.raw_data(), src, p.nbytes());
            if (fresh) Tensor(p).set_grad(g);
            src += p.nbytes();
        }
    }
    stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return stats;
}

// ---- data ----

Tensor shard(const Tensor& global_batch) {
    if (!global_batch.defined()) throw ValueError("dist::shard: the batch is undefined");
    const int w = world_size(), r = rank();
    if (w == 1) return global_batch;
    if (global_batch.dim() < 1) throw ShapeError("dist::shard: a 0-d tensor has no batch dim");
    const int64_t n = global_batch.shape()[0];
    if (n % w != 0)
        throw ValueError(fmt::format("dist::shard: a global batch of {} does not split evenly over {} ranks", n, w));
    return slice(global_batch, 0, r * (n / w), (r + 1) * (n / w));
}

ShardedSampler::ShardedSampler(int64_t dataset_size, int64_t global_batch, uint64_t seed)
    : size_(dataset_size), global_batch_(global_batch), world_(world_size()), rank_(rank()), seed_(seed) {
    if (dataset_size < 1) throw ValueError(fmt::format("dist::ShardedSampler: empty dataset ({})", dataset_size));
    if (global_batch < 1 || global_batch % world_ != 0)
        throw ValueError(fmt::format("dist::ShardedSampler: a global batch of {} does not split evenly over {} ranks",
                                     global_batch, world_));
}

std::vector<int64_t> ShardedSampler::indices(int64_t step) {
    if (step < 0) throw ValueError(fmt::format("dist::ShardedSampler: negative step {}", step));
    const int64_t local = local_batch();
    std::vector<int64_t> out;
    out.reserve(static_cast<std::size_t>(local));
    for (int64_t j = 0; j < local; ++j) {
        const int64_t pos = step * global_batch_ + rank_ * local + j;  // position in the endless stream
        const int64_t epoch = pos / size_;
        if (epoch != epoch_) {  // Fisher-Yates from (seed, epoch)
            order_.resize(static_cast<std::size_t>(size_));
            for (int64_t i = 0; i < size_; ++i) order_[static_cast<std::size_t>(i)] = i;
            Generator gen(seed_ * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch));
            for (int64_t i = size_ - 1; i > 0; --i)
                std::swap(order_[static_cast<std::size_t>(i)], order_[gen.below(static_cast<uint64_t>(i + 1))]);
            epoch_ = epoch;
        }
        out.push_back(order_[static_cast<std::size_t>(pos % size_)]);
    }
    return out;
}

}  // namespace tg::dist
