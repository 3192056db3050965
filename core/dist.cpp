#include "core/dist.hpp"

#include <fmt/format.h>
#include <mpi.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <thread>
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

// Whether `mine` holds the same values on every rank: its elementwise minimum and maximum over
// the ranks agree exactly when it does. A collective: every rank must call it.
bool equal_on_every_rank(const std::vector<int64_t>& mine, const char* fn) {
    std::vector<int64_t> lo(mine.size()), hi(mine.size());
    const int n = static_cast<int>(mine.size());
    check(MPI_Allreduce(mine.data(), lo.data(), n, MPI_INT64_T, MPI_MIN, MPI_COMM_WORLD), fn);
    check(MPI_Allreduce(mine.data(), hi.data(), n, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD), fn);
    return lo == hi;
}

// The same shape and dtype on every rank: compares a fingerprint (dtype, dims) by min/max.
void same_everywhere(const Tensor& t, const char* fn) {
    if (t.numel() > std::numeric_limits<int>::max())
        throw ValueError(fmt::format("dist::{}: {} elements is more than one MPI call takes ({})", fn, t.numel(),
                                     std::numeric_limits<int>::max()));
    std::vector<int64_t> mine = {static_cast<int64_t>(t.dtype()), t.dim()};
    mine.insert(mine.end(), t.shape().begin(), t.shape().end());
    mine.resize(2 + 8, -1);  // up to 8 dims compared; more dims still compare numel below
    mine.push_back(t.numel());
    if (!equal_on_every_rank(mine, fn))
        throw ShapeError(fmt::format("dist::{}: the tensor differs between ranks (rank {} has {} {})", fn, rank(),
                                     shape_str(t.shape()), dtype_name(t.dtype())));
}

}  // namespace

// ---- lifetime ----

