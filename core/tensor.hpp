#pragma once
// Tensor: a shared handle to a contiguous, row-major, 64-byte aligned buffer with a shape, a
// dtype and (kept out of sight, in the engine) the autograd bookkeeping. Copying a Tensor
// copies the handle, not the data.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "dtype.hpp"
#include "error.hpp"
#include "shape.hpp"

namespace tg {

class Generator;
class Tensor;

struct TensorImpl;  // the engine's side of a tensor (core/internal/tensor_impl.hpp, not installed)

/// Returned by every function that registers a hook (Tensor::register_post_accumulate_grad_hook,
/// nn::Module::register_forward_hook and register_forward_pre_hook), as PyTorch's
/// RemovableHandle: remove() unregisters the hook (a no-op once removed or once its tensor or
/// module is gone). Dropping the handle keeps the hook.
class HookHandle {
public:
    HookHandle() = default;
    /// `remover` unregisters the hook; remove() runs it once.
    explicit HookHandle(std::function<void()> remover) : remover_(std::move(remover)) {}
    void remove();

private:
    std::function<void()> remover_;
};

struct ValuesIndices;  // core/ops.hpp: what sort and topk return
struct GradOptions;    // core/autograd.hpp: how backward() walks the tape

class Tensor {
public:
    Tensor() = default;
    explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

    // Factories. dtype defaults to f32 as in PyTorch.
    static Tensor empty(const Shape& shape, Dtype dtype = Dtype::f32);
    static Tensor zeros(const Shape& shape, Dtype dtype = Dtype::f32);
    static Tensor ones(const Shape& shape, Dtype dtype = Dtype::f32);
    static Tensor full(const Shape& shape, double value, Dtype dtype = Dtype::f32);
    static Tensor scalar(double value, Dtype dtype = Dtype::f32);  // 0-d
    /// [start, end) in steps of step; a 1-d tensor.
    static Tensor arange(double start, double end, double step = 1.0, Dtype dtype = Dtype::f32);
    static Tensor arange(int64_t n, Dtype dtype = Dtype::f32);
    /// Standard normal / uniform [0, 1) values, reproducible from the seed on every platform.
    /// Without a seed they draw one from the global generator (manual_seed), as torch.randn.
    static Tensor randn(const Shape& shape, Dtype dtype = Dtype::f32);
    static Tensor rand(const Shape& shape, Dtype dtype = Dtype::f32);
    static Tensor randn(const Shape& shape, Dtype dtype, uint64_t seed);
    static Tensor randn(const Shape& shape, Dtype dtype, Generator& gen);
    static Tensor rand(const Shape& shape, Dtype dtype, uint64_t seed);
    static Tensor rand(const Shape& shape, Dtype dtype, Generator& gen);
    /// Uniform integers in [low, high), dtype i64; without a generator from a seed drawn from the
    /// global one (manual_seed), as torch.randint.
    static Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator& gen);
    static Tensor randint(int64_t low, int64_t high, const Shape& shape);

