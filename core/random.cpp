#include "core/random.hpp"

#include <cmath>
#include <mutex>

#include "core/internal/rng_log.hpp"

namespace tg {

namespace {
uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

namespace {
std::mutex g_global_mu;
Generator& global_generator() {
    static Generator gen(0);
    return gen;
}
}  // namespace

void manual_seed(uint64_t seed) {
    std::lock_guard<std::mutex> lock(g_global_mu);
    global_generator() = Generator(seed);
}

uint64_t draw_seed() {
    std::lock_guard<std::mutex> lock(g_global_mu);
    detail::note_generator(global_generator());
    return global_generator().next_u64();
}

void detail::set_generator_state(Generator& g, const Generator& state) {
    std::unique_lock<std::mutex> lock(g_global_mu, std::defer_lock);
    if (&g == &global_generator()) lock.lock();
    g = state;
}

Generator::Generator(uint64_t seed) {
    for (uint64_t& s : s_) s = splitmix64(seed);
}

uint64_t Generator::next_u64() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
}

double Generator::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double Generator::normal() {
    if (has_spare_) {
        has_spare_ = false;
        return spare_;
    }
    // 1 - uniform() lies in (0, 1], so the log is finite.
    const double r = std::sqrt(-2.0 * std::log(1.0 - uniform()));
    const double theta = 2.0 * M_PI * uniform();
    spare_ = r * std::sin(theta);
    has_spare_ = true;
    return r * std::cos(theta);
}

uint64_t Generator::below(uint64_t n) {
    // Rejection keeps every value equally likely.
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = next_u64();
    while (x >= limit);
    return x % n;
}

}  // namespace tg
