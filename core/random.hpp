#pragma once
// A small seeded generator (xoshiro256** seeded through splitmix64) with its own normal
// sampler, so the same seed gives the same numbers with every compiler and standard library.
#include <cstdint>

namespace tg {

class Generator {
public:
    explicit Generator(uint64_t seed = 0);
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
