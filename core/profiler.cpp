// The profiler's recording (spans of ops, modules, ranges and backwards on one thread) and
// the counting of the bytes the tape keeps alive, which memory_stats() reports with or without
// a profiler.
#include "core/profiler.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <string_view>

#include "core/atomic_file.hpp"
#include "core/check.hpp"
#include "core/format.hpp"
#include "core/internal/engine.hpp"
#include "core/internal/profiler.hpp"

namespace tg {

namespace detail {

namespace {
std::atomic<int64_t> g_saved_bytes{0};
std::atomic<uint32_t> g_next_state{1};
std::atomic<int> g_next_thread{1};
thread_local int64_t t_alloc_bytes = 0;

int thread_number() {
    thread_local const int n = g_next_thread.fetch_add(1, std::memory_order_relaxed);
    return n;
}

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// A span's handle: which recording state it belongs to (high bits) and its index (low bits),
// so that a scope opened under one profiler never closes another's span.
int64_t encode(uint32_t state, int64_t index) { return (static_cast<int64_t>(state) << 32) | index; }
}  // namespace

enum class EventKind : uint8_t { op, module, range, backward };

struct Event {
    const char* name;
    const char* path;    // a module span's dotted path ("" for a root module); null otherwise
    EventKind kind;
    int32_t parent;      // the enclosing span, or -1
    int32_t owner;       // the module span it ran under (a backward: the one its op ran under), or -1
    int64_t t0, t1;      // ns since the state's origin; t1 < 0 while open
    int64_t alloc = 0;   // bytes allocated in the span (at open: the thread's count then)
    int64_t saved = 0;   // bytes the tape newly keeps because of the op
};

struct ProfilerState {
    uint32_t serial = g_next_state.fetch_add(1, std::memory_order_relaxed);
    int64_t origin = now_ns();
    int tid = 0;
    bool recording = false;
    int64_t started_at = 0;   // while recording
    int64_t recorded_ns = 0;  // closed recording intervals
    std::vector<Event> events;
    std::vector<int32_t> open;
    int32_t module_at = -1;   // the innermost open module span, or -1
    int in_backward = 0;      // inside the walk of backward: ops run there are its time, not forward calls

    int64_t now() const { return now_ns() - origin; }