    bool defined() const { return impl_ != nullptr; }
    const Shape& shape() const;
    int64_t dim() const { return static_cast<int64_t>(shape().size()); }
    int64_t size(int64_t d) const;
    int64_t numel() const;
    Dtype dtype() const;
    std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype()); }

    /// Typed pointer to the elements; T must match the dtype (DtypeError otherwise). Writing
    /// through it changes the values in place: call mark_modified() afterwards (see below).
    template <class T>
    T* data() const {
        check_dtype(dtype_of<T>(), "data");
        return static_cast<T*>(raw_data());
    }
    void* raw_data() const;

    /// The single element, converted to T (float, double, int64_t, bfloat16 or bool; ValueError
    /// unless numel() == 1, or for a float without an int64_t value: NaN, inf, out of range).
    /// Without a type it is a double, as PyTorch's item() gives a Python float: loss.item().
    template <class T = double>
    T item() const;
    /// All elements in row-major order, converted to T as item() converts.
    template <class T>
    std::vector<T> to_vector() const;

    /// Converted copy (differentiable); returns *this when the dtype already matches.
    Tensor to(Dtype dtype) const;
    /// A copy of the data (differentiable).
    Tensor clone() const;
    /// Same data, no autograd history, requires_grad false.
    Tensor detach() const;

    // The common ops as methods, as libtorch writes them: x.sum(), x.reshape({2, -1}),
    // x.matmul(w).relu(). Each is exactly the free function of the same name (core/ops.hpp,
    // where they are documented), which stays the primary form.
    Tensor sum() const;
    Tensor sum(int64_t dim, bool keepdim = false) const;
    Tensor mean() const;
    Tensor mean(int64_t dim, bool keepdim = false) const;
    Tensor max() const;
    Tensor max(int64_t dim, bool keepdim = false) const;
    Tensor reshape(const Shape& shape) const;
    Tensor transpose(int64_t dim0, int64_t dim1) const;
    Tensor permute(const std::vector<int64_t>& dims) const;
    Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
    Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
    Tensor select(int64_t dim, int64_t index) const;
    /// x[i] is x.select(0, i): the i-th slab along dim 0 (a copy; negative i counts from the end).
    Tensor operator[](int64_t index) const;
    std::vector<Tensor> unbind(int64_t dim = 0) const;
    Tensor view(const Shape& shape) const;
    Tensor matmul(const Tensor& other) const;
    Tensor neg() const;
    Tensor exp() const;
    Tensor log() const;
    Tensor tanh() const;
    Tensor sqrt() const;
    Tensor pow(double exponent) const;
    Tensor relu() const;
    Tensor sigmoid() const;
    Tensor gelu() const;
    Tensor softmax(int64_t dim = -1) const;
    Tensor log_softmax(int64_t dim = -1) const;
    Tensor abs() const;
    Tensor sin() const;
    Tensor cos() const;
    Tensor silu() const;
    Tensor clamp(double min, double max) const;
    Tensor masked_fill(const Tensor& mask, double value) const;
    Tensor gather(int64_t dim, const Tensor& index) const;
    Tensor index_select(int64_t dim, const Tensor& index) const;
    Tensor squeeze(int64_t dim) const;
    Tensor unsqueeze(int64_t dim) const;
    Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
    Tensor expand(const Shape& shape) const;
    Tensor var(int64_t dim, bool unbiased = true, bool keepdim = false) const;
    Tensor min() const;
    Tensor min(int64_t dim, bool keepdim = false) const;
    Tensor argmax(int64_t dim, bool keepdim = false) const;
    Tensor logsumexp(int64_t dim, bool keepdim = false) const;
    Tensor sum(const std::vector<int64_t>& dims, bool keepdim = false) const;
    Tensor mean(const std::vector<int64_t>& dims, bool keepdim = false) const;
    Tensor var(const std::vector<int64_t>& dims, bool unbiased = true, bool keepdim = false) const;
    Tensor amax(const std::vector<int64_t>& dims = {}, bool keepdim = false) const;
    Tensor amax(int64_t dim, bool keepdim = false) const;
    Tensor amin(const std::vector<int64_t>& dims = {}, bool keepdim = false) const;
    Tensor amin(int64_t dim, bool keepdim = false) const;
    Tensor norm(double p = 2.0, const std::vector<int64_t>& dims = {}, bool keepdim = false) const;
    Tensor cumsum(int64_t dim) const;
    Tensor square() const;
    Tensor rsqrt() const;
    Tensor gelu(std::string_view approximate) const;
    Tensor repeat(const Shape& reps) const;
    Tensor tril(int64_t diagonal = 0) const;
    Tensor triu(int64_t diagonal = 0) const;
    Tensor argsort(int64_t dim = -1, bool descending = false) const;
    ValuesIndices sort(int64_t dim = -1, bool descending = false) const;
    ValuesIndices topk(int64_t k, int64_t dim = -1, bool largest = true) const;

    // Autograd.
    Tensor& requires_grad_(bool on = true);
    bool requires_grad() const;
    bool is_leaf() const;
    /// Name of the op that produced this tensor ("" for leaves).
    std::string grad_fn_name() const;
    /// The accumulated gradient (undefined until a backward() reaches this tensor).
    Tensor grad() const;
    void set_grad(const Tensor& g);
    /// Keep the gradient of this non-leaf after backward(), as PyTorch's retain_grad().
    Tensor& retain_grad();
    /// Calls fn(*this) once in every backward() that reaches this leaf, as soon as its gradient
    /// for that pass is complete (no op left on the tape can add to it), as PyTorch's
    /// register_post_accumulate_grad_hook. Hooks run on the thread calling backward(), in grad
    /// mode off, in the order they were registered; an exception from one ends the backward().
    /// Data-parallel training uses this to start reducing gradients while backward goes on.
    /// Leaves only (ValueError otherwise).
    HookHandle register_post_accumulate_grad_hook(std::function<void(const Tensor&)> fn);
    /// Reverse-mode pass from this tensor. Without an explicit gradient it must hold one element.
    void backward(bool retain_graph = false) const;
    void backward(const Tensor& grad, bool retain_graph = false) const;
    /// With GradOptions (core/autograd.hpp): create_graph records the backward's ops, so the
    /// .grad it accumulates can be differentiated again. grad may be undefined for one element.
    void backward(const Tensor& grad, const GradOptions& options) const;

    // In-place writes (not recorded on the tape; used by optimizers and the engine). Each bumps
    // the tensor's version, so backward() refuses to use values an op saved that were changed
    // since; on a leaf that requires grad they are an error unless grad mode is off.

    /// Counts in-place writes to this tensor's values (0 when created), made through it or
    /// through any tensor sharing them (detach(), reshape and the other views).
    uint64_t version() const;
    /// Says "the values were changed in place" after writing through data<T>() or raw_data()
    /// (an initialiser, an optimizer step, a kernel of your own): bumps version(), so a
    /// backward() that would read the old values refuses instead of giving a wrong gradient.
    /// The methods below call it themselves.
    Tensor& mark_modified();
    /// Makes this tensor hold `source`'s values, dtype and storage (shape must match), in
    /// every handle that shares it, as PyTorch's set_data: how Module::to converts parameters
    /// that optimizers and tied layers also hold. Drops the gradient; counts as a modification.
    Tensor& set_data(const Tensor& source);
    Tensor& zero_();
    Tensor& fill_(double value);
    /// this += alpha * other, same shape and dtype.
    Tensor& add_(const Tensor& other, double alpha = 1.0);
    Tensor& mul_(double factor);
    /// Copies other's values (same shape; dtype converted).
    Tensor& copy_(const Tensor& other);

    bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
    /// The engine's handle (an opaque type outside the library); impl().get() identifies the
    /// tensor, e.g. as a map key.
    const std::shared_ptr<TensorImpl>& impl() const { return impl_; }

