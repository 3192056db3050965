#pragma once
/// \file
/// The profiler: where a step's time and memory go, per op and per module, forward and
/// backward, as torch.profiler shows it (key_averages().table(), export_chrome_trace).
///
///     tg::Profiler prof;                 // records on this thread from here
///     model.loss(x, y).backward();  opt.step();
///     prof.stop();
///     fmt::print("{}", prof.table({.sort_by = "total", .group_by = "op", .rows = 20}));
///     prof.export_chrome_trace("step.json");   // open in https://ui.perfetto.dev or chrome://tracing
///
/// Every built-in op is timed from its first line to its return (checks, allocation, the kernel
/// and its tape entry). For each op the profiler also records the bytes it allocated, the bytes
/// the tape keeps alive because of it (what memory_stats().saved_by_tape_bytes counts), the time
/// of its backward and the module it ran under (the dotted path of nn::Module names, "h.3.attn").
/// Off (no Profiler alive on the thread), an op pays one thread-local test for it.
#include <cstdint>
#include <memory>
#include <string>

namespace tg {

/// How Profiler::table arranges its rows.
struct ProfilerTableOptions {
    /// "total" (forward time with what it calls), "self" (without the ops and modules nested in
    /// it), "backward", "calls", "alloc" (bytes allocated), "saved" (bytes kept for backward) or
    /// "name"; largest first, names in order.
    std::string sort_by = "total";
    /// "op" (one row per op name), "module" (one row per module path: its forward span, the ops
    /// recorded under it and their backwards) or "range" (one row per RecordFunction name).
    std::string group_by = "op";
    int rows = 25;  ///< at most this many rows (the rest are summed in a last line); 0 for all
};

/// Records the ops, modules, backwards and RecordFunction ranges run on its thread while it
/// records (from construction to stop() or destruction), as torch.profiler.profile: see the
/// example at the top of this file. One Profiler records on a thread at a time.
class Profiler {
public:
    /// Starts recording on the constructing thread (an error if a Profiler already records there).
    Profiler();
    /// Stops recording; the results stay readable.
    ~Profiler();
    Profiler(const Profiler&) = delete;
    Profiler& operator=(const Profiler&) = delete;

    /// Records again (on the thread calling it), adding to what was recorded before.
    void start();
    /// Stops recording (a no-op when stopped). table() and export_chrome_trace() work either way.
    void stop();
    /// Whether it is recording now.
    bool recording() const;

    /// A table like torch.profiler's key_averages().table(): for each op (or module, or range)
    /// its calls, self and total forward time with their share of the recorded wall time, its
    /// backward time, bytes allocated and bytes kept for backward.
    std::string table(const ProfilerTableOptions& options = {}) const;
    /// Writes the recorded spans as Trace Event Format JSON ("X" events with microsecond
    /// timestamps; one track per thread; module spans enclose their op spans; backward spans
    /// under a "backward" span), which Perfetto and chrome://tracing open. Crash-safe (temporary
    /// file + rename).
    void export_chrome_trace(const std::string& path) const;

    /// What was recorded, summed over every op: for tests and tools.
    struct Totals {
        int64_t op_calls = 0;         ///< forward calls of ops (nested ones included)
        int64_t backward_calls = 0;   ///< tape entries whose backward ran
        int64_t alloc_bytes = 0;      ///< allocated by ops (outermost ones, so nothing twice)
        int64_t saved_bytes = 0;      ///< kept alive by the tape because of the ops recorded
        double wall_ms = 0;           ///< recorded wall time
    };
    /// The totals of everything recorded so far.
    Totals totals() const;

    struct State;  // the recorded events (core/profiler.cpp)

private:
    std::shared_ptr<State> state_;
};

/// Names a region of your code in the profiler's table (group_by "range") and trace, as
/// torch.profiler.record_function: `{ tg::RecordFunction r("optimizer"); opt.step(); }`.
/// A custom op puts one at its top, with the name it gives record(), so that its forward is
/// timed and what its backward saves is counted like a built-in op's:
/// `tg::RecordFunction r("my_op", tg::RecordFunction::Kind::op);`. Nothing happens while no
/// profiler records, except that an op scope still counts the bytes its tape entry saves.
class RecordFunction {
public:
    /// What the scope is.
    enum class Kind {
        range,  ///< a region of your code: a row of its own under group_by "range"
        op      ///< a custom op: timed and counted as an op, under the name it gives record()
    };
    /// name must outlive the scope (a string literal, say).
    explicit RecordFunction(const char* name, Kind kind = Kind::range);
    ~RecordFunction();
    RecordFunction(const RecordFunction&) = delete;
    RecordFunction& operator=(const RecordFunction&) = delete;

private:
    int64_t event_ = -1;  // its event in this thread's profiler, or -1
    void* frame_ = nullptr;  // an op's frame for counting saved bytes (core/profiler.cpp)
};

}  // namespace tg
