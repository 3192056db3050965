// Threads (issue 8, item 5): every thread records on its own tape, so models trained at the
// same time in different threads give bit for bit what they give one after the other.
// The sanitizer stage of CI runs this file under ThreadSanitizer.
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "core/kernels/parallel.hpp"

#include "helpers.hpp"

using namespace tg;

namespace {

struct Run {
    std::vector<float> losses;
    std::vector<std::vector<float>> params;
};

// Trains a GPT with dropout (its masks come from the model's own generator) and AdamW on
// random tokens drawn from a generator of its own; everything it touches belongs to it.
Run train(const nn::GPTConfig& cfg, int64_t batch, int steps, uint64_t data_seed, int threads) {
    set_num_threads(threads);  // OpenMP's thread count is a per-thread setting
    nn::GPT model(cfg);
    optim::AdamW opt(optim::weight_decay_groups(model, optim::AdamWOptions{.lr = 1e-2, .weight_decay = 0.1}));
    Generator gen(data_seed);
    Run run;
    for (int step = 0; step < steps; ++step) {
        const Tensor x = Tensor::randint(0, cfg.vocab_size, {batch, cfg.context_length}, gen);
        opt.zero_grad();
        Tensor loss = model.loss(x, x);
        loss.backward();
        opt.step();
        run.losses.push_back(loss.item<float>());
    }
    for (const Tensor& p : model.parameters()) run.params.push_back(p.to_vector<float>());
    return run;
}

const nn::GPTConfig kSmall{.vocab_size = 16, .context_length = 16, .d_model = 32, .n_layer = 2,
                           .n_head = 4, .dropout = 0.1, .seed = 3};
// Big enough that its projections (8 x 64 rows x 128 x 512 = 2^25 multiply-adds) go through
// OpenBLAS's threaded path, and its row loops through OpenMP teams.
const nn::GPTConfig kLarger{.vocab_size = 32, .context_length = 64, .d_model = 128, .n_layer = 1,
                            .n_head = 4, .dropout = 0.1, .seed = 4};

}  // namespace

TEST_CASE("two models trained at the same time in two threads match training them one after the other",
          "[threads]") {
    const int threads = num_threads();
    const Run a_serial = train(kSmall, 4, 30, 11, threads);
    const Run b_serial = train(kLarger, 8, 4, 12, threads);
    const int64_t main_tape = tape_size();

    Run a_parallel, b_parallel;
    std::thread ta([&] { a_parallel = train(kSmall, 4, 30, 11, threads); });
    std::thread tb([&] { b_parallel = train(kLarger, 8, 4, 12, threads); });
    ta.join();
    tb.join();
    set_num_threads(threads);

    CHECK(a_parallel.losses == a_serial.losses);
    CHECK(a_parallel.params == a_serial.params);
    CHECK(b_parallel.losses == b_serial.losses);
    CHECK(b_parallel.params == b_serial.params);
    CHECK(a_serial.losses.back() < a_serial.losses.front());  // the runs did train
    CHECK(tape_size() == main_tape);
}

TEST_CASE("four threads training copies of one configuration all agree", "[threads]") {
    const Run reference = train(kSmall, 2, 10, 21, 1);
    std::vector<Run> runs(4);
    std::vector<std::thread> pool;
    for (auto& r : runs) pool.emplace_back([&r] { r = train(kSmall, 2, 10, 21, 1); });
    for (auto& t : pool) t.join();
    for (const Run& r : runs) {
        CHECK(r.losses == reference.losses);
        CHECK(r.params == reference.params);
    }
}

TEST_CASE("grad mode, anomaly mode and labels are per thread", "[threads]") {
    NoGradGuard no_grad;
    AnomalyGuard anomaly;
    std::atomic<bool> grad_in_thread{false}, anomaly_in_thread{true};
    std::thread t([&] {
        grad_in_thread = is_grad_enabled();
        anomaly_in_thread = is_anomaly_enabled();
    });
    t.join();
    CHECK(grad_in_thread);       // a new thread records, whatever this one does
    CHECK_FALSE(anomaly_in_thread);
    CHECK_FALSE(is_grad_enabled());
    CHECK(is_anomaly_enabled());
}

