// README's "What a step costs" example: a profiler over one training step of a small GPT (its
// table by op and by module, a Chrome trace), a forward hook, the tape drawn as a graph, the
// memory the tape keeps, and the same model with every block checkpointed. Built and run by
// the tests; its files go to the directory given as the first argument (default: the current).
#include <fmt/format.h>

#include <filesystem>
#include <tapegrad.hpp>

using namespace tg;

int main(int argc, char** argv) {
    const std::filesystem::path out = argc > 1 ? argv[1] : ".";
    nn::GPTConfig config{.vocab_size = 64, .context_length = 32, .d_model = 64, .n_layer = 4, .n_head = 4,
                         .dropout = 0.1, .seed = 1};
    nn::GPT model(config);
    optim::AdamW opt(model.parameters(), {.lr = 1e-3});
    Generator gen(2);
    const Tensor x = Tensor::randint(0, 64, {8, 32}, gen), y = Tensor::randint(0, 64, {8, 32}, gen);

    // A forward hook sees (and may replace) a module's outputs: here, the RMS of one block's.
    model.h[3]->register_forward_hook([](nn::Module& m, const std::vector<Tensor>&, std::vector<Tensor>& outs) {
        fmt::print("{} output RMS {:.3f}\n", m.path(), std::sqrt(mean(square(outs[0])).item<double>()));
    });

    Profiler prof;  // records this thread's ops, modules and backward from here
    Tensor loss = model.loss(x, y);
    const MemoryStats mem = memory_stats();
    write_graph(loss, (out / "gpt_graph.dot").string(), model.named_parameters());
    loss.backward();
    opt.step();
    prof.stop();
    fmt::print("{}", prof.table({.sort_by = "total", .rows = 8}));
    fmt::print("{}", prof.table({.sort_by = "total", .group_by = "module", .rows = 6}));
    prof.export_chrome_trace((out / "step_trace.json").string());  // open in ui.perfetto.dev
    // The same graph drawn by Graphviz's dot when Debian's graphviz is installed (else the .dot
    // again, and a line on stderr that says so); write_graph needs the graph, so it ran before
    // backward: here a fresh forward.
    write_graph(model.loss(x, y), (out / "gpt_graph.svg").string(), model.named_parameters());
    fmt::print("kept for backward: {:.2f} MB of {:.2f} MB live\n", mem.saved_by_tape_bytes / 1048576.0,
               mem.live_bytes / 1048576.0);

    // The same model with every block checkpointed: the tape keeps each block's input only.
    config.checkpoint_blocks = true;
    nn::GPT light(config);
    Tensor light_loss = light.loss(x, y);
    fmt::print("checkpointed: {:.2f} MB kept for backward, the same loss: {}\n",
               memory_stats().saved_by_tape_bytes / 1048576.0, light_loss.item<double>() == loss.item<double>());
    light_loss.backward();
    return light_loss.item<double>() == loss.item<double>() ? 0 : 1;
}