    // Opens a span; a backward span names its owner (the module span its op was recorded under).
    int64_t push(const char* name, EventKind kind, const char* path = nullptr, int32_t owner = -1) {
        const int32_t parent = open.empty() ? -1 : open.back();
        if (kind != EventKind::backward) owner = module_at;
        events.push_back(Event{name, path, kind, parent, owner, now(), -1, 0, 0});
        const auto i = static_cast<int32_t>(events.size() - 1);
        open.push_back(i);
        if (kind == EventKind::module) module_at = i;
        return encode(serial, i);
    }
    // The index of a handle of this state, or -1.
    int32_t index(int64_t handle) const {
        if (handle < 0 || static_cast<uint32_t>(handle >> 32) != serial) return -1;
        const int64_t i = handle & 0xffffffff;
        return i < static_cast<int64_t>(events.size()) ? static_cast<int32_t>(i) : -1;
    }
    Event* find(int64_t handle) {
        const int32_t i = index(handle);
        return i >= 0 ? &events[static_cast<std::size_t>(i)] : nullptr;
    }
    void pop(int64_t handle) {
        Event* e = find(handle);
        if (!e || e->t1 >= 0) return;
        e->t1 = now();
        const int32_t i = index(handle);
        // Spans close in the order they opened; one left open by an exception closes with its parent.
        while (!open.empty()) {
            const int32_t top = open.back();
            open.pop_back();
            if (events[static_cast<std::size_t>(top)].t1 < 0) events[static_cast<std::size_t>(top)].t1 = e->t1;
            if (top == i) break;
        }
        module_at = -1;
        for (auto it = open.rbegin(); it != open.rend(); ++it)
            if (events[static_cast<std::size_t>(*it)].kind == EventKind::module) {
                module_at = *it;
                break;
            }
    }
    void close_all() {
        const int64_t t = now();
        for (int32_t i : open)
            if (events[static_cast<std::size_t>(i)].t1 < 0) events[static_cast<std::size_t>(i)].t1 = t;
        open.clear();
        module_at = -1;
        in_backward = 0;
    }
    double wall_ns() const { return static_cast<double>(recorded_ns + (recording ? now() - started_at : 0)); }
    // The module path an event ran under, or null.
    const char* path_of(const Event& e) const {
        if (e.kind == EventKind::module) return e.path;
        return e.owner >= 0 ? events[static_cast<std::size_t>(e.owner)].path : nullptr;
    }
};

// ---- counting what the tape keeps ----

int64_t hold_storage(Storage& s) {
    if (s.tape_refs.fetch_add(1, std::memory_order_relaxed) != 0) return 0;
    const auto n = static_cast<int64_t>(s.nbytes);
    g_saved_bytes.fetch_add(n, std::memory_order_relaxed);
    return n;
}

void drop_storage(Storage& s) {
    if (s.tape_refs.fetch_sub(1, std::memory_order_relaxed) == 1)
        g_saved_bytes.fetch_sub(static_cast<int64_t>(s.nbytes), std::memory_order_relaxed);
}

void storage_died_held(const Storage& s) {
    g_saved_bytes.fetch_sub(static_cast<int64_t>(s.nbytes), std::memory_order_relaxed);
}

int64_t saved_by_tape_bytes() { return g_saved_bytes.load(std::memory_order_relaxed); }
int64_t thread_alloc_bytes() { return t_alloc_bytes; }
void add_thread_alloc(int64_t bytes) { t_alloc_bytes += bytes; }

void OpFrame::note_born(const std::shared_ptr<Storage>& s) {
    if (n_born < static_cast<int>(born.size())) born[static_cast<std::size_t>(n_born++)] = s;
    else more.push_back(s);
}

void OpScope::open(const char* name) {
    // An overload forwarding to another of the same name (sum(x) to sum(x, dims)) is one op.
    if (t_op_frame && std::strcmp(t_op_frame->name, name) == 0) return;
    open_ = true;
    frame_.name = name;
    frame_.track = is_grad_enabled();
    frame_.parent = t_op_frame;
    t_op_frame = &frame_;
    if (ProfilerState* p = t_profiler; p && p->in_backward == 0) {
        frame_.event = p->push(name, EventKind::op);
        p->events.back().alloc = t_alloc_bytes;
    }
}

void OpScope::close() {
    t_op_frame = frame_.parent;
    int64_t saved = 0;
    if (frame_.track) {
        if (frame_.node_seq != 0) {
            saved = attach_saved(frame_.node_seq, frame_);
        } else if (frame_.parent && frame_.parent->track) {
            // Nothing recorded here (a piece of a composite op): what survives may be kept by the
            // composite's own entry.
            auto pass = [&](const std::weak_ptr<Storage>& w) {
                if (auto s = w.lock()) frame_.parent->note_born(s);
            };
            for (int i = 0; i < frame_.n_born; ++i) pass(frame_.born[static_cast<std::size_t>(i)]);
            for (const auto& w : frame_.more) pass(w);
        }
    }
    if (ProfilerState* p = t_profiler) {
        if (Event* e = p->find(frame_.event)) {
            e->alloc = t_alloc_bytes - e->alloc;
            e->saved += saved;
            p->pop(frame_.event);
        }
    }
}

int64_t begin_module_span(const char* name, const char* path) {
    ProfilerState* p = t_profiler;
    // A module run again inside backward (activation checkpointing) is backward's time.
    return p && p->in_backward == 0 ? p->push(name, EventKind::module, path) : -1;
}

void end_module_span(int64_t span) {
    if (ProfilerState* p = t_profiler) p->pop(span);
}

int64_t current_module_span() {
    const ProfilerState* p = t_profiler;
    return p && p->module_at >= 0 ? encode(p->serial, p->module_at) : -1;
}

int64_t begin_backward_span(const char* op, int64_t module_span) {
    ProfilerState* p = t_profiler;
    if (!p) return -1;
    if (!op) {
        ++p->in_backward;
        return p->push("backward", EventKind::range);
    }
    return p->push(op, EventKind::backward, nullptr, p->index(module_span));
}

void end_backward_span(int64_t event) {
    ProfilerState* p = t_profiler;
    if (!p) return;
    if (const Event* e = p->find(event); e && e->t1 < 0 && e->kind == EventKind::range && p->in_backward > 0)
        --p->in_backward;
    p->pop(event);
}

// An op that records without a frame (a custom op with no RecordFunction): a span of no
// duration that carries its saved bytes.
int64_t instant_op(const char* op) {
    ProfilerState* p = t_profiler;
    const int64_t h = p->push(op, EventKind::op);
    p->pop(h);
    return h;
}

void profile_recorded(const char* op, int64_t saved, bool in_frame) {
    ProfilerState* p = t_profiler;
    if (!p || p->in_backward > 0) return;
    if (in_frame && t_op_frame->event >= 0) {
        if (Event* e = p->find(t_op_frame->event)) {
            e->name = op;  // the name backward shows too
            e->saved += saved;
            return;
        }
    }
    if (Event* e = p->find(instant_op(op))) e->saved = saved;
}

/// Bytes for people: "0", "512 B", "1.5 KB", "86.0 MB", "1.20 GB".
std::string bytes_str(int64_t b) {
    if (b == 0) return "0";
    const double v = static_cast<double>(b);
    if (b < 1024) return fmt::format("{} B", b);
    if (b < (int64_t{1} << 20)) return fmt::format("{:.1f} KB", v / 1024);
    if (b < (int64_t{1} << 30)) return fmt::format("{:.1f} MB", v / (1 << 20));
    return fmt::format("{:.2f} GB", v / (1 << 30));
}

}  // namespace detail

using detail::Event;
using detail::EventKind;
using detail::ProfilerState;

// ---- Profiler ----

struct Profiler::State : ProfilerState {};

Profiler::Profiler() : state_(std::make_shared<State>()) { start(); }

Profiler::~Profiler() { stop(); }

void Profiler::start() {
    if (state_->recording) return;
    TG_CHECK(detail::t_profiler == nullptr, ValueError,
             "Profiler: another Profiler already records on this thread; stop() it first (profilers do not nest)");
    state_->tid = detail::thread_number();
    state_->recording = true;
    state_->started_at = state_->now();
    detail::t_profiler = state_.get();
}

void Profiler::stop() {
    if (!state_->recording) return;
    state_->close_all();
    state_->recorded_ns += state_->now() - state_->started_at;
    state_->recording = false;
    if (detail::t_profiler == state_.get()) detail::t_profiler = nullptr;
}

bool Profiler::recording() const { return state_->recording; }

namespace {

int64_t duration(const ProfilerState& s, const Event& e) { return (e.t1 >= 0 ? e.t1 : s.now()) - e.t0; }

// Durations of each span's direct children, for self times.
std::vector<int64_t> child_time(const ProfilerState& s) {
    std::vector<int64_t> c(s.events.size(), 0);
    for (const Event& e : s.events)
        if (e.parent >= 0) c[static_cast<std::size_t>(e.parent)] += duration(s, e);
    return c;
}

// Whether span i lies inside an op span (so that its bytes are already its parent's).
bool nested_in_op(const ProfilerState& s, const Event& e) {
    for (int32_t p = e.parent; p >= 0; p = s.events[static_cast<std::size_t>(p)].parent)
        if (s.events[static_cast<std::size_t>(p)].kind == EventKind::op) return true;
    return false;
}


std::string json_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", static_cast<int>(c));
                else out += c;
        }
    }
    return out;
}