void init(int* argc, char*** argv, SessionOptions options) {
    int already = 0;
    MPI_Initialized(&already);
    if (already) return;
#ifdef __GLIBC__
    if (options.keep_freed_memory) {
        mallopt(M_MMAP_THRESHOLD, 32 << 20);
        mallopt(M_TRIM_THRESHOLD, 1 << 30);
    }
#else
    (void)options;
#endif
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

Session::Session(int* argc, char*** argv, SessionOptions options) {
    owns_ = !mpi_up();
    init(argc, argv, options);
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
// dst[i] = src[i] * s for n elements of float dtype d (src == dst scales in place).
void scaled_copy(const void* src, void* dst, Dtype d, int64_t n, double s) {
    if (d == Dtype::f32) {
        const auto sf = static_cast<float>(s);
        for (int64_t i = 0; i < n; ++i) static_cast<float*>(dst)[i] = static_cast<const float*>(src)[i] * sf;
    } else {
        for (int64_t i = 0; i < n; ++i) static_cast<double*>(dst)[i] = static_cast<const double*>(src)[i] * s;
    }
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
        if (op == ReduceOp::average) scaled_copy(buf.raw_data(), buf.raw_data(), t.dtype(), t.numel(), 1.0 / world_size());
    }
    NoGradGuard no_grad;
    Tensor(t).copy_(buf);
}

void broadcast_parameters(nn::Module& m, int root) {
    for (const Tensor& p : m.parameters()) broadcast(p, root);
}

// ---- gradient reduction ----

// A bucket's flat buffer holds its members' gradients, then one flag per member: 1 where this
// rank has a gradient for it. Reduced together, a flag sum of 0 means no rank has one.
struct DataParallel::Comm {
    MPI_Comm comm = MPI_COMM_NULL;
};

struct DataParallel::Bucket {
    Dtype dtype;
    std::vector<std::size_t> members;  // parameter indices
    int64_t numel = 0;                 // gradient elements (the flags follow)
    Tensor flat;
    std::size_t waiting = 0;           // members not yet packed in this pass
    MPI_Request request = MPI_REQUEST_NULL;  // null again once the reduction is complete
};

namespace {
// FNV-1a over the parameters' shapes, dtypes and requires_grad flags.
uint64_t fingerprint(const std::vector<Tensor>& params) {
    uint64_t h = 1469598103934665603ULL;
    auto mix = [&](uint64_t v) {
        for (int k = 0; k < 8; ++k, v >>= 8) h = (h ^ (v & 0xff)) * 1099511628211ULL;
    };
    for (const Tensor& p : params) {
        mix(static_cast<uint64_t>(p.dim()));
        for (int64_t d : p.shape()) mix(static_cast<uint64_t>(d));
        mix(static_cast<uint64_t>(p.dtype()) * 2 + (p.requires_grad() ? 1 : 0));
    }
    return h;
}
}  // namespace

DataParallel::DataParallel(nn::Module& m, DataParallelOptions options)
    : options_(options), params_(m.parameters()), owner_(std::this_thread::get_id()) {
    require_mpi("DataParallel");
    if (options_.bucket_bytes == 0) throw ValueError("dist::DataParallel: bucket_bytes must be positive");
    // The parameter list must be the same everywhere (the buckets are planned from it).
    // The hash's bits, reinterpreted as signed, compare equal exactly when the hashes do.
    if (!equal_on_every_rank({static_cast<int64_t>(params_.size()), static_cast<int64_t>(fingerprint(params_))},
                             "DataParallel")) {
        int64_t total = 0;
        for (const Tensor& p : params_) total += p.numel();
        throw ShapeError(fmt::format("dist::DataParallel: the model differs between ranks (rank {} has {} parameters "
                                     "of {} elements in all; shapes, dtypes and requires_grad must match)",
                                     rank(), params_.size(), total));
    }
    if (options_.broadcast_parameters)
        for (const Tensor& p : params_) broadcast(p, options_.root);
    // Backward completes the last parameters first, so buckets fill from the end of the list.
    // Frozen parameters (requires_grad off) get no gradient and are left out.
    bucket_of_.assign(params_.size(), 0);
    slot_of_.assign(params_.size(), 0);
    offset_of_.assign(params_.size(), 0);
    packed_.assign(params_.size(), 0);
    constexpr int64_t kMaxCount = std::numeric_limits<int>::max();  // one MPI call's count
    for (std::size_t i = params_.size(); i-- > 0;) {
        const Tensor& p = params_[i];
        if (!p.requires_grad()) continue;
        if (!is_floating(p.dtype()))
            throw DtypeError(fmt::format("dist::DataParallel: parameter {} is {}, gradients need f32 or f64", i,
                                         dtype_name(p.dtype())));
        if (p.numel() >= kMaxCount)
            throw ValueError(fmt::format("dist::DataParallel: parameter {} has {} elements, more than one MPI call "
                                         "takes", i, p.numel()));
        Bucket* b = nullptr;
        for (auto it = buckets_.rbegin(); it != buckets_.rend(); ++it)
            if (it->dtype == p.dtype()) {
                b = &*it;
                break;
            }
        const std::size_t es = dtype_size(p.dtype());
        if (!b || (b->numel > 0 && (static_cast<std::size_t>(b->numel + p.numel()) * es > options_.bucket_bytes ||
                                    b->numel + p.numel() + static_cast<int64_t>(b->members.size()) + 1 > kMaxCount))) {
            buckets_.push_back({});
            b = &buckets_.back();
            b->dtype = p.dtype();
        }
        bucket_of_[i] = static_cast<std::size_t>(b - buckets_.data());
        slot_of_[i] = b->members.size();
        offset_of_[i] = b->numel;
        b->members.push_back(i);
        b->numel += p.numel();
    }
    for (Bucket& b : buckets_) {
        b.flat = Tensor::empty({b.numel + static_cast<int64_t>(b.members.size())}, b.dtype);
        b.waiting = b.members.size();
    }
    // A communicator of its own: collectives the program runs between backward() and
    // synchronize() (a loss average, a barrier) cannot be matched with a bucket's.
    comm_ = std::make_unique<Comm>();
    check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_->comm), "DataParallel");
    MPI_Comm_set_errhandler(comm_->comm, MPI_ERRORS_RETURN);
    if (options_.overlap)
        for (std::size_t i = 0; i < params_.size(); ++i)
            if (params_[i].requires_grad())
                hooks_.push_back(params_[i].register_post_accumulate_grad_hook([this, i](const Tensor&) { on_gradient(i); }));
}

DataParallel::~DataParallel() {
    for (HookHandle& h : hooks_) h.remove();
    if (!mpi_up()) return;
    // MPI may still be writing a bucket: wait before its buffer goes away.
    for (Bucket& b : buckets_)
        if (b.request != MPI_REQUEST_NULL) MPI_Wait(&b.request, MPI_STATUS_IGNORE);
    if (comm_ && comm_->comm != MPI_COMM_NULL) MPI_Comm_free(&comm_->comm);
}

std::vector<std::size_t> DataParallel::bucket_sizes() const {
    std::vector<std::size_t> out;
    for (const Bucket& b : buckets_) out.push_back(b.members.size());
    return out;
}

void DataParallel::pack(std::size_t i) {
    Bucket& b = buckets_[bucket_of_[i]];
    const Tensor& p = params_[i];
    const Tensor g = p.grad();
    const std::size_t es = dtype_size(b.dtype);
    char* base = static_cast<char*>(b.flat.raw_data());
    char* dst = base + static_cast<std::size_t>(offset_of_[i]) * es;
    if (g.defined() && p.nbytes()) std::memcpy(dst, g.raw_data(), p.nbytes());
    else if (p.nbytes()) std::memset(dst, 0, p.nbytes());
    char* flag = base + static_cast<std::size_t>(b.numel + static_cast<int64_t>(slot_of_[i])) * es;
    if (b.dtype == Dtype::f32) *reinterpret_cast<float*>(flag) = g.defined() ? 1.0f : 0.0f;
    else *reinterpret_cast<double*>(flag) = g.defined() ? 1.0 : 0.0;
    packed_[i] = 1;
    --b.waiting;
}

