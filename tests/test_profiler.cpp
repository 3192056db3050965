// The profiler (its table, totals and Chrome trace), the bytes the tape keeps alive
// (memory_stats().saved_by_tape_bytes), reset_peak_memory, and nn::Module's forward hooks.
#include <fstream>
#include <optional>
#include <sstream>

#include "helpers.hpp"

using namespace tg;

namespace {

// The calls column of the table row named `name` (-1 when there is none).
int64_t calls_in(const std::string& table, const std::string& name) {
    std::istringstream in(table);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream words(line);
        std::string first;
        int64_t calls = -1;
        if (words >> first && first == name && words >> calls) return calls;
    }
    return -1;
}

std::string read_all(const std::string& path) {
    std::ifstream f(path);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

const nn::GPTConfig kTiny{.vocab_size = 16, .context_length = 8, .d_model = 16, .n_layer = 2, .n_head = 2,
                          .dropout = 0.1, .seed = 3};

}  // namespace

TEST_CASE("the profiler's table names every op with its calls, forward and backward", "[profiler]") {
    Generator gen(1);
    const Tensor a = Tensor::randn({4, 8}, Dtype::f32, gen);
    const Tensor w = Tensor::randn({8, 16}, Dtype::f32, gen).requires_grad_();
    Profiler prof;
    Tensor y = relu(matmul(a, w));
    Tensor z = relu(matmul(y, transpose(w, 0, 1)));
    Tensor loss = sum(z);
    loss.backward();
    prof.stop();
    const Profiler::Totals t = prof.totals();
    CHECK(t.backward_calls == 6);  // matmul, relu, permute (transpose's entry), matmul, relu, sum
    const std::string table = prof.table({.sort_by = "name", .rows = 0});
    INFO(table);
    CHECK(calls_in(table, "matmul") == 2);
    CHECK(calls_in(table, "relu") == 2);
    CHECK(calls_in(table, "sum") == 1);
    CHECK(calls_in(table, "transpose") == 1);
    CHECK(calls_in(table, "permute") == 1);  // run by transpose: nested ops count too
    CHECK(table.find("Backward ms") != std::string::npos);
    CHECK(table.find("Recorded ") != std::string::npos);
    // Ops run by backward are backward's time, not forward calls.
    CHECK(t.op_calls == 7);

    // Stopped, it records nothing more.
    Tensor more = relu(a);
    CHECK(prof.totals().op_calls == 7);
    CHECK(!prof.recording());
}

TEST_CASE("the bytes the profiler says each op saved add up to memory_stats().saved_by_tape_bytes",
          "[profiler][memory]") {
    REQUIRE(memory_stats().saved_by_tape_bytes == 0);
    Generator gen(2);
    const Tensor a = Tensor::randn({4, 8}, Dtype::f32, gen);                    // 128 bytes, held by matmul
    const Tensor w = Tensor::randn({8, 16}, Dtype::f32, gen).requires_grad_();  // a parameter: never counted
    {
        Tensor y = matmul(a, w);  // 256 bytes, held by relu
        Tensor z = relu(y);       // 256 bytes, held by sum
        Tensor loss = sum(z);
        CHECK(memory_stats().saved_by_tape_bytes == 128 + 256 + 256);
        loss.backward();
        CHECK(memory_stats().saved_by_tape_bytes == 0);  // backward frees the entries
    }

    nn::GPT model(kTiny);
    const Tensor x = Tensor::randint(0, kTiny.vocab_size, {2, kTiny.context_length}, gen);
    int64_t plain = 0;
    {
        Tensor loss = model.loss(x, x);
        plain = memory_stats().saved_by_tape_bytes;
        CHECK(plain > 0);
    }
    CHECK(memory_stats().saved_by_tape_bytes == 0);  // dropping the loss drops its graph
    Profiler prof;
    Tensor loss = model.loss(x, x);
    const int64_t kept = memory_stats().saved_by_tape_bytes;
    prof.stop();
    CHECK(kept == plain);
    CHECK(prof.totals().saved_bytes == kept);
    // dropout's mask, the softmax's statistics and layer_norm's mean and rstd are among them:
    // more than the inputs alone.
    const std::string by_op = prof.table({.sort_by = "saved", .rows = 0});
    INFO(by_op);
    CHECK(calls_in(by_op, "layer_norm") == 2 * kTiny.n_layer + 1);
    CHECK(calls_in(by_op, "dropout") == 1 + 2 * kTiny.n_layer);
    loss.backward();
    CHECK(memory_stats().saved_by_tape_bytes == 0);
}

