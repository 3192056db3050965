#pragma once
/// \file
/// Data-parallel training over MPI (the tapegrad::distributed library, built when CMake finds MPI;
/// TG_WITH_MPI=OFF leaves it out). Every rank holds the whole model, takes its own slice of each
/// global batch, and averages the gradients with all_reduce_gradients before the optimizer
/// step, so the ranks stay identical and together compute the step one process would compute on
/// the whole batch.
///
/// \code
///   int main(int argc, char** argv) {
///       tg::dist::Session mpi(&argc, &argv);         // MPI_Init_thread ... MPI_Finalize
///       return tg::dist::run([&] {                   // an exception on any rank stops all ranks
///           nn::GPT model(cfg);
///           tg::dist::broadcast_parameters(model);   // start from rank 0's weights
///           ...  loss.backward();
///           tg::dist::all_reduce_gradients(model);   // average over ranks
///           opt.step();
///           return 0;
///       });
///   }
/// \endcode
///
/// MPI is called only from the thread that created the Session (MPI_THREAD_FUNNELED); OpenMP
/// and OpenBLAS threads inside a rank are unaffected.
///
/// Include `<tapegrad/distributed/dist.hpp>` and link tapegrad::distributed (tapegrad::dist is
/// an alias). The namespace is tg::dist, as torch.distributed is imported as dist. The pieces:
/// distributed/session.hpp (MPI start-up, rank, abort), distributed/collectives.hpp (broadcast,
/// all_reduce), distributed/data_parallel.hpp (DataParallel, all_reduce_gradients) and
/// distributed/sampler.hpp (shard, ShardedSampler).
#include "collectives.hpp"
#include "data_parallel.hpp"
#include "sampler.hpp"
#include "session.hpp"
