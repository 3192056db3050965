// write_graph: the entries backward would walk, as Graphviz DOT (and SVG through `dot`).
#include "core/graph.hpp"

#include <fmt/format.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/atomic_file.hpp"
#include "core/check.hpp"
#include "core/format.hpp"
#include "core/internal/engine.hpp"
#include "core/internal/profiler.hpp"

extern char** environ;

namespace tg {

namespace {

std::string dot_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out;
}

std::string describe(const TensorImpl& t) { return fmt::format("{} {}", shape_str(t.shape), dtype_name(t.dtype)); }

bool ends_with(const std::string& s, std::string_view tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// Runs `dot -Tsvg in -o out`; false when dot is missing or fails.
bool run_dot(const std::string& in, const std::string& out) {
    std::string a0 = "dot", a1 = "-Tsvg", a2 = in, a3 = "-o", a4 = out;
    char* argv[] = {a0.data(), a1.data(), a2.data(), a3.data(), a4.data(), nullptr};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    const int rc = posix_spawnp(&pid, "dot", &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return false;
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

std::string graph_dot(const Tensor& root, const std::vector<std::pair<std::string, Tensor>>& names) {
    TG_CHECK(root.defined(), ValueError, "write_graph: root is an undefined tensor");
    TG_CHECK(root.requires_grad(), ValueError,
             "write_graph: root {} does not require grad, so backward() has no graph to walk from it (was it made "
             "under NoGradGuard, or from tensors that need no gradient?)",
             describe(*root.impl()));
    std::map<const TensorImpl*, std::string> name_of;
    for (const auto& [name, t] : names)
        if (t.defined()) name_of.emplace(t.impl().get(), name);  // a tied tensor keeps its first name

    const std::vector<detail::GraphEntry> entries = detail::reachable_entries(root, "write_graph");
    std::string out =
        "digraph tapegrad {\n"
        "  // The graph backward() walks, drawn by tapegrad's write_graph: inputs above, the root below.\n"
        "  graph [rankdir=TB, fontname=\"Helvetica\"];\n"
        "  node [shape=box, style=\"filled,rounded\", fontname=\"Helvetica\", fontsize=10, fillcolor=\"#e8e8e8\"];\n"
        "  edge [arrowsize=0.6];\n";
    std::map<const TensorImpl*, std::size_t> leaves;  // numbered as first met, so the text is the same each run
    auto leaf_id = [&](const TensorImpl* t) { return fmt::format("leaf{}", leaves.at(t)); };
    auto add_leaf = [&](const TensorImpl* t) {
        if (!leaves.emplace(t, leaves.size()).second) return;
        const auto it = name_of.find(t);
        const std::string label = it != name_of.end() ? fmt::format("{}\\n{}", dot_escape(it->second), describe(*t))
                                                      : fmt::format("leaf\\n{}", describe(*t));
        out += fmt::format("  {} [label=\"{}\", fillcolor=\"#cfe3f7\"];\n", leaf_id(t), label);
    };
    if (entries.empty()) add_leaf(root.impl().get());  // a leaf root: the graph is the leaf
    const uint64_t root_seq = root.impl()->grad_fn ? root.impl()->node_seq : 0;
    std::string edges;
    for (const detail::GraphEntry& e : entries) {
        std::string label = dot_escape(e.op);
        if (e.output) label += "\\n" + describe(*e.output);
        if (e.kept_bytes > 0) label += "\\nkeeps " + detail::bytes_str(e.kept_bytes);
        out += fmt::format("  op{} [label=\"{}\"{}];\n", e.seq, label,
                           e.seq == root_seq ? ", fillcolor=\"#c8e6a0\", penwidth=2" : "");
        for (const Tensor& in : e.inputs) {
            if (!in.defined() || !in.requires_grad()) continue;
            const TensorImpl* t = in.impl().get();
            if (t->grad_fn) {
                edges += fmt::format("  op{} -> op{};\n", t->node_seq, e.seq);
            } else {
                add_leaf(t);
                edges += fmt::format("  {} -> op{};\n", leaf_id(t), e.seq);
            }
        }
    }
    out += edges + "}\n";
    return out;
}

void write_graph(const Tensor& root, const std::string& path,
                 const std::vector<std::pair<std::string, Tensor>>& names) {
    const bool svg = ends_with(path, ".svg");
    TG_CHECK(svg || ends_with(path, ".dot") || ends_with(path, ".gv"), ValueError,
             "write_graph: '{}' must end in .dot or .gv (Graphviz DOT) or .svg (drawn by Graphviz's dot)", path);
    const std::string dot = graph_dot(root, names);
    if (!svg) {
        write_file_atomically(path, {dot}, "write_graph");
        return;
    }
    const std::string dot_path = path.substr(0, path.size() - 4) + ".dot";
    const std::string tmp_dot = path + ".tmp.dot", tmp_svg = path + ".tmp.svg";
    write_file_atomically(tmp_dot, {dot}, "write_graph");
    const bool drawn = run_dot(tmp_dot, tmp_svg);
    std::error_code ec;
    if (drawn) {
        std::filesystem::rename(tmp_svg, path, ec);
        std::filesystem::remove(tmp_dot);
        TG_CHECK(!ec, IOError, "write_graph: {}: cannot rename the drawn SVG into place: {}", path, ec.message());
        return;
    }
    std::filesystem::remove(tmp_svg, ec);
    std::filesystem::remove(tmp_dot, ec);
    write_file_atomically(dot_path, {dot}, "write_graph");
    fmt::print(stderr,
               "write_graph: Graphviz's dot is not installed (or failed), so {} holds the graph as DOT instead of "
               "{}; install Debian's graphviz for SVG, or run: dot -Tsvg {} -o {}\n",
               dot_path, path, dot_path, path);
}

void write_graph(const Tensor& root, const std::string& path) { write_graph(root, path, {}); }

}  // namespace tg