// Starts buckets in order while the next one is complete (or, with flush, whatever its state:
// the missing gradients count as zeros).
void DataParallel::start_ready_buckets(bool flush) {
    while (next_start_ < buckets_.size()) {
        Bucket& b = buckets_[next_start_];
        if (b.waiting > 0 && !flush) return;
        for (std::size_t i : b.members)
            if (!packed_[i]) pack(i);
        check(MPI_Iallreduce(MPI_IN_PLACE, b.flat.raw_data(), static_cast<int>(b.flat.numel()), mpi_type(b.dtype),
                             MPI_SUM, comm_->comm, &b.request),
              "DataParallel");
        stats_.buckets += 1;
        stats_.bytes += b.numel * static_cast<int64_t>(dtype_size(b.dtype));
        if (!flush) stats_.overlapped += 1;
        ++next_start_;
    }
}

// MPI moves non-blocking collectives forward only inside MPI calls: test the ones in flight.
void DataParallel::progress() {
    for (std::size_t k = 0; k < next_start_; ++k) {
        Bucket& b = buckets_[k];
        if (b.request == MPI_REQUEST_NULL) continue;
        int flag = 0;
        check(MPI_Test(&b.request, &flag, MPI_STATUS_IGNORE), "DataParallel");
        if (!flag) return;  // later buckets wait behind this one
    }
}

// Waits for every bucket, writes the averages back and ends the pass.
void DataParallel::finish_pass() {
    const double inv = 1.0 / world_size();
    NoGradGuard no_grad;
    for (Bucket& b : buckets_) {
        if (b.request != MPI_REQUEST_NULL) {
            const auto w0 = std::chrono::steady_clock::now();
            check(MPI_Wait(&b.request, MPI_STATUS_IGNORE), "DataParallel");
            stats_.wait_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
        }
        for (std::size_t i : b.members) {
            packed_[i] = 0;
            const int64_t flag = b.numel + static_cast<int64_t>(slot_of_[i]);
            const bool anywhere = b.dtype == Dtype::f32 ? b.flat.data<float>()[flag] > 0 : b.flat.data<double>()[flag] > 0;
            if (!anywhere) continue;  // no rank has a gradient: leave it undefined, as one process would
            const Tensor& p = params_[i];
            Tensor g = p.grad();
            const bool fresh = !g.defined();
            if (fresh) g = Tensor::empty(p.shape(), p.dtype());
            const char* src = static_cast<const char*>(b.flat.raw_data()) +
                               static_cast<std::size_t>(offset_of_[i]) * dtype_size(b.dtype);
            scaled_copy(src, g.raw_data(), b.dtype, p.numel(), inv);
            if (fresh) Tensor(p).set_grad(g);
        }
        b.waiting = b.members.size();
    }
    next_start_ = 0;
    in_pass_ = false;
    synced_ = true;
}

void DataParallel::check_thread(const char* fn) const {
    if (std::this_thread::get_id() != owner_)
        throw ValueError(fmt::format("dist::DataParallel{}: called on another thread than the one that created the "
                                     "DataParallel; MPI is called from that thread only (MPI_THREAD_FUNNELED)", fn));
}

void DataParallel::on_gradient(std::size_t i) {
    if (no_sync_ > 0) {  // accumulating only; the next synchronize() has something to reduce
        synced_ = false;
        return;
    }
    check_thread(" (a gradient hook: backward())");
    const auto t0 = std::chrono::steady_clock::now();
    if (!in_pass_) {
        stats_ = {};
        in_pass_ = true;
        synced_ = false;
    }
    if (packed_[i])
        throw ValueError(fmt::format(
            "dist::DataParallel: backward() ran again before synchronize() (parameter {} got a second gradient "
            "while its bucket was being reduced); call synchronize() after every backward(), and use no_sync() "
            "for micro-batches that only accumulate", i));
    pack(i);
    start_ready_buckets(false);
    progress();
    stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

ReduceStats DataParallel::synchronize() {
    require_mpi("DataParallel::synchronize");
    check_thread("::synchronize");
    if (options_.overlap && synced_) return stats_;
    if (!in_pass_) stats_ = {};
    const auto t0 = std::chrono::steady_clock::now();
    start_ready_buckets(true);
    finish_pass();
    stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return stats_;
}

ReduceStats all_reduce_gradients(nn::Module& m, std::size_t bucket_bytes) {
    DataParallel dp(m, {.bucket_bytes = bucket_bytes, .overlap = false, .broadcast_parameters = false});
    return dp.synchronize();
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
