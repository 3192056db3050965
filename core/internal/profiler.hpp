#pragma once
// Internal (not installed): what ops, the tape and the engine tell the profiler, and how the
// bytes an op's tape entry saves are counted (memory_stats().saved_by_tape_bytes).
//
// Every built-in op opens an OpScope on its first line. While grad mode is on, the scope
// notes each buffer created inside it; when the op returns, the buffers still alive that are
// not its output are what its backward function captured (a mask, a mean, the softmax): the
// tape entry recorded in the scope keeps them, with its inputs. Each buffer the tape keeps is
// counted once, however many entries hold it, and parameters (leaves that require grad) are not
// counted: the model holds them anyway.
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/internal/tensor_impl.hpp"
#include "core/profiler.hpp"

namespace tg::detail {

struct Node;
struct ProfilerState;

/// The profiler recording on this thread, or null (one thread-local test per op when off).
inline thread_local ProfilerState* t_profiler = nullptr;

/// One op (or a custom op's RecordFunction) being run on this thread.
struct OpFrame {
    OpFrame* parent = nullptr;
    const char* name = nullptr;
    bool track = false;        // grad mode was on: note the buffers created
    int64_t event = -1;        // its profiler event, or -1
    uint64_t node_seq = 0;     // the last tape entry recorded in the frame (0: none)
    uint64_t first_seq = 0;    // the first
    // Buffers created in the frame (weakly: most die before it ends); four inline, then `more`.
    std::array<std::weak_ptr<Storage>, 4> born;
    int n_born = 0;
    std::vector<std::weak_ptr<Storage>> more;
    // The outputs of the entries recorded in the frame (never counted as saved).
    std::array<const Storage*, 4> outputs{};
    int n_outputs = 0;
    bool many_outputs = false;  // more than four: outputs are told apart by their entries instead

    void note_born(const std::shared_ptr<Storage>& s);
};

/// The innermost op frame of this thread, or null.
inline thread_local OpFrame* t_op_frame = nullptr;

/// Opens a frame for a built-in op on its first line: `const detail::OpScope scope("matmul");`.
class OpScope {
public:
    explicit OpScope(const char* name) {
        if (t_profiler || is_grad_enabled()) open(name);
    }
    ~OpScope() {
        if (open_) close();
    }
    OpScope(const OpScope&) = delete;
    OpScope& operator=(const OpScope&) = delete;

private:
    void open(const char* name);
    void close();
    OpFrame frame_;
    bool open_ = false;
};

/// A new TensorImpl took a buffer nobody else holds: the innermost tracking frame notes it
/// (frames opened under NoGradGuard exist only while a profiler records; skipping them keeps
/// the count the same with and without one).
inline void note_new_storage(const std::shared_ptr<Storage>& s) {
    for (OpFrame* f = t_op_frame; f; f = f->parent)
        if (f->track) {
            f->note_born(s);
            return;
        }
}

/// A frame closes with entry `seq` recorded in it: what it still holds beyond the entry's
/// output is attached to the entry (core/autograd.cpp, which owns the tape). Returns the bytes
/// newly kept alive.
int64_t attach_saved(uint64_t seq, const OpFrame& frame);
/// Counts one more tape reference to s (and its bytes, on its first); returns the bytes added.
int64_t hold_storage(Storage& s);
void drop_storage(Storage& s);

/// Bytes for people: "0", "512 B", "1.5 KB", "86.0 MB", "1.20 GB" (the profiler's table, write_graph).
std::string bytes_str(int64_t b);

/// Bytes every thread's tape keeps alive (memory_stats().saved_by_tape_bytes).
int64_t saved_by_tape_bytes();
/// Bytes of tensor buffers this thread has allocated, ever.
int64_t thread_alloc_bytes();
void add_thread_alloc(int64_t bytes);

// ---- the engine's spans (only while t_profiler is set) ----
/// A span of the backward pass: the whole walk (op == nullptr, shown as "backward") or one
/// entry's backward.
int64_t begin_backward_span(const char* op, int64_t module_span);
void end_backward_span(int64_t event);
/// record() made an entry of op (in a frame or not) that newly keeps `saved` bytes alive.
void profile_recorded(const char* op, int64_t saved, bool in_frame);
/// Storage's destructor: a buffer the tape still counted dies (its entry's closure let it go).
void storage_died_held(const Storage& s);
/// A module's forward (nn::Module's call): `name` is shown ("GPT" for a root, else the path),
/// `path` is its dotted path ("" for a root, "h.3.attn"); both interned.
int64_t begin_module_span(const char* name, const char* path);
void end_module_span(int64_t span);
/// The module span ops run under now (a handle for begin_backward_span), or -1.
int64_t current_module_span();

}  // namespace tg::detail
