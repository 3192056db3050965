#include "core/format.hpp"

#include <fmt/format.h>

#include "core/internal/dispatch.hpp"

namespace tg {

namespace {

constexpr int64_t kSummariseAbove = 1000;  // elements; then each dim shows 3 + 3 entries
constexpr int64_t kEdge = 3;

template <class T>
std::string element(T v) {
    if constexpr (std::is_same_v<T, bool>) return v ? "true" : "false";
    else if constexpr (std::is_same_v<T, int64_t>) return fmt::format("{}", v);
    else if constexpr (std::is_same_v<T, bfloat16>) return element(v.to_float());  // printed as its f32 value
    else return fmt::format("{:.4f}", v);
}

template <class T>
void print_dim(std::string& out, const T* p, const Shape& shape, const Shape& strides,
               std::size_t d, bool summarise, int indent) {
    const int64_t n = shape[d];
    out += '[';
    for (int64_t i = 0; i < n; ++i) {
        if (summarise && n > 2 * kEdge && i == kEdge) {
            out += d + 1 == shape.size() ? "..., " : fmt::format("...,\n{:{}}", "", indent + 1);
            i = n - kEdge - 1;
            continue;
        }
        if (d + 1 == shape.size()) out += element(p[i * strides[d]]);
        else print_dim(out, p + i * strides[d], shape, strides, d + 1, summarise, indent + 1);
        if (i + 1 < n) out += d + 1 == shape.size() ? ", " : fmt::format(",\n{:{}}", "", indent + 1);
    }
    out += ']';
}

}  // namespace

std::string to_string(const Tensor& t) {
    if (!t.defined()) return "tensor(undefined)";
    std::string out = "tensor(";
    dispatch_all(t.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* p = static_cast<const T*>(t.raw_data());
        if (t.dim() == 0) out += element(p[0]);
        else print_dim(out, p, t.shape(), contiguous_strides(t.shape()), 0,
                       t.numel() > kSummariseAbove, 7);
    });
    out += fmt::format(", shape={}, dtype={}", shape_str(t.shape()), dtype_name(t.dtype()));
    if (!t.is_leaf()) out += fmt::format(", grad_fn={}", t.grad_fn_name());
    else if (t.requires_grad()) out += ", requires_grad=true";
    return out + ")";
}

}  // namespace tg
