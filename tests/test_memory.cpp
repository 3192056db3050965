// Bounded memory (issue 8, item 6): a long run's live tensors, live bytes and tape entries come
// back to the same figures after every step. bench/soak runs far longer and reports RSS.
#include "helpers.hpp"

using namespace tg;

namespace {

const nn::GPTConfig kTiny{.vocab_size = 16, .context_length = 16, .d_model = 32, .n_layer = 2,
                          .n_head = 4, .dropout = 0.1, .seed = 5};

struct Drift {
    int steps_off = 0;  // steps whose figures differed from the baseline
    std::string first;  // what differed first
    void check(int step, const MemoryStats& base, const MemoryStats& now) {
        if (now.live_tensors == base.live_tensors && now.live_bytes == base.live_bytes &&
            now.tape_entries == base.tape_entries)
            return;
        if (steps_off++ == 0)
            first = fmt::format("step {}: live tensors {} -> {}, live bytes {} -> {}, tape entries {} -> {}", step,
                                base.live_tensors, now.live_tensors, base.live_bytes, now.live_bytes,
                                base.tape_entries, now.tape_entries);
    }
};

}  // namespace

TEST_CASE("2,000 training steps of a tiny GPT end every step with the same live memory and an empty tape",
          "[memory]") {
    nn::GPT model(kTiny);
    optim::AdamW opt(optim::weight_decay_groups(model, optim::AdamWOptions{.lr = 3e-3, .weight_decay = 0.1}));
    Generator gen(6);
    auto step = [&] {
        const Tensor x = Tensor::randint(0, kTiny.vocab_size, {4, kTiny.context_length}, gen);
        opt.zero_grad();
        Tensor loss = model.loss(x, x);
        loss.backward();
        opt.step();
        return loss.item<double>();
    };
    const MemoryStats before = memory_stats();
    step();  // the first step creates the gradients and AdamW's two moments per parameter
    const MemoryStats base = memory_stats();
    const int64_t param_bytes = before.live_bytes;
    CHECK(base.tape_entries == 0);
    CHECK(base.live_bytes > param_bytes);
    CHECK(base.live_bytes <= 4 * param_bytes + 64 * 1024);  // params, grads, two moments, the data

    Drift drift;
    double last = 0;
    for (int i = 1; i < 2000; ++i) {
        last = step();
        drift.check(i, base, memory_stats());
    }
    INFO(drift.first);
    CHECK(drift.steps_off == 0);
    CHECK(memory_stats().peak_bytes < base.live_bytes + 16 * 1024 * 1024);
    CHECK(std::isfinite(last));
}

TEST_CASE("10,000 forward passes of a tiny GPT without backward or NoGradGuard keep memory and tape bounded",
          "[memory]") {
    nn::GPT model(kTiny);
    Generator gen(7);
    const Tensor x = Tensor::randint(0, kTiny.vocab_size, {2, kTiny.context_length}, gen);
    { Tensor warm = model.loss(x, x); }
    const MemoryStats base = memory_stats();
    CHECK(base.tape_entries == 0);
    Drift drift;
    for (int i = 0; i < 10000; ++i) {
        {
            Tensor loss = model.loss(x, x);  // recorded, then dropped: its graph goes with it
        }
        drift.check(i, base, memory_stats());
    }
    INFO(drift.first);
    CHECK(drift.steps_off == 0);
}

TEST_CASE("evaluation under NoGradGuard records nothing at all", "[memory]") {
    nn::GPT model(kTiny);
    model.eval();
    Generator gen(8);
    const Tensor x = Tensor::randint(0, kTiny.vocab_size, {2, kTiny.context_length}, gen);
    NoGradGuard no_grad;
    const MemoryStats base = memory_stats();
    for (int i = 0; i < 100; ++i) {
        Tensor loss = model.loss(x, x);
        CHECK(tape_size() == 0);
        CHECK_FALSE(loss.requires_grad());
    }
    CHECK(memory_stats().live_bytes == base.live_bytes);
}
