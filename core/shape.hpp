#pragma once
/// \file
/// Shapes and the small rules around them: element counts, negative dims, broadcasting.
#include <cstdint>
#include <string>
#include <vector>

namespace tg {

/// The sizes of a tensor's dims, outermost first; {} is the shape of a 0-d (scalar) tensor.
using Shape = std::vector<int64_t>;

/// "(2, 3)"; a 0-d shape prints as "()".
std::string shape_str(const Shape& s);

/// Product of the dims (1 for a 0-d shape). Throws ShapeError for a negative dim.
int64_t shape_numel(const Shape& s);

/// Row-major strides in elements.
Shape contiguous_strides(const Shape& s);

/// Maps dim in [-ndim, ndim) to [0, ndim); anything else is a ValueError naming op.
int64_t normalize_dim(const char* op, int64_t dim, int64_t ndim);

/// numpy/torch broadcasting of two shapes, or a ShapeError naming op and both shapes.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);

}  // namespace tg
