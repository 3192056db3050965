#pragma once
/// \file
/// A small seeded generator (xoshiro256** seeded through splitmix64) with its own normal
/// sampler, so the same seed gives the same numbers with every compiler and standard library.
#include <cstdint>
#include <optional>

namespace tg {

/// Seeds the global generator, as torch.manual_seed: layers built without a seed of their own
/// and Tensor::randn/rand called without one draw from it, so a program is reproducible from
/// this one seed (and from the built-in default, 0, when it is never called). Layers built one
/// after another get different weights. Thread-safe.
void manual_seed(uint64_t seed);
/// A fresh seed from the global generator (what an unseeded layer or tensor uses). Thread-safe.
uint64_t draw_seed();

/// A seed, or std::nullopt (the default of every layer's seed) to draw one from the global
/// generator. An explicit seed always wins: {.seed = 7} gives the same weights in any program.
using Seed = std::optional<uint64_t>;
/// The seed itself, or a fresh one from draw_seed() when it is std::nullopt.
inline uint64_t resolve_seed(const Seed& seed) { return seed ? *seed : draw_seed(); }
/// The k-th seed derived from seed for a sublayer: seed + k, or nullopt (the sublayer draws its
/// own) when seed is nullopt.
inline Seed derive_seed(const Seed& seed, uint64_t k) { return seed ? Seed(*seed + k) : std::nullopt; }

/// A seeded random number generator (xoshiro256**): the same seed gives the same sequence on
/// every platform. One object is not thread-safe; copying it copies its state, so the copy
/// repeats what the original draws next. Tensor::rand, Tensor::randn, randint and dropout take one.
class Generator {
public:
    /// The generator for `seed` (its state is seeded through splitmix64).
    explicit Generator(uint64_t seed = 0);
    /// The next 64 random bits.
    uint64_t next_u64();
    /// Uniform in [0, 1), 53 random bits.
    double uniform();
    /// Standard normal (Box-Muller; the second value of each pair is kept for the next call).
    double normal();
    /// Uniform integer in [0, n), unbiased; n must be positive.
    uint64_t below(uint64_t n);

private:
    uint64_t s_[4];
    double spare_ = 0.0;
    bool has_spare_ = false;
};

}  // namespace tg