TEST_CASE("the profiler groups by module path, with each module's ops, bytes and backward", "[profiler][nn]") {
    nn::GPT model(kTiny);
    Generator gen(3);
    const Tensor x = Tensor::randint(0, kTiny.vocab_size, {2, kTiny.context_length}, gen);
    Profiler prof;
    {
        RecordFunction r("step");
        model.loss(x, x).backward();
    }
    prof.stop();
    const std::string modules = prof.table({.sort_by = "name", .group_by = "module", .rows = 0});
    INFO(modules);
    CHECK(calls_in(modules, "GPT") == 1);
    CHECK(calls_in(modules, "h.0") == 1);
    CHECK(calls_in(modules, "h.1.attn") == 1);
    CHECK(calls_in(modules, "h.1.attn.c_attn") == 1);
    CHECK(calls_in(modules, "ln_f") == 1);
    const std::string ranges = prof.table({.group_by = "range"});
    CHECK(calls_in(ranges, "step") == 1);
    CHECK(calls_in(ranges, "backward") == 1);

    CHECK_THROWS_WITH(prof.table({.sort_by = "time"}), Catch::Contains("sort_by must be"));
    CHECK_THROWS_WITH(prof.table({.group_by = "layer"}), Catch::Contains("group_by must be"));
    Profiler other;
    CHECK_THROWS_WITH(Profiler(), Catch::Contains("already records on this thread"));
}

TEST_CASE("the Chrome trace is Trace Event JSON with module spans around their ops", "[profiler]") {
    nn::GPT model(kTiny);
    Generator gen(4);
    const Tensor x = Tensor::randint(0, kTiny.vocab_size, {2, kTiny.context_length}, gen);
    Profiler prof;
    model.loss(x, x).backward();
    prof.stop();
    const std::string path = (std::filesystem::temp_directory_path() / "tg_trace_test.json").string();
    prof.export_chrome_trace(path);
    const std::string json = read_all(path);
    CHECK(json.rfind("{\"traceEvents\":[", 0) == 0);
    CHECK(json.find("\"ph\":\"X\"") != std::string::npos);
    CHECK(json.find("\"name\":\"h.0.attn\",\"cat\":\"module\"") != std::string::npos);
    CHECK(json.find("\"name\":\"attention_qkv\",\"cat\":\"backward\"") != std::string::npos);
    CHECK(json.find("\"module\":\"h.0.attn\"") != std::string::npos);
    std::filesystem::remove(path);
    CHECK_THROWS_WITH(prof.export_chrome_trace("/nonexistent-dir/trace.json"),
                      Catch::Contains("export_chrome_trace"));
}

TEST_CASE("reset_peak_memory restarts the peak at the bytes live now", "[memory]") {
    {
        const Tensor big = Tensor::zeros({1024, 1024});  // 4 MB
    }
    CHECK(memory_stats().peak_bytes >= 4 * 1024 * 1024);
    reset_peak_memory();
    const MemoryStats now = memory_stats();
    CHECK(now.peak_bytes == now.live_bytes);
    const Tensor small = Tensor::zeros({16});
    CHECK(memory_stats().peak_bytes == now.live_bytes + 64);
}

TEST_CASE("forward hooks run in PyTorch's order and can be removed", "[nn][hooks]") {
    nn::Linear lin(4, 3);
    std::vector<std::string> order;
    HookHandle a = lin.register_forward_pre_hook([&](nn::Module&, std::vector<Tensor>&) { order.push_back("pre a"); });
    HookHandle b = lin.register_forward_pre_hook([&](nn::Module&, std::vector<Tensor>&) { order.push_back("pre b"); },
                                                 /*prepend=*/true);
    HookHandle c = lin.register_forward_hook(
        [&](nn::Module& m, const std::vector<Tensor>& in, std::vector<Tensor>& out) {
            order.push_back(fmt::format("post {} {} {}", m.type_name(), in.size(), out.size()));
        });
    const Tensor x = Tensor::ones({2, 4});
    lin(x);
    CHECK(order == std::vector<std::string>{"pre b", "pre a", "post Linear 1 1"});
    order.clear();
    a.remove();
    a.remove();  // a second remove is a no-op
    lin(x);
    CHECK(order == std::vector<std::string>{"pre b", "post Linear 1 1"});
    order.clear();
    b.remove();
    c.remove();
    lin(x);
    lin.forward(x);  // forward() itself never runs hooks, as in PyTorch
    CHECK(order.empty());
}

