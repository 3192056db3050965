#pragma once
/// \file
/// Tensor: a shared handle to a contiguous, row-major, 64-byte aligned buffer with a shape, a
/// dtype and (kept out of sight, in the engine) the autograd bookkeeping. Copying a Tensor
/// copies the handle, not the data.
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

/// The core layer: Tensor, its ops and autograd engine, and the settings around them (grad mode,
/// autocast, threads, the profiler, random seeds). The other layers live in nested namespaces
/// (tg::nn, tg::optim, tg::data, tg::dist).
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
    /// Unregisters the hook, once; later calls do nothing.
    void remove();

private:
    std::function<void()> remover_;
};

struct ValuesIndices;  // core/ops.hpp: what sort and topk return
struct GradOptions;    // core/autograd.hpp: how backward() walks the tape

/// A handle to an n-dimensional array of one Dtype, and the node autograd differentiates. Its
/// buffer is contiguous, row-major and 64-byte aligned; copying a Tensor copies the handle, so
/// both copies see the same values (clone() copies the data). A default-constructed Tensor is
/// undefined (defined() is false): it stands for "no tensor", e.g. a missing bias or gradient,
/// and most methods throw ValueError on it. Ops are free functions (core/ops.hpp), the common
/// ones also methods; a Tensor prints with fmt::print("{}", t) (core/format.hpp).
class Tensor {
public:
    /// An undefined tensor.
    Tensor() = default;
    /// Wraps the engine's handle (for the library's own code; TensorImpl is opaque outside it).
    explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

