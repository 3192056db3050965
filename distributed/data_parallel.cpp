#include "distributed/data_parallel.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstring>
#include <limits>

#include "core/check.hpp"
#include "distributed/collectives.hpp"
#include "distributed/mpi_internal.hpp"
#include "distributed/session.hpp"
#include "nn/module.hpp"

namespace tg::dist {

using detail::check;
using detail::equal_on_every_rank;
using detail::mpi_type;
using detail::mpi_up;
using detail::require_mpi;
using detail::scaled_copy;

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
    TG_CHECK(options_.bucket_bytes != 0, ValueError, "dist::DataParallel: bucket_bytes must be positive");
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
        TG_CHECK(is_floating(p.dtype()), DtypeError,
                 "dist::DataParallel: parameter {} is {}, gradients need f32 or f64", i, dtype_name(p.dtype()));
        TG_CHECK(p.numel() < kMaxCount, ValueError,
                 "dist::DataParallel: parameter {} has {} elements, more than one MPI call takes", i, p.numel());
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
    TG_CHECK(std::this_thread::get_id() == owner_, ValueError,
             "dist::DataParallel{}: called on another thread than the one that created the DataParallel; MPI is "
             "called from that thread only (MPI_THREAD_FUNNELED)",
             fn);
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
    TG_CHECK(!packed_[i], ValueError,
             "dist::DataParallel: backward() ran again before synchronize() (parameter {} got a second gradient "
             "while its bucket was being reduced); call synchronize() after every backward(), and use no_sync() for "
             "micro-batches that only accumulate",
             i);
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

}  // namespace tg::dist