TEST_CASE("two threads saving and loading checkpoints of their own models do not interfere", "[threads]") {
    const auto dir = std::filesystem::temp_directory_path() / fmt::format("tg_threads_{}", ::getpid());
    std::filesystem::create_directories(dir);
    auto worker = [&dir](uint64_t seed, bool* ok) {
        nn::GPTConfig cfg = kSmall;
        cfg.seed = seed;
        nn::GPT model(cfg);
        const std::string path = (dir / fmt::format("m{}.safetensors", seed)).string();
        *ok = true;
        for (int i = 0; i < 20; ++i) {
            model.save(path);
            nn::GPT copy(nn::GPTConfig{.vocab_size = 16, .context_length = 16, .d_model = 32, .n_layer = 2,
                                       .n_head = 4, .seed = seed + 100});
            copy.load(path);
            const auto a = model.parameters(), b = copy.parameters();
            for (std::size_t k = 0; k < a.size(); ++k)
                *ok = *ok && a[k].to_vector<float>() == b[k].to_vector<float>();
        }
    };
    bool ok1 = false, ok2 = false;
    std::thread t1(worker, 1, &ok1), t2(worker, 2, &ok2);
    t1.join();
    t2.join();
    std::filesystem::remove_all(dir);
    CHECK(ok1);
    CHECK(ok2);
}

TEST_CASE("backward on a graph built by another thread is refused, and the graph stays usable", "[threads]") {
    Tensor w = Tensor::randn({3, 3}, Dtype::f64, 1).requires_grad_();
    Tensor loss = sum(tanh(matmul(w, w)));
    std::string error;
    std::thread t([&] {
        try {
            loss.backward();
        } catch (const Error& e) {
            error = e.what();
        }
    });
    t.join();
    CHECK_THAT(error, Catch::Contains("backward"));
    CHECK_THAT(error, Catch::Contains("was built on another thread"));
    CHECK_FALSE(w.grad().defined());
    loss.backward();  // on the thread that built it
    CHECK(w.grad().defined());
}

TEST_CASE("the adaptive thread policy's rule leaves a core to other processes only when they use most of one",
          "[threads]") {
    // cores_taken(others, taken at the last sample, allowed)
    CHECK(kernels::cores_taken(0.0, 0, 2) == 0);
    CHECK(kernels::cores_taken(0.55, 0, 2) == 0);  // noise around one half keeps what was
    CHECK(kernels::cores_taken(0.65, 0, 2) == 1);
    CHECK(kernels::cores_taken(0.45, 1, 2) == 1);
    CHECK(kernels::cores_taken(0.35, 1, 2) == 0);
    CHECK(kernels::cores_taken(1.9, 0, 2) == 1);  // one core is always left
    CHECK(kernels::cores_taken(5.0, 3, 2) == 1);
    CHECK(kernels::cores_taken(2.7, 0, 8) == 3);
    CHECK(kernels::cores_taken(2.5, 3, 8) == 3);
    CHECK(kernels::cores_taken(2.3, 3, 8) == 2);
    CHECK(kernels::cores_taken(1.0, 0, 1) == 0);  // nothing to give on one core
}

TEST_CASE("under the adaptive policy a busy core shrinks the team, and the fixed policy keeps it", "[threads]") {
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    REQUIRE(sched_getaffinity(0, sizeof cpus, &cpus) == 0);
    const int allowed = CPU_COUNT(&cpus);
    if (allowed < 2 || !std::filesystem::exists("/proc/stat")) {
        WARN("needs two CPUs and /proc/stat; skipped");
        return;
    }
    // Another process keeps a core busy (a child spinning until it is killed).
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        [[maybe_unused]] volatile uint64_t sink = 0;  // a store the compiler must keep: the loop never ends
        for (uint64_t i = 0;; ++i) sink = i;
    }
    struct Reap {
        pid_t pid;
        ~Reap() {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
        }
    } reap{child};
    const int before = num_threads();
    set_num_threads(allowed);
    const Tensor a = Tensor::ones({64});
    // Runs small ops (each lets the policy look at the clock) for up to `seconds`, until done().
    auto run_until = [&](double seconds, auto done) {
        const auto start = std::chrono::steady_clock::now();
        while (!done() && std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds)
            for (int i = 0; i < 100; ++i) (void)add(a, 1.0);
        return done();
    };
    set_thread_policy(ThreadPolicy::fixed);
    CHECK_FALSE(run_until(0.5, [&] { return active_threads() < allowed; }));
    set_thread_policy(ThreadPolicy::adaptive);
    const bool shrank = run_until(5.0, [&] { return active_threads() < allowed; });
    INFO("active threads " << active_threads() << " of " << allowed);
    CHECK(shrank);
    CHECK(num_threads() == allowed);  // what was asked for stays
    CHECK(active_threads() >= 1);
    // Back to the fixed policy: the next op restores the team asked for.
    set_thread_policy(ThreadPolicy::fixed);
    (void)add(a, 1.0);
    CHECK(active_threads() == allowed);
    set_num_threads(before);
}