    // Factories. dtype defaults to f32 as in PyTorch.
    /// A new tensor whose values are left uninitialised (torch.empty).
    static Tensor empty(const Shape& shape, Dtype dtype = Dtype::f32);
    /// A new tensor of zeros.
    static Tensor zeros(const Shape& shape, Dtype dtype = Dtype::f32);
    /// A new tensor of ones.
    static Tensor ones(const Shape& shape, Dtype dtype = Dtype::f32);
    /// A new tensor with every element value (converted to dtype).
    static Tensor full(const Shape& shape, double value, Dtype dtype = Dtype::f32);
    /// A 0-d tensor holding value.
    static Tensor scalar(double value, Dtype dtype = Dtype::f32);  // 0-d
    /// [start, end) in steps of step; a 1-d tensor.
    static Tensor arange(double start, double end, double step = 1.0, Dtype dtype = Dtype::f32);
    /// \overload
    /// 0, 1, ..., n - 1.
    static Tensor arange(int64_t n, Dtype dtype = Dtype::f32);
    /// Standard normal / uniform [0, 1) values, reproducible from the seed on every platform.
    /// Without a seed they draw one from the global generator (manual_seed), as torch.randn.
    static Tensor randn(const Shape& shape, Dtype dtype = Dtype::f32);
    /// Uniform [0, 1) values from a seed drawn from the global generator (see randn).
    static Tensor rand(const Shape& shape, Dtype dtype = Dtype::f32);
    /// Standard normal values from `seed`: the same seed gives the same values.
    static Tensor randn(const Shape& shape, Dtype dtype, uint64_t seed);
    /// Standard normal values drawn from gen (which advances).
    static Tensor randn(const Shape& shape, Dtype dtype, Generator& gen);
    /// Uniform [0, 1) values from `seed`: the same seed gives the same values.
    static Tensor rand(const Shape& shape, Dtype dtype, uint64_t seed);
    /// Uniform [0, 1) values drawn from gen (which advances).
    static Tensor rand(const Shape& shape, Dtype dtype, Generator& gen);
    /// Uniform integers in [low, high), dtype i64; without a generator from a seed drawn from the
    /// global one (manual_seed), as torch.randint.
    static Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator& gen);
    /// \overload
    /// From a seed drawn from the global generator.
    static Tensor randint(int64_t low, int64_t high, const Shape& shape);

    /// False for a default-constructed (undefined) Tensor.
    bool defined() const { return impl_ != nullptr; }
    /// The sizes of its dims.
    const Shape& shape() const;
    /// The number of dims (0 for a scalar).
    int64_t dim() const { return static_cast<int64_t>(shape().size()); }
    /// The size of dim d (negative d counts from the end; ValueError when out of range).
    int64_t size(int64_t d) const;
    /// The number of elements: the product of the shape.
    int64_t numel() const;
    /// The element type.
    Dtype dtype() const;
    /// The size of the elements in bytes: numel() times dtype_size(dtype()).
    std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype()); }

    /// Typed pointer to the elements; T must match the dtype (DtypeError otherwise). Writing
    /// through it changes the values in place: call mark_modified() afterwards (see below).
    template <class T>
    T* data() const {
        check_dtype(dtype_of<T>(), "data");
        return static_cast<T*>(raw_data());
    }
    /// Untyped pointer to the first element (see data()).
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
    /// The sum of every element, 0-d (tg::sum).
    Tensor sum() const;
    /// The sums along dim (tg::sum).
    Tensor sum(int64_t dim, bool keepdim = false) const;
    /// The mean of every element, 0-d (tg::mean).
    Tensor mean() const;
    /// The means along dim (tg::mean).
    Tensor mean(int64_t dim, bool keepdim = false) const;
    /// The largest element, 0-d (tg::max).
    Tensor max() const;
    /// The largest values along dim (tg::max).
    Tensor max(int64_t dim, bool keepdim = false) const;
    /// The same data with another shape; one dim may be -1 (tg::reshape).
    Tensor reshape(const Shape& shape) const;
    /// A copy with dims dim0 and dim1 swapped (tg::transpose).
    Tensor transpose(int64_t dim0, int64_t dim1) const;
    /// A copy with its dims reordered (tg::permute).
    Tensor permute(const std::vector<int64_t>& dims) const;
    /// Elements start, start + step, ... below end along dim, clamped as in Python (tg::slice).
    Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
    /// length elements along dim from start, which must lie inside the dim (tg::narrow).
    Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
    /// The slab at index along dim, without that dim (tg::select).
    Tensor select(int64_t dim, int64_t index) const;
    /// x[i] is x.select(0, i): the i-th slab along dim 0 (a copy; negative i counts from the end).
    Tensor operator[](int64_t index) const;
    /// Every slab along dim, each without that dim (tg::unbind).
    std::vector<Tensor> unbind(int64_t dim = 0) const;
    /// reshape() under PyTorch's other name (tg::view).
    Tensor view(const Shape& shape) const;
    /// The matrix product of this tensor and other, batch dims broadcast (tg::matmul).
    Tensor matmul(const Tensor& other) const;
    /// -x (tg::neg).
    Tensor neg() const;
    /// e^x, elementwise (tg::exp).
    Tensor exp() const;
    /// Natural logarithm, elementwise (tg::log).
    Tensor log() const;
    /// Hyperbolic tangent, elementwise (tg::tanh).
    Tensor tanh() const;
    /// Square root, elementwise (tg::sqrt).
    Tensor sqrt() const;
    /// x^exponent, elementwise (tg::pow).
    Tensor pow(double exponent) const;
    /// max(x, 0), elementwise (tg::relu).
    Tensor relu() const;
    /// 1 / (1 + exp(-x)), elementwise (tg::sigmoid).
    Tensor sigmoid() const;
    /// GELU with the tanh approximation (tg::gelu).
    Tensor gelu() const;
    /// Softmax along dim, the last by default (tg::softmax).
    Tensor softmax(int64_t dim = -1) const;
    /// Log-softmax along dim, the last by default (tg::log_softmax).
    Tensor log_softmax(int64_t dim = -1) const;
    /// |x|, elementwise (tg::abs).
    Tensor abs() const;
    /// Sine, elementwise (tg::sin).
    Tensor sin() const;
    /// Cosine, elementwise (tg::cos).
    Tensor cos() const;
    /// x * sigmoid(x), elementwise (tg::silu).
    Tensor silu() const;
    /// x limited to [min, max], elementwise (tg::clamp).
    Tensor clamp(double min, double max) const;
    /// A copy with value wherever mask is true (tg::masked_fill).
    Tensor masked_fill(const Tensor& mask, double value) const;
    /// The elements at i64 index along dim (tg::gather).
    Tensor gather(int64_t dim, const Tensor& index) const;
    /// The slices at the positions of a 1-d i64 index along dim (tg::index_select).
    Tensor index_select(int64_t dim, const Tensor& index) const;
    /// Without dim if its size is 1, else unchanged (tg::squeeze).
    Tensor squeeze(int64_t dim) const;
    /// With a size-1 dim inserted at dim (tg::unsqueeze).
    Tensor unsqueeze(int64_t dim) const;
    /// With dims start_dim..end_dim merged into one (tg::flatten).
    Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
    /// Broadcast to shape, a copy; -1 keeps a dim's size (tg::expand).
    Tensor expand(const Shape& shape) const;
    /// The variance along dim, unbiased by default (tg::var).
    Tensor var(int64_t dim, bool unbiased = true, bool keepdim = false) const;
    /// The smallest element, 0-d (tg::min).
    Tensor min() const;
    /// The smallest values along dim (tg::min).
    Tensor min(int64_t dim, bool keepdim = false) const;
    /// The position of the largest element along dim, i64 (tg::argmax).
    Tensor argmax(int64_t dim, bool keepdim = false) const;
    /// log(sum(exp(x))) along dim, computed stably (tg::logsumexp).
    Tensor logsumexp(int64_t dim, bool keepdim = false) const;
    /// The sums over several dims; an empty list means every dim (tg::sum).
    Tensor sum(const std::vector<int64_t>& dims, bool keepdim = false) const;
    /// The means over several dims (tg::mean).
    Tensor mean(const std::vector<int64_t>& dims, bool keepdim = false) const;
    /// The variance over several dims together (tg::var).
    Tensor var(const std::vector<int64_t>& dims, bool unbiased = true, bool keepdim = false) const;
    /// The largest elements over dims, every dim by default (tg::amax).
    Tensor amax(const std::vector<int64_t>& dims = {}, bool keepdim = false) const;
    /// The largest elements along one dim (tg::amax).
    Tensor amax(int64_t dim, bool keepdim = false) const;
    /// The smallest elements over dims, every dim by default (tg::amin).
    Tensor amin(const std::vector<int64_t>& dims = {}, bool keepdim = false) const;
    /// The smallest elements along one dim (tg::amin).
    Tensor amin(int64_t dim, bool keepdim = false) const;
    /// The p-norm over dims, the 2-norm of every element by default (tg::norm).
    Tensor norm(double p = 2.0, const std::vector<int64_t>& dims = {}, bool keepdim = false) const;
    /// Running sums along dim (tg::cumsum).
    Tensor cumsum(int64_t dim) const;
    /// x * x, elementwise (tg::square).
    Tensor square() const;
    /// 1 / sqrt(x), elementwise (tg::rsqrt).
    Tensor rsqrt() const;
    /// GELU, exact ("none") or with the tanh approximation ("tanh") (tg::gelu).
    Tensor gelu(std::string_view approximate) const;
    /// Tiled reps[k] times along dim k (tg::repeat).
    Tensor repeat(const Shape& reps) const;
    /// The lower triangle of the last two dims, zeros above (tg::tril).
    Tensor tril(int64_t diagonal = 0) const;
    /// The upper triangle of the last two dims, zeros below (tg::triu).
    Tensor triu(int64_t diagonal = 0) const;
    /// The positions that sort it along dim, i64 (tg::argsort).
    Tensor argsort(int64_t dim = -1, bool descending = false) const;
    /// Sorted along dim, with the positions (tg::sort).
    ValuesIndices sort(int64_t dim = -1, bool descending = false) const;
    /// The k largest (or smallest) elements along dim, with their positions (tg::topk).
    ValuesIndices topk(int64_t k, int64_t dim = -1, bool largest = true) const;

    // Autograd.
    /// Marks this tensor as one whose gradient backward() computes (or, with `on = false`, not),
    /// as PyTorch's requires_grad_(); returns *this. f32 and f64 only (DtypeError otherwise);
    /// turning it off on a tensor an op made is a ValueError (use detach()).
    Tensor& requires_grad_(bool on = true);
    /// Whether gradients flow to this tensor: set on a leaf by requires_grad_(), true for the
    /// result of a recorded op.
    bool requires_grad() const;
    /// True unless a recorded op made this tensor (no grad_fn), as PyTorch's is_leaf.
    bool is_leaf() const;
    /// Name of the op that produced this tensor ("" for leaves).
    std::string grad_fn_name() const;
    /// The accumulated gradient (undefined until a backward() reaches this tensor).
    Tensor grad() const;
    /// Replaces the accumulated gradient with g, which must have this tensor's shape and dtype (or
    /// be undefined, to clear it).
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
    /// \overload
    /// With the gradient of this tensor given (its shape and dtype; undefined means ones, for one
    /// element).
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
    /// Sets every element to 0, in place (bumps version(); refused on a leaf that requires grad
    /// while grad mode is on, as every in-place write). Returns *this, as the others do.
    Tensor& zero_();
    /// Sets every element to value (converted to the dtype), in place.
    Tensor& fill_(double value);
    /// this += alpha * other, same shape and dtype.
    Tensor& add_(const Tensor& other, double alpha = 1.0);
    /// this *= factor, in place (not for b8 or bf16).
    Tensor& mul_(double factor);
    /// Copies other's values (same shape; dtype converted).
    Tensor& copy_(const Tensor& other);

    /// True when both handles are the same tensor (not merely equal values, nor a view of it).
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
/// f32 from values laid out in shape, e.g. tensor({1.f, 2.f, 3.f, 4.f}, {2, 2}); ShapeError
/// unless shape holds exactly values.size() elements ({} for a 0-d scalar).
Tensor tensor(std::initializer_list<float> values, const Shape& shape);
/// f64 from values laid out in shape.
Tensor tensor(std::initializer_list<double> values, const Shape& shape);
/// f32 from values laid out in shape.
Tensor tensor(const std::vector<float>& values, const Shape& shape);
/// f64 from values laid out in shape.
Tensor tensor(const std::vector<double>& values, const Shape& shape);
/// i64 from values laid out in shape.
Tensor tensor(const std::vector<int64_t>& values, const Shape& shape);
// 1-d from values.
/// 1-d f32 from values.
Tensor tensor(std::initializer_list<float> values);
/// 1-d f64 from values.
Tensor tensor(std::initializer_list<double> values);
/// 1-d f32 from values.
Tensor tensor(const std::vector<float>& values);
/// 1-d f64 from values.
Tensor tensor(const std::vector<double>& values);
/// 1-d i64 from values.
Tensor tensor(const std::vector<int64_t>& values);
// Truth values (dtype b8).
/// b8 from values laid out in shape.
Tensor tensor(std::initializer_list<bool> values, const Shape& shape);
/// b8 from values laid out in shape.
Tensor tensor(const std::vector<bool>& values, const Shape& shape);
/// 1-d b8 from values.
Tensor tensor(std::initializer_list<bool> values);
/// 1-d b8 from values.
Tensor tensor(const std::vector<bool>& values);