struct Row {
    std::string name;
    int64_t calls = 0, self = 0, total = 0, backward = 0, alloc = 0, saved = 0;
};

}  // namespace

Profiler::Totals Profiler::totals() const {
    const ProfilerState& s = *state_;
    Totals t;
    for (const Event& e : s.events) {
        if (e.kind == EventKind::op) {
            ++t.op_calls;
            t.saved_bytes += e.saved;
            if (!nested_in_op(s, e)) t.alloc_bytes += e.alloc;
        } else if (e.kind == EventKind::backward) {
            ++t.backward_calls;
        }
    }
    t.wall_ms = s.wall_ns() / 1e6;
    return t;
}

std::string Profiler::table(const ProfilerTableOptions& options) const {
    static const std::vector<std::string_view> kSorts{"total", "self", "backward", "calls", "alloc", "saved", "name"};
    TG_CHECK(std::find(kSorts.begin(), kSorts.end(), options.sort_by) != kSorts.end(), ValueError,
             "Profiler::table: sort_by must be total, self, backward, calls, alloc, saved or name, got '{}'",
             options.sort_by);
    TG_CHECK(options.group_by == "op" || options.group_by == "module" || options.group_by == "range", ValueError,
             "Profiler::table: group_by must be op, module or range, got '{}'", options.group_by);
    TG_CHECK(options.rows >= 0, ValueError, "Profiler::table: rows must be >= 0 (0 for all), got {}", options.rows);
    const ProfilerState& s = *state_;
    const std::vector<int64_t> children = child_time(s);
    std::map<std::string, Row> rows;
    auto row = [&](const std::string& name) -> Row& {
        Row& r = rows[name];
        r.name = name;
        return r;
    };
    int64_t forward_ops = 0, backward_total = 0, saved_total = 0;
    for (std::size_t i = 0; i < s.events.size(); ++i) {
        const Event& e = s.events[i];
        const int64_t d = duration(s, e);
        if (e.kind == EventKind::op) {
            saved_total += e.saved;
            if (!nested_in_op(s, e)) forward_ops += d;
        }
        if (e.kind == EventKind::range && e.parent < 0 && std::string_view(e.name) == "backward")
            backward_total += d;
        const bool take = (options.group_by == "op" && (e.kind == EventKind::op || e.kind == EventKind::backward)) ||
                          (options.group_by == "module" && e.kind == EventKind::module) ||
                          (options.group_by == "range" && e.kind == EventKind::range);
        if (!take) continue;
        Row& r = row(e.name);
        if (e.kind == EventKind::backward) {
            r.backward += d;
            continue;
        }
        ++r.calls;
        r.total += d;
        r.self += d - children[i];
        if (options.group_by == "op") {
            r.alloc += e.alloc;
            r.saved += e.saved;
        }
    }
    if (options.group_by == "module") {
        // A module's self time leaves out its child modules (not the ops it ran itself), and its
        // row takes the bytes and backward time of every op run under it or its descendants.
        for (auto& [name, r] : rows) r.self = r.total;
        for (const Event& e : s.events)
            if (e.kind == EventKind::module && e.owner >= 0)
                row(s.events[static_cast<std::size_t>(e.owner)].name).self -= duration(s, e);
        for (const Event& e : s.events) {
            const bool op = e.kind == EventKind::op && !nested_in_op(s, e);
            if (!op && e.kind != EventKind::backward) continue;
            std::vector<const char*> done;  // each row once per event
            for (int32_t m = e.owner; m >= 0; m = s.events[static_cast<std::size_t>(m)].owner) {
                const char* name = s.events[static_cast<std::size_t>(m)].name;
                if (std::find(done.begin(), done.end(), name) != done.end()) continue;
                done.push_back(name);
                Row& r = row(name);
                if (op) {
                    r.alloc += e.alloc;
                    r.saved += e.saved;
                } else {
                    r.backward += duration(s, e);
                }
            }
        }
    }
    std::vector<Row> sorted;
    for (auto& [name, r] : rows) sorted.push_back(r);
    auto key = [&](const Row& r) -> int64_t {
        if (options.sort_by == "self") return r.self;
        if (options.sort_by == "backward") return r.backward;
        if (options.sort_by == "calls") return r.calls;
        if (options.sort_by == "alloc") return r.alloc;
        if (options.sort_by == "saved") return r.saved;
        return r.total;
    };
    if (options.sort_by != "name")
        std::stable_sort(sorted.begin(), sorted.end(), [&](const Row& a, const Row& b) { return key(a) > key(b); });

    const double wall = std::max(1.0, s.wall_ns());
    const std::size_t shown = options.rows == 0 ? sorted.size() : std::min<std::size_t>(sorted.size(), options.rows);
    std::size_t width = 4;
    for (std::size_t i = 0; i < shown; ++i) width = std::max(width, std::min<std::size_t>(48, sorted[i].name.size()));
    const char* first = options.group_by == "op" ? "Op" : options.group_by == "module" ? "Module" : "Range";
    std::string out = fmt::format("{:<{}}  {:>7}  {:>10} {:>6}  {:>10} {:>6}  {:>11}  {:>9}  {:>9}\n", first, width,
                                  "Calls", "Self ms", "Self%", "Total ms", "Total%", "Backward ms", "Alloc", "Saved");
    const std::string rule(out.size() - 1, '-');
    out = rule + "\n" + out + rule + "\n";
    auto line = [&](const Row& r) {
        std::string name = r.name.size() > width ? r.name.substr(0, width - 3) + "..." : r.name;
        out += fmt::format("{:<{}}  {:>7}  {:>10.3f} {:>5.1f}%  {:>10.3f} {:>5.1f}%  {:>11.3f}  {:>9}  {:>9}\n",
                           name.empty() ? "(root)" : name, width, r.calls, r.self / 1e6, 100.0 * r.self / wall,
                           r.total / 1e6, 100.0 * r.total / wall, r.backward / 1e6, detail::bytes_str(r.alloc),
                           detail::bytes_str(r.saved));
    };
    for (std::size_t i = 0; i < shown; ++i) line(sorted[i]);
    if (shown < sorted.size() && options.group_by == "module") {
        // Modules nest, so the rest's times would count the same spans twice: only say how many.
        out += fmt::format("({} more modules; rows = 0 shows all)\n", sorted.size() - shown);
    } else if (shown < sorted.size()) {
        Row rest{fmt::format("({} more)", sorted.size() - shown)};
        for (std::size_t i = shown; i < sorted.size(); ++i) {
            rest.calls += sorted[i].calls;
            rest.self += sorted[i].self;
            rest.total += sorted[i].total;
            rest.backward += sorted[i].backward;
            rest.alloc += sorted[i].alloc;
            rest.saved += sorted[i].saved;
        }
        line(rest);
    }
    out += rule + "\n";
    out += fmt::format(
        "Recorded {:.3f} ms on thread {}: forward ops {:.3f} ms ({:.1f}%), backward {:.3f} ms ({:.1f}%); kept for "
        "backward {}\n",
        wall / 1e6, s.tid, forward_ops / 1e6, 100.0 * forward_ops / wall, backward_total / 1e6,
        100.0 * backward_total / wall, detail::bytes_str(saved_total));
    return out;
}

