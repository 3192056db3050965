#pragma once
// Internal (not installed): how activation checkpointing replays the random numbers a function
// drew. While a log is set on the thread, every draw from a generator (dropout's masks, the
// rand/randn/randint factories, the global generator behind unseeded calls) first notes that
// generator and its state before the draw; the recomputation puts those states back, runs the
// function again (the same masks come out), then restores the states the generators had.
#include <utility>
#include <vector>

#include "core/random.hpp"

namespace tg::detail {

struct RngLog {
    std::vector<std::pair<Generator*, Generator>> before;  // each generator once, as first drawn from
    void note(Generator& g) {
        for (const auto& [p, s] : before)
            if (p == &g) return;
        before.emplace_back(&g, g);
    }
};

/// The log of the checkpointed function running on this thread, or null.
inline thread_local RngLog* t_rng_log = nullptr;

/// Called before a draw from g.
inline void note_generator(Generator& g) {
    if (t_rng_log) t_rng_log->note(g);
}

/// Sets g's state, under the global generator's lock when g is the global generator.
void set_generator_state(Generator& g, const Generator& state);

}  // namespace tg::detail