private:
    void check_inplace(const char* op) const;
    TensorImpl& checked() const;
    void check_dtype(Dtype want, const char* what) const;
    std::shared_ptr<TensorImpl> impl_;
};

// Tensors from values. The dtype follows the element type: float -> f32, double -> f64,
// int64_t -> i64, bool -> b8. The shape must hold exactly values.size() elements ({} is a 0-d scalar).
Tensor tensor(std::initializer_list<float> values, const Shape& shape);
Tensor tensor(std::initializer_list<double> values, const Shape& shape);
Tensor tensor(const std::vector<float>& values, const Shape& shape);
Tensor tensor(const std::vector<double>& values, const Shape& shape);
Tensor tensor(const std::vector<int64_t>& values, const Shape& shape);
// 1-d from values.
Tensor tensor(std::initializer_list<float> values);
Tensor tensor(std::initializer_list<double> values);
Tensor tensor(const std::vector<float>& values);
Tensor tensor(const std::vector<double>& values);
Tensor tensor(const std::vector<int64_t>& values);
// Truth values (dtype b8).
Tensor tensor(std::initializer_list<bool> values, const Shape& shape);
Tensor tensor(const std::vector<bool>& values, const Shape& shape);
Tensor tensor(std::initializer_list<bool> values);
Tensor tensor(const std::vector<bool>& values);