TEST_CASE("hooks can change a module's inputs and outputs, and gradients follow", "[nn][hooks]") {
    nn::Linear lin(3, 2);
    const Tensor x = Tensor::ones({1, 3});
    const Tensor plain = lin(x);
    lin.register_forward_pre_hook([](nn::Module&, std::vector<Tensor>& in) { in[0] = mul(in[0], 2.0); });
    lin.register_forward_hook([](nn::Module&, const std::vector<Tensor>&, std::vector<Tensor>& out) {
        out[0] = add(out[0], 1.0);
    });
    Tensor y = lin(x);
    // y = 2 x W^T + b + 1 against plain = x W^T + b.
    const Tensor want = add(sub(mul(plain, 2.0), lin.bias), 1.0);
    test::require_close(y.detach(), want.detach(), 1e-6);
    sum(y).backward();
    // d/dW of sum(2 x W^T) is 2 for every weight (x is ones).
    test::require_close(lin.weight.grad(), Tensor::full({2, 3}, 2.0), 1e-6);

    // Hooks on the modules a model calls fire when the model runs (a GPT's blocks, say).
    nn::GPT model(kTiny);
    int attn_calls = 0;
    for (auto& [name, m] : model.named_modules())
        if (name.size() > 5 && name.substr(name.size() - 5) == ".attn")
            m->register_forward_hook([&](nn::Module& mod, const std::vector<Tensor>& in, std::vector<Tensor>& out) {
                ++attn_calls;
                CHECK(mod.path().substr(0, 2) == "h.");
                CHECK(in[0].shape() == out[0].shape());
            });
    Generator gen(5);
    model.loss(Tensor::randint(0, 16, {1, 8}, gen), Tensor::randint(0, 16, {1, 8}, gen));
    CHECK(attn_calls == kTiny.n_layer);
}

TEST_CASE("an exception from a hook leaves the call; the module and the profiler stay usable", "[nn][hooks]") {
    nn::Linear lin(3, 2);
    const Tensor x = Tensor::ones({1, 3});
    Profiler prof;
    HookHandle h = lin.register_forward_hook(
        [](nn::Module&, const std::vector<Tensor>&, std::vector<Tensor>&) { throw ValueError("hook says no"); });
    CHECK_THROWS_WITH(lin(x), Catch::Contains("hook says no"));
    h.remove();
    HookHandle bad = lin.register_forward_pre_hook([](nn::Module&, std::vector<Tensor>& in) { in.push_back(in[0]); });
    CHECK_THROWS_WITH(lin(x), Catch::Contains("the module takes 1 tensor argument(s), the hook left 2"));
    bad.remove();
    CHECK(lin(x).shape() == Shape{1, 2});
    prof.stop();
    // Every span closed: three calls of the module, each with its ops inside.
    const std::string modules = prof.table({.group_by = "module"});
    INFO(modules);
    CHECK(calls_in(modules, "Linear") == 3);
    CHECK_THROWS_WITH(lin.register_forward_hook(nn::ForwardHook()), Catch::Contains("is empty"));
}

TEST_CASE("under anomaly detection an op's report names the module path it ran in", "[nn][hooks][anomaly]") {
    nn::GPT model(kTiny);
    // A NaN in one block's attention projection: the report names that module.
    model.h[1]->attn.c_attn.weight.detach().fill_(std::nan(""));
    Generator gen(6);
    const Tensor x = Tensor::randint(0, kTiny.vocab_size, {1, kTiny.context_length}, gen);
    AnomalyGuard anomaly;
    CHECK_THROWS_WITH(model.loss(x, x), Catch::Contains("label 'h.1.attn.c_attn'"));
}

