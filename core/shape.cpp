#include "core/shape.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/check.hpp"
#include "core/error.hpp"

namespace tg {

std::string shape_str(const Shape& s) {
    if (s.size() == 1) return fmt::format("({},)", s[0]);
    return fmt::format("({})", fmt::join(s, ", "));
}

int64_t shape_numel(const Shape& s) {
    // At most 2^60 elements, so that the byte count of any dtype (8 bytes at most) fits too.
    constexpr int64_t kMaxElements = int64_t{1} << 60;
    bool empty = false;
    for (int64_t d : s) {
        TG_CHECK(d >= 0, ShapeError, "shape {} has a negative dimension", shape_str(s));
        empty = empty || d == 0;
    }
    if (empty) return 0;
    int64_t n = 1;
    for (int64_t d : s)
        TG_CHECK(!__builtin_mul_overflow(n, d, &n) && n <= kMaxElements, ShapeError,
                 "shape {} has more than 2^60 elements, more than tapegrad can address", shape_str(s));
    return n;
}

Shape contiguous_strides(const Shape& s) {
    Shape st(s.size(), 1);
    // Only an empty shape (a 0 dim further left) can overflow here; its strides address nothing.
    for (int64_t i = static_cast<int64_t>(s.size()) - 2; i >= 0; --i)
        if (__builtin_mul_overflow(st[i + 1], s[i + 1], &st[i])) st[i] = 0;
    return st;
}

int64_t normalize_dim(const char* op, int64_t dim, int64_t ndim) {
    TG_CHECK(dim >= -ndim && dim < ndim && ndim != 0, ValueError,
             "{}: dim {} is out of range for a tensor with {} dims", op, dim, ndim);
    return dim < 0 ? dim + ndim : dim;
}

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
    const std::size_t n = std::max(a.size(), b.size());
    Shape out(n);
    for (std::size_t i = 0; i < n; ++i) {
        const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
        const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
        TG_CHECK(da == db || da == 1 || db == 1, ShapeError, "{}: shapes {} and {} cannot be broadcast together", op,
                 shape_str(a), shape_str(b));
        out[i] = da == 1 ? db : da;
    }
    return out;
}

}  // namespace tg