inline Tensor zeros(const Shape& s, Dtype d = Dtype::f32) { return Tensor::zeros(s, d); }
inline Tensor ones(const Shape& s, Dtype d = Dtype::f32) { return Tensor::ones(s, d); }
inline Tensor full(const Shape& s, double v, Dtype d = Dtype::f32) { return Tensor::full(s, v, d); }
inline Tensor arange(int64_t n, Dtype d = Dtype::f32) { return Tensor::arange(n, d); }
inline Tensor randn(const Shape& s, Dtype d, uint64_t seed) { return Tensor::randn(s, d, seed); }
inline Tensor rand(const Shape& s, Dtype d, uint64_t seed) { return Tensor::rand(s, d, seed); }
inline Tensor randn(const Shape& s, Dtype d = Dtype::f32) { return Tensor::randn(s, d); }
inline Tensor rand(const Shape& s, Dtype d = Dtype::f32) { return Tensor::rand(s, d); }
inline Tensor randint(int64_t low, int64_t high, const Shape& s) { return Tensor::randint(low, high, s); }
inline Tensor randint(int64_t low, int64_t high, const Shape& s, Generator& g) {
    return Tensor::randint(low, high, s, g);
}
/// Tensors of t's shape and dtype (or the dtype given), as torch.zeros_like and the others:
/// never differentiable, whatever t is. rand_like and randn_like draw from the global generator.
Tensor empty_like(const Tensor& t);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);
Tensor rand_like(const Tensor& t);
Tensor randn_like(const Tensor& t);
Tensor empty_like(const Tensor& t, Dtype dtype);
Tensor zeros_like(const Tensor& t, Dtype dtype);
Tensor ones_like(const Tensor& t, Dtype dtype);
Tensor full_like(const Tensor& t, double value, Dtype dtype);
Tensor rand_like(const Tensor& t, Dtype dtype);
Tensor randn_like(const Tensor& t, Dtype dtype);

/// Live tensors and bytes of this process, its peak bytes, and this thread's tape entries.
struct MemoryStats {
    int64_t live_tensors = 0;
    int64_t live_bytes = 0;
    int64_t peak_bytes = 0;
    int64_t tape_entries = 0;
    int64_t cached_bytes = 0;   // freed buffers kept for reuse (not in live_bytes)
    int64_t system_allocs = 0;  // buffers ever taken from the system (cache misses)
    /// Bytes the tape keeps alive for backward, on every thread: the buffers its entries hold as
    /// inputs or saved values (a mask, a softmax, a mean), each once, parameters not counted
    /// (the model holds them anyway). What activation checkpointing saves. Part of live_bytes.
    int64_t saved_by_tape_bytes = 0;
};
/// Tensor memory of the whole process (live, peak, cache), this thread's tape entries and what
/// every tape keeps alive for backward, as torch.cuda.memory_stats reports a GPU's.
MemoryStats memory_stats();
/// Restarts peak_bytes at the bytes live now (torch.cuda.reset_peak_memory_stats), to measure
/// the peak of one step.
void reset_peak_memory();
/// Freed tensor buffers are cached by size and reused (a training step then takes nothing
/// from the system after its first run). At most `bytes` are kept (default 4 GiB, or
/// TG_BUFFER_CACHE_MB from the environment); 0 turns the cache off. Empties the cache.
void set_buffer_cache_limit(std::size_t bytes);
/// Returns every cached buffer to the system.
void empty_buffer_cache();

// ---- template definitions ----
namespace detail {
template <class To>
void convert_elements(const void* src, Dtype from, To* dst, int64_t n);
}

template <class T>
T Tensor::item() const {
    if (numel() != 1)
        throw ValueError("item: tensor of shape " + shape_str(shape()) + " has " + std::to_string(numel()) +
                         " elements, item() needs exactly one (index it first, as x[0], or reduce it)");
    T out;
    detail::convert_elements<T>(raw_data(), dtype(), &out, 1);
    return out;
}

template <class T>
std::vector<T> Tensor::to_vector() const {
    std::vector<T> out(static_cast<std::size_t>(numel()));
    if constexpr (std::is_same_v<T, bool>) {  // vector<bool> packs bits: convert into bytes first
        std::unique_ptr<bool[]> tmp(new bool[out.size()]);
        detail::convert_elements<bool>(raw_data(), dtype(), tmp.get(), numel());
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = tmp[i];
    } else {
        detail::convert_elements<T>(raw_data(), dtype(), out.data(), numel());
    }
    return out;
}

}  // namespace tg