/// Tensor::zeros.
inline Tensor zeros(const Shape& s, Dtype d = Dtype::f32) { return Tensor::zeros(s, d); }
/// Tensor::ones.
inline Tensor ones(const Shape& s, Dtype d = Dtype::f32) { return Tensor::ones(s, d); }
/// Tensor::full.
inline Tensor full(const Shape& s, double v, Dtype d = Dtype::f32) { return Tensor::full(s, v, d); }
/// Tensor::arange: 0, 1, ..., n - 1.
inline Tensor arange(int64_t n, Dtype d = Dtype::f32) { return Tensor::arange(n, d); }
/// Tensor::randn from a seed.
inline Tensor randn(const Shape& s, Dtype d, uint64_t seed) { return Tensor::randn(s, d, seed); }
/// Tensor::rand from a seed.
inline Tensor rand(const Shape& s, Dtype d, uint64_t seed) { return Tensor::rand(s, d, seed); }
/// Tensor::randn from the global generator.
inline Tensor randn(const Shape& s, Dtype d = Dtype::f32) { return Tensor::randn(s, d); }
/// Tensor::rand from the global generator.
inline Tensor rand(const Shape& s, Dtype d = Dtype::f32) { return Tensor::rand(s, d); }
/// Tensor::randint from the global generator.
inline Tensor randint(int64_t low, int64_t high, const Shape& s) { return Tensor::randint(low, high, s); }
/// Tensor::randint drawn from g.
inline Tensor randint(int64_t low, int64_t high, const Shape& s, Generator& g) {
    return Tensor::randint(low, high, s, g);
}
/// Tensors of t's shape and dtype (or the dtype given), as torch.zeros_like and the others:
/// never differentiable, whatever t is. rand_like and randn_like draw from the global generator.
Tensor empty_like(const Tensor& t);
/// Zeros of t's shape and dtype.
Tensor zeros_like(const Tensor& t);
/// Ones of t's shape and dtype.
Tensor ones_like(const Tensor& t);
/// value everywhere, in t's shape and dtype.
Tensor full_like(const Tensor& t, double value);
/// Uniform [0, 1) values in t's shape and dtype.
Tensor rand_like(const Tensor& t);
/// Standard normal values in t's shape and dtype.
Tensor randn_like(const Tensor& t);
/// Uninitialised values in t's shape and the given dtype.
Tensor empty_like(const Tensor& t, Dtype dtype);
/// Zeros in t's shape and the given dtype.
Tensor zeros_like(const Tensor& t, Dtype dtype);
/// Ones in t's shape and the given dtype.
Tensor ones_like(const Tensor& t, Dtype dtype);
/// value everywhere, in t's shape and the given dtype.
Tensor full_like(const Tensor& t, double value, Dtype dtype);
/// Uniform [0, 1) values in t's shape and the given dtype.
Tensor rand_like(const Tensor& t, Dtype dtype);
/// Standard normal values in t's shape and the given dtype.
Tensor randn_like(const Tensor& t, Dtype dtype);

/// Live tensors and bytes of this process, its peak bytes, and this thread's tape entries.
struct MemoryStats {
    int64_t live_tensors = 0;   ///< tensors alive (views and aliases count, copied handles not)
    int64_t live_bytes = 0;     ///< bytes of the element buffers in use
    int64_t peak_bytes = 0;     ///< the most live_bytes reached (since reset_peak_memory())
    int64_t tape_entries = 0;   ///< entries on this thread's tape (tape_size())
    int64_t cached_bytes = 0;   ///< freed buffers kept for reuse (not in live_bytes)
    int64_t system_allocs = 0;  ///< buffers ever taken from the system (cache misses)
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