TEST_CASE("write_graph draws the entries backward walks, with parameter names, shapes and kept bytes",
          "[graph]") {
    nn::Sequential net;
    net.push_back(std::make_shared<nn::Linear>(3, 4));
    net.push_back(std::make_shared<nn::ReLU>());
    net.push_back(std::make_shared<nn::Linear>(4, 2));
    const Tensor x = Tensor::ones({5, 3});
    const Tensor loss = sum(net(x));
    const std::string dot = graph_dot(loss, net.named_parameters());
    INFO(dot);
    auto count = [&](std::string_view what) {
        int64_t n = 0;
        for (std::size_t at = dot.find(what); at != std::string::npos; at = dot.find(what, at + 1)) ++n;
        return n;
    };
    // Entries: linear, relu, linear, sum; leaves: the four parameters (x needs no gradient).
    CHECK(count(" [label=\"linear\\n") == 2);
    CHECK(count(" [label=\"relu\\n(5, 4) f32") == 1);
    CHECK(count(" [label=\"sum\\n() f32") == 1);
    CHECK(count("fillcolor=\"#cfe3f7\"") == 4);
    CHECK(count(" -> ") == 3 + 4);  // linear -> relu -> linear -> sum, and each parameter into its linear
    CHECK(dot.find("0.weight\\n(4, 3) f32") != std::string::npos);
    CHECK(dot.find("2.bias\\n(2,) f32") != std::string::npos);
    CHECK(dot.find("keeps 80 B") != std::string::npos);  // relu holds the first linear's (5, 4) output
    CHECK(count("penwidth=2") == 1);                     // the root

    const std::string dir = std::filesystem::temp_directory_path().string();
    write_graph(loss, dir + "/tg_graph_test.dot");
    CHECK(read_all(dir + "/tg_graph_test.dot") == graph_dot(loss));
    std::filesystem::remove(dir + "/tg_graph_test.dot");
    CHECK_THROWS_WITH(write_graph(loss, dir + "/g.png"), Catch::Contains("must end in .dot or .gv"));
    CHECK_THROWS_WITH(graph_dot(Tensor::ones({2})), Catch::Contains("does not require grad"));
    Tensor l2 = sum(net(x));
    l2.backward();
    CHECK_THROWS_WITH(graph_dot(l2), Catch::Contains("already freed by backward()"));
}

TEST_CASE("a custom op with an op RecordFunction is timed, and what its backward captured is counted",
          "[profiler][memory]") {
    // clip_positive(a) = a * (a > 0), its backward capturing the mask (64 bytes).
    auto clip_positive = [](const Tensor& a) {
        const RecordFunction scope("clip_positive", RecordFunction::Kind::op);
        Tensor mask, out;
        {
            NoGradGuard ng;
            mask = gt(a, 0.0).to(Dtype::f32);
            out = mul(a, mask);
        }
        return record("clip_positive", out, {a}, [mask](const Tensor& dy, const Tensor&) {
            return Grads{mul(dy, mask)};
        });
    };
    const Tensor w = Tensor::randn({16}, Dtype::f32, 1).requires_grad_();
    for (bool profiled : {false, true}) {
        INFO(profiled);
        std::optional<Profiler> prof;
        if (profiled) prof.emplace();
        Tensor x = mul(w, 2.0);               // 64 bytes, held by clip_positive
        Tensor y = clip_positive(x);
        CHECK(memory_stats().saved_by_tape_bytes == 64 + 64);  // its input and the mask
        if (profiled) {
            prof->stop();
            CHECK(calls_in(prof->table(), "clip_positive") == 1);
            CHECK(prof->totals().saved_bytes == 128);
        }
    }
}

TEST_CASE("ops built on a shared helper are one call each, whatever their size", "[profiler]") {
    const Tensor a = Tensor::randn({64}, Dtype::f32, 5);
    Profiler prof;
    const Tensor n = isnan(a), l = lt(a, 0.0), s = sum(a), t = tril(Tensor::ones({4, 4}));
    prof.stop();
    const std::string table = prof.table({.rows = 0});
    INFO(table);
    CHECK(calls_in(table, "isnan") == 1);
    CHECK(calls_in(table, "lt") == 1);
    CHECK(calls_in(table, "sum") == 1);
    CHECK(calls_in(table, "tril") == 1);
}
