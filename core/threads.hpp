#pragma once
/// \file
/// One setting for both thread pools tapegrad uses: OpenBLAS's (matrix products) and OpenMP's
/// (elementwise and row loops). Keeping them equal and at most the core count avoids
/// oversubscribing small machines.
#include <string>

namespace tg {

/// Which library runs float32 matrix products (matmul, linear, conv): `automatic` picks by CPU
/// and shape where each measured faster (oneDNN for products of 2^18 multiply-adds and more on
/// AVX-512 CPUs, the CBLAS otherwise); `cblas` and `onednn` force one. The environment variable
/// TG_MATMUL_ENGINE=auto|cblas|onednn sets it at start-up (onednn without oneDNN: auto, with a
/// warning).
enum class MatmulEngine {
    automatic,  ///< pick by CPU and product size (the default)
    cblas,      ///< always the CBLAS (OpenBLAS, or the library TG_BLAS_LIBRARY names)
    onednn      ///< always oneDNN
};
/// Sets the engine for the whole process. Throws Error if `onednn` is asked for and this build
/// or machine has no oneDNN.
void set_matmul_engine(MatmulEngine engine);
/// The engine setting in force (set_matmul_engine, else TG_MATMUL_ENGINE, else automatic).
MatmulEngine matmul_engine();

/// Sets the threads of both pools (n >= 1) for ops run on the calling thread. Under the
/// adaptive policy (the default) this is a ceiling: see ThreadPolicy.
void set_num_threads(int n);
/// The thread count asked for on this thread (set_num_threads, else OpenMP's default).
int num_threads();
/// The team the next parallel region on this thread runs with: num_threads(), or fewer while
/// other processes keep cores busy (ThreadPolicy::adaptive).
int active_threads();

/// How the team size follows the machine. `adaptive` (the default): about every 100 ms, the
/// busy time of the CPUs this process may run on (/proc/stat, steal included) minus this
/// process's own CPU time says how many cores other processes are using, and parallel regions
/// and BLAS calls run with at most the remaining cores (never below one), since a thread that
/// shares its core with another process makes the whole team wait for it. `fixed`: always
/// num_threads(). The environment variable TG_THREAD_POLICY=adaptive|fixed sets it at start-up.
enum class ThreadPolicy {
    adaptive,  ///< at most the cores other processes leave free (the default)
    fixed      ///< always num_threads()
};
/// Sets the policy for the whole process (every thread's next parallel region follows it).
void set_thread_policy(ThreadPolicy policy);
/// The policy in force (set_thread_policy, else TG_THREAD_POLICY, else adaptive).
ThreadPolicy thread_policy();
/// The matrix engines in use, e.g. "OpenBLAS 0.3.21 ... , core SkylakeX, OPENBLAS_CORETYPE=SkylakeX
/// (chosen by tapegrad: AVX-512 F/CD/BW/DQ/VL); oneDNN 2.6.3 (f32 kernels: brg:avx512_core; bf16
/// kernels: none yet); f32 engine: automatic (...)": OpenBLAS, oneDNN and the kernels its
/// primitives chose so far, and the engine rule in force. OpenBLAS is loaded at start-up with
/// the core type that suits this CPU's features, unless OPENBLAS_CORETYPE is already set; the
/// environment variable TG_BLAS_LIBRARY names another CBLAS shared library to use instead.
std::string blas_info();

}  // namespace tg
