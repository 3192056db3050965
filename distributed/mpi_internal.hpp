#pragma once
// Internal to tapegrad::distributed (not installed): MPI error checking and the small helpers the
// session, the collectives and DataParallel share.
#include <mpi.h>

#include <cstdint>
#include <vector>

#include "core/tensor.hpp"

namespace tg::dist::detail {

/// MPI is initialised and not yet finalised.
bool mpi_up();
/// Throws ValueError naming fn unless mpi_up().
void require_mpi(const char* fn);
/// Throws tg::Error with MPI's own message when rc is not MPI_SUCCESS.
void check(int rc, const char* what);
/// The MPI datatype of a tapegrad dtype.
MPI_Datatype mpi_type(Dtype d);
/// Whether `mine` holds the same values on every rank (its elementwise minimum and maximum
/// over the ranks agree exactly when it does). A collective: every rank must call it.
bool equal_on_every_rank(const std::vector<int64_t>& mine, const char* fn);
/// dst[i] = src[i] * s for n elements of float dtype d (src == dst scales in place).
void scaled_copy(const void* src, void* dst, Dtype d, int64_t n, double s);

}  // namespace tg::dist::detail
