#pragma once
/// \file
/// The dense symmetric eigensolver behind nn/hessian.cpp, exposed for its tests (in
/// tg::nn::detail: not part of the API).
#include <cstdint>
#include <vector>

namespace tg::nn::detail {

/// What symmetric_eigen returns.
struct SymmetricEigen {
    std::vector<double> values;   ///< largest first
    std::vector<double> vectors;  ///< m x m, row-major; column j belongs to values[j]
};
/// Eigenvalues and orthonormal eigenvectors of a symmetric m x m matrix (row-major), by cyclic
/// Jacobi rotations. Meant for the small matrices of Lanczos (tens to hundreds of rows).
SymmetricEigen symmetric_eigen(std::vector<double> a, int64_t m);

}  // namespace tg::nn::detail
