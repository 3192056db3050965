#pragma once
// What ops_fuzz.cpp and ops_fuzz_models.hpp share: the byte source every choice reads from,
// and a Call (an op, its inputs, what the reference expects of it, and how to run it).
#include <cstdint>
#include <functional>
#include <string>
#include <tapegrad.hpp>
#include <vector>

#include "ops_reference.hpp"

namespace tg::fuzz {

// ---- inputs from the fuzzer's bytes ----
// Each choice reads one byte (these ranges are all small); once the bytes run out every choice
// is its lowest value, so any input, even an empty one, describes a complete call.
struct Source {
    const uint8_t* data;
    std::size_t size;
    int64_t small(int64_t lo, int64_t hi) {
        if (size == 0) return lo;
        --size;
        return lo + static_cast<int64_t>(*data++) % (hi - lo + 1);
    }
    bool coin() { return small(0, 1) == 1; }
    Dtype dtype() {
        const int64_t c = small(0, 9);
        return c < 5 ? Dtype::f64 : c < 9 ? Dtype::f32 : Dtype::i64;
    }
    Shape shape(int64_t max_rank = 4) {
        Shape s(static_cast<std::size_t>(small(0, max_rank)));
        for (int64_t& d : s) d = small(0, 4);
        return s;
    }
    // A shape close to `base`: equal, with dims set to 1, with leading dims dropped, with one
    // dim changed, or unrelated.
    Shape near(const Shape& base) {
        Shape s = base;
        switch (small(0, 5)) {
            case 0: case 1: break;
            case 2: for (int64_t& d : s) if (coin()) d = 1; break;
            case 3: if (!s.empty()) s.erase(s.begin(), s.begin() + small(0, static_cast<int64_t>(s.size()))); break;
            case 4: if (!s.empty()) s[static_cast<std::size_t>(small(0, static_cast<int64_t>(s.size()) - 1))] = small(0, 4); break;
            default: s = shape();
        }
        return s;
    }
    // Exact small values: halves in [-4, 4] (ids in [lo, hi] for i64).
    Tensor values(const Shape& s, Dtype dt, int64_t lo = -1, int64_t hi = 5) {
        const auto n = static_cast<std::size_t>(numel(s));
        if (dt == Dtype::i64) {
            std::vector<int64_t> v(n);
            for (auto& x : v) x = small(lo, hi);
            return tensor(v, s);
        }
        std::vector<double> v(n);
        for (auto& x : v) x = static_cast<double>(small(-8, 8)) / 2.0;
        return to(tensor(v, s), dt);
    }
    Tensor any(const Shape& s) { return values(s, dtype()); }
};

// ---- the ops ----
// Every floating input is made to require grad before run. An op with several outputs (split,
// chunk) sets run_many instead of run, and its reference is expect.outs, one per output.
struct Call {
    std::string name;
    std::vector<Tensor> inputs;
    Expect expect;
    std::function<Tensor(const std::vector<Tensor>&)> run;
    std::function<std::vector<Tensor>(const std::vector<Tensor>&)> run_many;
};

inline Expect same_floating(const std::vector<Tensor>& xs) {
    for (const Tensor& x : xs)
        if (!floating(x) || x.dtype() != xs[0].dtype()) return Expect::bad();
    return {};
}

}  // namespace tg::fuzz
