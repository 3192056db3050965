#include "core/threads.hpp"

#include <fmt/format.h>
#include <omp.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>

#include "core/error.hpp"
#include "core/kernels/blas.hpp"
#include "core/kernels/parallel.hpp"

namespace tg {

namespace {

// ---- the team size on a busy machine ----
// OpenMP's and OpenBLAS's threads wait for each other at the end of every parallel region. When
// another process keeps one of the cores busy, the thread that shares a core with it finishes
// its share late, and the other spins or sleeps meanwhile: a step with two threads on two cores,
// one of them busy, took up to twice as long as with one thread (README, "Threads"). So, unless
// the policy is `fixed`, the team a thread asked for (set_num_threads) is capped at the cores
// that are free: every 100 ms, the busy time of the CPUs this process may run on (/proc/stat)
// minus this process's own CPU time (getrusage) says how many cores other processes used.

constexpr int64_t kSampleNs = 100'000'000;  // how often the machine is looked at
constexpr int64_t kCheckNs = 20'000'000;    // how often a thread looks at the last sample

int64_t coarse_now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

ThreadPolicy policy_from_env() {
    const char* env = std::getenv("TG_THREAD_POLICY");
    if (!env || !*env || std::strcmp(env, "adaptive") == 0) return ThreadPolicy::adaptive;
    if (std::strcmp(env, "fixed") == 0) return ThreadPolicy::fixed;
    fmt::print(stderr, "tapegrad: TG_THREAD_POLICY={} is not adaptive or fixed; using adaptive\n", env);
    return ThreadPolicy::adaptive;
}

std::atomic<ThreadPolicy> g_policy{policy_from_env()};

// Busy seconds (user, nice, system, irq, softirq, steal) of the CPUs in `cpus`, from /proc/stat,
// -1 when it cannot be read here, -2 when it could not be opened for now (out of file
// descriptors: the next sample tries again). Steal counts: a hypervisor's other guests are
// other processes too.
double busy_seconds(const cpu_set_t& cpus) {
    std::FILE* f = std::fopen("/proc/stat", "r");
    if (!f) return errno == EMFILE || errno == ENFILE || errno == EINTR ? -2 : -1;  // -2: try again later
    static const double tick = [] {
        const long t = sysconf(_SC_CLK_TCK);
        return t > 0 ? 1.0 / static_cast<double>(t) : 0.01;
    }();
    char line[512];
    unsigned long long total = 0;
    bool any = false;
    while (std::fgets(line, sizeof line, f)) {
        int cpu = -1;
        unsigned long long user, nice, system, idle, iowait, irq, softirq, steal = 0;
        if (std::strncmp(line, "cpu", 3) != 0 || line[3] < '0' || line[3] > '9') continue;
        if (std::sscanf(line + 3, "%d %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &user, &nice, &system, &idle,
                        &iowait, &irq, &softirq, &steal) < 8)
            continue;
        if (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &cpus)) continue;
        total += user + nice + system + irq + softirq + steal;
        any = true;
    }
    std::fclose(f);
    return any ? static_cast<double>(total) * tick : -1;
}

double process_cpu_seconds() {
    rusage r;
    getrusage(RUSAGE_SELF, &r);
    auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
    return s(r.ru_utime) + s(r.ru_stime);
}

// What the last samples say, shared by every thread of the process.
struct Machine {
    std::mutex mutex;
    bool measurable = true;
    cpu_set_t cpus;
    int allowed = 0;  // CPUs this process may run on
    int64_t last_ns = 0;
    double last_busy = 0, last_self = 0;
    double others = 0;  // cores other processes kept busy, smoothed over the last samples
    std::atomic<int> free_cores{0};  // 0 until measured
};

Machine& machine() {
    static Machine m;
    return m;
}

// Takes a sample when the last one is older than kSampleNs (one thread at a time; the others
// use the last result) and returns the free cores (0: unknown).
int free_cores(int64_t now) {
    Machine& m = machine();
    std::unique_lock lock(m.mutex, std::try_to_lock);
    if (!lock.owns_lock() || !m.measurable || now - m.last_ns < kSampleNs) return m.free_cores.load();
    if (m.last_ns == 0) {
        CPU_ZERO(&m.cpus);
        if (sched_getaffinity(getpid(), sizeof m.cpus, &m.cpus) != 0) {
            m.measurable = false;
            return 0;
        }
        m.allowed = CPU_COUNT(&m.cpus);
    }
    const double busy = busy_seconds(m.cpus), self = process_cpu_seconds();
    if (busy < 0) {
        m.measurable = busy == -2;
        return m.free_cores.load();
    }
    if (m.last_ns != 0) {
        const double wall = static_cast<double>(now - m.last_ns) * 1e-9;
        const double others = std::max(0.0, (busy - m.last_busy - (self - m.last_self)) / wall);
        const int free = m.free_cores.load();  // 0 before the first measurement
        m.others = free == 0 ? others : 0.5 * m.others + 0.5 * others;
        m.free_cores = m.allowed - kernels::cores_taken(m.others, free > 0 ? m.allowed - free : 0, m.allowed);
    }
    m.last_ns = now, m.last_busy = busy, m.last_self = self;
    return m.free_cores.load();
}

// Per thread: the team asked for, the team in force, and when to look again.
thread_local int t_requested = 0;  // 0: OpenMP's default, taken at the first look
thread_local int t_seen = 0;       // the team set at this thread's last look (0: none yet)
thread_local int64_t t_next_check = 0;

void apply_team(int team) {
    const bool same = team == t_seen && team == omp_get_max_threads();
    t_seen = team;
    if (same) return;
    omp_set_num_threads(team);
    // OpenBLAS's count is process-wide, so it is never lowered here (another thread may be
    // inside a product): its OpenMP build follows this thread's omp_get_max_threads() down by
    // itself, and only needs raising back from one.
    kernels::blas_raise_threads(team);
}

}  // namespace