void Profiler::export_chrome_trace(const std::string& path) const {
    const ProfilerState& s = *state_;
    std::string out = "{\"traceEvents\":[\n";
    out += fmt::format(
        "{{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"tid\":{0},\"args\":{{\"name\":\"tapegrad\"}}}},\n"
        "{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":{0},\"args\":{{\"name\":\"thread {0}\"}}}}",
        s.tid);
    for (const Event& e : s.events) {
        const char* cat = e.kind == EventKind::op       ? "op"
                          : e.kind == EventKind::module ? "module"
                          : e.kind == EventKind::range  ? "range"
                                                        : "backward";
        std::string args;
        if (const char* path = s.path_of(e)) args += fmt::format("\"module\":\"{}\"", json_escape(path));
        if (e.kind == EventKind::op)
            args += fmt::format("{}\"alloc_bytes\":{},\"saved_bytes\":{}", args.empty() ? "" : ",", e.alloc, e.saved);
        out += fmt::format(",\n{{\"name\":\"{}\",\"cat\":\"{}\",\"ph\":\"X\",\"ts\":{:.3f},\"dur\":{:.3f},\"pid\":1,"
                           "\"tid\":{},\"args\":{{{}}}}}",
                           json_escape(e.name), cat, e.t0 / 1e3, duration(s, e) / 1e3, s.tid, args);
    }
    out += "\n],\"displayTimeUnit\":\"ms\"}\n";
    write_file_atomically(path, {out}, "Profiler::export_chrome_trace");
}

// ---- RecordFunction ----

RecordFunction::RecordFunction(const char* name, Kind kind) {
    TG_CHECK(name != nullptr, ValueError, "RecordFunction: name is null");
    if (kind == Kind::op) {
        if (detail::t_profiler || is_grad_enabled()) frame_ = new detail::OpScope(name);
        return;
    }
    if (detail::ProfilerState* p = detail::t_profiler) event_ = p->push(name, EventKind::range, nullptr);
}

RecordFunction::~RecordFunction() {
    delete static_cast<detail::OpScope*>(frame_);
    if (event_ >= 0)
        if (detail::ProfilerState* p = detail::t_profiler) p->pop(event_);
}

}  // namespace tg