namespace kernels {

/// How many of `allowed` cores count as taken by other processes using `others` cores, given
/// that `taken` did at the last sample: a core counts as taken once they use more than 0.6 of
/// it and as free again below 0.4 (so noise around one half does not flip the team), and one
/// core is always left.
int cores_taken(double others, int taken, int allowed) {
    taken = std::clamp(taken, 0, std::max(allowed - 1, 0));
    while (taken < allowed - 1 && others > taken + 0.6) ++taken;
    while (taken > 0 && others < taken - 0.6) --taken;
    return taken;
}

void refresh_team() {
    const int64_t now = coarse_now_ns();
    if (now < t_next_check) return;
    t_next_check = now + kCheckNs;
    if (omp_in_parallel()) return;
    // The first look, or omp_set_num_threads called directly (not through set_num_threads):
    // what OpenMP has now is the request.
    if (t_requested == 0 || omp_get_max_threads() != t_seen) t_requested = omp_get_max_threads();
    if (t_requested <= 1 || g_policy.load() == ThreadPolicy::fixed) {
        apply_team(t_requested);
        return;
    }
    const int free = free_cores(now);
    apply_team(free > 0 ? std::min(t_requested, free) : t_requested);
}

}  // namespace kernels

void set_num_threads(int n) {
    if (n < 1) throw ValueError(fmt::format("set_num_threads: need at least 1 thread, got {}", n));
    t_requested = n;
    t_seen = n;
    t_next_check = 0;  // the next op looks at the machine again
    omp_set_num_threads(n);
    kernels::blas_set_num_threads(n);
}

int num_threads() {
    // Set directly through OpenMP since the last look: that is the request now.
    return t_requested > 0 && omp_get_max_threads() == t_seen ? t_requested : omp_get_max_threads();
}

int active_threads() { return omp_get_max_threads(); }

void set_thread_policy(ThreadPolicy policy) {
    g_policy = policy;
    t_next_check = 0;
}

ThreadPolicy thread_policy() { return g_policy.load(); }

std::string blas_info() { return kernels::blas_description(); }

void set_matmul_engine(MatmulEngine engine) { kernels::set_gemm_engine_setting(engine); }

MatmulEngine matmul_engine() { return kernels::gemm_engine_setting(); }

}  // namespace tg
