// LSTM, GRU and their cells (issue 27, item 5): PyTorch's outputs and gradients in float64
// (tests/data/make_rnn_reference.py) from PyTorch-named checkpoints, the recurrence ops'
// gradchecks, names and initialisation, bad input, and a small sequence task learnt in f32.
#include <cmath>
#include <string>
#include <vector>

#include "core/kernels/mixed.hpp"
#include "helpers.hpp"

using namespace tg;
using namespace tg::test;
using Catch::Contains;

namespace {

const std::map<std::string, Tensor>& reference() {
    static const std::map<std::string, Tensor> r =
        read_reference(std::string(TG_TEST_DATA_DIR) + "/rnn_reference.safetensors");
    return r;
}

bool has(const std::string& name) { return reference().count(name) > 0; }

const Tensor& reference_tensor(const std::string& name) {
    const auto it = reference().find(name);
    INFO("reference tensor " << name);
    REQUIRE(it != reference().end());
    return it->second;
}

Tensor leaf(const std::string& name) { return has(name) ? clone(reference_tensor(name)).requires_grad_() : Tensor(); }

// Loads the case's PyTorch state_dict into m through a safetensors file, as a user would load a
// converted checkpoint, after checking that m names its parameters as PyTorch does.
void load_reference(nn::Module& m, const std::string& p) {
    nn::NamedTensors sd;
    for (const auto& [name, t] : m.state_dict()) sd.emplace_back(name, reference_tensor(p + name));
    const TempDir dir;
    nn::save_safetensors(dir.file("rnn.safetensors"), sd);
    m.load(dir.file("rnn.safetensors"));
}

// sum(r_output * output) + sum(r_h * h) (+ sum(r_c * c)) as the reference script's loss, then
// the outputs and every gradient against PyTorch's to 1e-10.
void check_against_reference(nn::Module& m, const std::string& p, const nn::RNNOutput& out,
                             const std::vector<std::pair<std::string, Tensor>>& inputs) {
    Tensor loss;
    for (const auto& [key, t] : {std::pair{"output", out.output}, std::pair{"h", out.h}, std::pair{"c", out.c}}) {
        INFO("output " << key);
        REQUIRE(t.defined() == has(p + key));
        if (!t.defined()) continue;
        require_close(t, reference_tensor(p + key), 1e-10);
        const Tensor term = sum(t * reference_tensor(p + "r_" + key));
        loss = loss.defined() ? loss + term : term;
    }
    loss.backward();
    for (const auto& [name, param] : m.named_parameters()) {
        INFO("gradient of " << name);
        require_close(param.grad(), reference_tensor(p + "grad." + name), 1e-10);
    }
    for (const auto& [name, t] : inputs) {
        INFO("gradient of " << name);
        require_close(t.grad(), reference_tensor(p + "grad." + name), 1e-10);
    }
}

std::vector<std::pair<std::string, Tensor>> named(const Tensor& x, const Tensor& h0, const Tensor& c0 = {}) {
    std::vector<std::pair<std::string, Tensor>> v{{"x", x}};
    if (h0.defined()) v.emplace_back("h0", h0);
    if (c0.defined()) v.emplace_back("c0", c0);
    return v;
}

std::vector<std::string> parameter_names(const nn::Module& m) {
    std::vector<std::string> names;
    for (const auto& [name, t] : m.named_parameters()) names.push_back(name);
    return names;
}

}  // namespace

TEST_CASE("LSTM and GRU load PyTorch's state_dict and match its outputs and gradients", "[nn][rnn]") {
    struct Case {
        const char* name;
        bool lstm;
        int64_t in, H;
        nn::LSTMOptions options;
    };
    const std::vector<Case> cases = {
        {"lstm_two_layers", true, 3, 4, {.num_layers = 2, .seed = 1}},
        {"lstm_batch_first_no_bias", true, 3, 5, {.bias = false, .batch_first = true, .seed = 2}},
        {"lstm_unbatched", true, 2, 3, {.seed = 3}},
        {"gru_two_layers", false, 3, 4, {.num_layers = 2, .seed = 4}},
        {"gru_batch_first", false, 4, 3, {.batch_first = true, .seed = 5}},
        {"gru_unbatched_no_bias", false, 2, 3, {.num_layers = 2, .bias = false, .seed = 6}},
    };
    for (const Case& c : cases) {
        INFO(c.name);
        const std::string p = std::string(c.name) + ".";
        Tensor x = leaf(p + "x"), h0 = leaf(p + "h0"), c0 = leaf(p + "c0");
        if (c.lstm) {
            nn::LSTM m(c.in, c.H, c.options);
            m.to(Dtype::f64);
            load_reference(m, p);
            check_against_reference(m, p, m(x, h0, c0), named(x, h0, c0));
        } else {
            nn::GRU m(c.in, c.H, c.options);
            m.to(Dtype::f64);
            load_reference(m, p);
            check_against_reference(m, p, m(x, h0), named(x, h0));
        }
    }
}

TEST_CASE("LSTMCell and GRUCell load PyTorch's state_dict and match its outputs and gradients", "[nn][rnn]") {
    {
        const std::string p = "lstm_cell.";
        nn::LSTMCell m(3, 4, {.seed = 1});
        m.to(Dtype::f64);
        load_reference(m, p);
        Tensor x = leaf(p + "x"), h0 = leaf(p + "h0"), c0 = leaf(p + "c0");
        nn::RNNOutput out = m(x, h0, c0);
        CHECK(out.output.shape() == Shape{2, 4});
        out.output = Tensor();  // PyTorch's cell returns (h, c) only
        check_against_reference(m, p, out, named(x, h0, c0));
    }
    for (const std::string name : {"gru_cell", "gru_cell_unbatched"}) {
        INFO(name);
        const std::string p = name + ".";
        const bool batched = name == "gru_cell";
        nn::GRUCell m(batched ? 3 : 2, batched ? 4 : 3, {.seed = 2});
        m.to(Dtype::f64);
        load_reference(m, p);
        Tensor x = leaf(p + "x"), h0 = leaf(p + "h0");
        check_against_reference(m, p, {Tensor(), m(x, h0), Tensor()}, named(x, h0));
    }
}

TEST_CASE("lstm_recurrence and gru_recurrence pass gradcheck through every operand", "[nn][rnn][gradcheck]") {
    const int64_t T = 3, B = 2, H = 3;
    Tensor xl = randn64({T, B, 4 * H}, 1).requires_grad_(), h0 = randn64({B, H}, 2).requires_grad_();
    Tensor c0 = randn64({B, H}, 3).requires_grad_();
    Tensor wl = (randn64({4 * H, H}, 4) * 0.5).requires_grad_(), bl = randn64({4 * H}, 5).requires_grad_();
    // Each of the three results, weighted so that no two share a gradient by accident.
    check_grad([](const std::vector<Tensor>& in) {
        const LSTMSequence r = lstm_recurrence(in[0], in[1], in[2], in[3], in[4]);
        return sum(r.output * r.output) + sum(r.h * 2.0) + sum(sin(r.c));
    }, {xl, h0, c0, wl, bl});
    check_grad([](const std::vector<Tensor>& in) { return sum(lstm_recurrence(in[0], in[1], in[2], in[3], Tensor()).output); },
               {xl, h0, c0, wl});

    Tensor xg = randn64({T, B, 3 * H}, 6).requires_grad_();
    Tensor wg = (randn64({3 * H, H}, 7) * 0.5).requires_grad_(), bg = randn64({3 * H}, 8).requires_grad_();
    check_grad([](const std::vector<Tensor>& in) {
        const Tensor y = gru_recurrence(in[0], in[1], in[2], in[3]);
        return sum(y * y) + sum(select(y, 0, -1) * 3.0);
    }, {xg, h0, wg, bg});
    check_grad([](const std::vector<Tensor>& in) { return sum(sin(gru_recurrence(in[0], in[1], in[2], Tensor()))); },
               {xg, h0, wg});

    // One step by hand: with W_hh = 0 and no bias, c = sigmoid(i) tanh(g) + sigmoid(f) c0.
    const Tensor x1 = tensor({0.5, -1.0, 2.0, 0.25}, {1, 1, 4}), z = Tensor::zeros({1, 1}, Dtype::f64);
    const LSTMSequence one = lstm_recurrence(x1, z, tensor({3.0}, {1, 1}), Tensor::zeros({4, 1}, Dtype::f64), Tensor());
    auto sig = [](double a) { return 1.0 / (1.0 + std::exp(-a)); };
    const double c = sig(0.5) * std::tanh(2.0) + sig(-1.0) * 3.0;
    CHECK(one.c.item() == Approx(c).epsilon(1e-14));
    CHECK(one.h.item() == Approx(sig(0.25) * std::tanh(c)).epsilon(1e-14));
    CHECK(one.output.shape() == Shape{1, 1, 1});
}

TEST_CASE("LSTM, GRU and the cells pass gradcheck as modules, batch_first and stacked", "[nn][rnn][gradcheck]") {
    nn::LSTM lstm(2, 3, {.num_layers = 2, .batch_first = true, .seed = 7});
    lstm.to(Dtype::f64);
    Tensor x = randn64({2, 4, 2}, 8).requires_grad_();
    check_module_grad(lstm, [&] {
        const nn::RNNOutput r = lstm(x);
        return sum(r.output * r.output) + sum(r.h) + sum(r.c * 0.5);
    }, {x});
    nn::GRU gru(2, 3, {.num_layers = 2, .seed = 9});
    gru.to(Dtype::f64);
    Tensor h0 = randn64({2, 4, 3}, 10).requires_grad_();
    check_module_grad(gru, [&] { return sum(gru(x, h0).output * 2.0) + sum(gru(x, h0).h); }, {x, h0});
    nn::LSTMCell lc(2, 3, {.seed = 11});
    lc.to(Dtype::f64);
    Tensor x2 = randn64({4, 2}, 12).requires_grad_();
    check_module_grad(lc, [&] {
        const nn::RNNOutput s = lc(x2);
        const nn::RNNOutput s2 = lc(x2, s.h, s.c);  // two steps, the second from the first's state
        return sum(s2.h * s2.h) + sum(s2.c);
    }, {x2});
    nn::GRUCell gc(2, 3, {.bias = false, .seed = 13});
    gc.to(Dtype::f64);
    check_module_grad(gc, [&] { return sum(gc(x2, gc(x2)) * 1.5); }, {x2});
}

TEST_CASE("LSTM and GRU: PyTorch's parameter names, shapes, initialisation and layouts", "[nn][rnn]") {
    nn::LSTM lstm(5, 4, {.num_layers = 2, .seed = 1});
    CHECK(parameter_names(lstm) == std::vector<std::string>{"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                                            "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1"});
    CHECK(lstm.weight_ih[0].shape() == Shape{16, 5});
    CHECK(lstm.weight_ih[1].shape() == Shape{16, 4});
    CHECK(lstm.weight_hh[1].shape() == Shape{16, 4});
    for (const Tensor& p : lstm.parameters()) CHECK(all(abs(p) <= 0.5).item<bool>());  // U(-1/sqrt(4), 1/sqrt(4))
    CHECK(lstm.summary().find("LSTM(5, 4, num_layers=2)") != std::string::npos);

    nn::GRU gru(5, 4, {.bias = false, .batch_first = true, .seed = 1});
    CHECK(parameter_names(gru) == std::vector<std::string>{"weight_ih_l0", "weight_hh_l0"});
    CHECK(gru.weight_hh[0].shape() == Shape{12, 4});
    CHECK(gru.summary().find("GRU(5, 4, bias=false, batch_first=true)") != std::string::npos);
    CHECK(parameter_names(nn::LSTMCell(3, 2)) == std::vector<std::string>{"weight_ih", "weight_hh", "bias_ih", "bias_hh"});
    CHECK(nn::GRUCell(3, 2).weight_ih.shape() == Shape{6, 3});

    // The same seed draws the same layer; batch_first only transposes the layout.
    nn::LSTM a(3, 2, {.seed = 4}), b(3, 2, {.batch_first = true, .seed = 4});
    const Tensor x = Tensor::randn({5, 2, 3}, Dtype::f32, 2);
    const nn::RNNOutput ra = a(x), rb = b(transpose(x, 0, 1));
    CHECK(ra.output.shape() == Shape{5, 2, 2});
    CHECK(rb.output.shape() == Shape{2, 5, 2});
    require_close(transpose(rb.output, 0, 1), ra.output, 1e-6);
    require_close(rb.h, ra.h, 1e-6);
    CHECK(ra.h.shape() == Shape{1, 2, 2});
    // h_n is the output's last step, and an unbatched input is the batch of one.
    require_close(select(ra.output, 0, -1), select(ra.h, 0, 0), 0);
    const nn::RNNOutput one = a(select(x, 1, 0));
    CHECK(one.output.shape() == Shape{5, 2});
    CHECK(one.c.shape() == Shape{1, 2});
    require_close(one.output, select(ra.output, 1, 0), 1e-6);
    // A sequence run in two halves, the second from the first's state, is the whole sequence.
    const nn::RNNOutput first = a(narrow(x, 0, 0, 2));
    const nn::RNNOutput second = a(narrow(x, 0, 2, 3), first.h, first.c);
    require_close(second.output, narrow(ra.output, 0, 2, 3), 1e-6);
    require_close(second.c, ra.c, 1e-6);
}

TEST_CASE("LSTM, GRU and the cells refuse bad input, naming the layer and what to do", "[nn][rnn][errors]") {
    nn::LSTM lstm(3, 4, {.num_layers = 2, .seed = 1});
    nn::GRU gru(3, 4, {.seed = 1});
    const Tensor x = Tensor::randn({5, 2, 3}, Dtype::f32, 1);
    REQUIRE_THROWS_WITH(nn::LSTM(3, 0), Contains("LSTM: input_size, hidden_size and num_layers must be positive, got 3, 0 and 1"));
    REQUIRE_THROWS_WITH(nn::GRU(3, 2, {.num_layers = 0}), Contains("GRU: input_size, hidden_size and num_layers must be positive"));
    REQUIRE_THROWS_WITH(lstm(Tensor::randn({5, 2, 4}, Dtype::f32, 2)),
                        Contains("LSTM: expected the input (T, B, 3) or unbatched (T, 3), got (5, 2, 4)"));
    REQUIRE_THROWS_WITH(lstm(Tensor::randn({5, 2, 3}, Dtype::f64, 2)),
                        Contains("LSTM: the input is f64 but the parameters are f32; convert one of them"));
    REQUIRE_THROWS_WITH(lstm(Tensor::randn({0, 2, 3}, Dtype::f32, 2)), Contains("LSTM: the input (0, 2, 3) has no steps"));
    REQUIRE_THROWS_WITH(lstm(x, Tensor::zeros({2, 2, 4})), Contains("LSTM: give both initial states h0 and c0, or neither"));
    REQUIRE_THROWS_WITH(lstm(x, Tensor::zeros({1, 2, 4}), Tensor::zeros({1, 2, 4})),
                        Contains("LSTM: h0 must be (2, 2, 4) (num_layers, batch, hidden_size), got (1, 2, 4)"));
    REQUIRE_THROWS_WITH(lstm(select(x, 1, 0), Tensor::zeros({2, 2, 4}), Tensor::zeros({2, 2, 4})),
                        Contains("LSTM: h0 must be (2, 4) (num_layers, hidden_size), got (2, 2, 4)"));
    REQUIRE_THROWS_WITH(gru(x, Tensor::zeros({1, 2, 4}, Dtype::f64)), Contains("GRU: h0 is f64 but the parameters are f32"));
    REQUIRE_THROWS_WITH(gru(Tensor()), Contains("GRU: the input is an undefined tensor"));
    REQUIRE_THROWS_WITH(gru.forward(Tensor::randn({2, 5, 2, 3}, Dtype::f32, 3)), Contains("GRU: expected the input"));
    nn::GRU bf(3, 4, {.batch_first = true});
    REQUIRE_THROWS_WITH(bf(Tensor::randn({2, 5, 4}, Dtype::f32, 3)),
                        Contains("GRU: expected the input (B, T, 3) or unbatched (T, 3), got (2, 5, 4)"));
    nn::LSTMCell lc(3, 4);
    nn::GRUCell gc(3, 4);
    REQUIRE_THROWS_WITH(lc(Tensor::randn({2, 3}, Dtype::f32, 4), Tensor::zeros({2, 4})),
                        Contains("LSTMCell: give both states h and c, or neither"));
    REQUIRE_THROWS_WITH(gc(Tensor::randn({2, 3}, Dtype::f32, 4), Tensor::zeros({3, 4})),
                        Contains("GRUCell: h must be (2, 4), got (3, 4)"));
    REQUIRE_THROWS_WITH(gc(Tensor::randn({5, 2, 3}, Dtype::f32, 4)),
                        Contains("GRUCell: expected the input (B, 3) or unbatched (3), got (5, 2, 3)"));
}

TEST_CASE("An LSTM and a GRU learn to tell which of two markers came first in a sequence", "[nn][rnn]") {
    // Sequences of 8 noise steps with a +1 marker on feature 0 and another on feature 1 at two
    // random positions; the label is whether feature 0's came first. Needs memory across steps.
    const int64_t T = 8, B = 64;
    Generator gen(3);
    auto batch = [&](Tensor& x, Tensor& y) {
        std::vector<double> xv(static_cast<std::size_t>(T * B * 2)), yv(static_cast<std::size_t>(B));
        for (int64_t b = 0; b < B; ++b) {
            const int64_t p = static_cast<int64_t>(gen.uniform() * T);
            int64_t q = static_cast<int64_t>(gen.uniform() * (T - 1));
            if (q >= p) ++q;
            xv[static_cast<std::size_t>((p * B + b) * 2)] = 1.0;
            xv[static_cast<std::size_t>((q * B + b) * 2 + 1)] = 1.0;
            yv[static_cast<std::size_t>(b)] = p < q;
        }
        x = to(tensor(xv, {T, B, 2}), Dtype::f32);
        y = to(tensor(yv, {B, 1}), Dtype::f32);
    };
    for (bool lstm_kind : {true, false}) {
        INFO((lstm_kind ? "LSTM" : "GRU"));
        nn::LSTM lstm(2, 16, {.seed = 1});
        nn::GRU gru(2, 16, {.seed = 1});
        nn::Linear head(16, 1, {.seed = 2});
        std::vector<Tensor> params = lstm_kind ? lstm.parameters() : gru.parameters();
        for (const Tensor& p : head.parameters()) params.push_back(p);
        optim::Adam opt(params, {.lr = 0.02});
        double first = 0, last = 0, accuracy = 0;
        for (int step = 0; step < 150; ++step) {
            Tensor x, y;
            batch(x, y);
            const Tensor h = lstm_kind ? select(lstm(x).h, 0, 0) : select(gru(x).h, 0, 0);
            const Tensor logit = head(h);
            const Tensor loss = binary_cross_entropy_with_logits(logit, y);
            opt.zero_grad();
            loss.backward();
            opt.step();
            (step == 0 ? first : last) = loss.item();
            accuracy = mean(to(eq(gt(logit, 0.0), gt(y, 0.5)), Dtype::f32)).item();
        }
        INFO("first loss " << first << ", last " << last << ", accuracy " << accuracy);
        CHECK(first > 0.6);
        CHECK(last < 0.2);
        CHECK(accuracy > 0.9);
    }
}

TEST_CASE("README's recurrent layer example runs as written", "[nn][rnn]") {
    // README: Recurrent layers
    tg::nn::LSTM lstm(2, 16, {.num_layers = 2, .batch_first = true});
    tg::Tensor x = tg::Tensor::randn({8, 20, 2});  // (B, T, features)
    auto [output, h, c] = lstm(x);                 // (8, 20, 16), then (2, 8, 16) twice
    tg::nn::GRU gru(16, 4, {.batch_first = true});
    tg::Tensor last = gru(output).h.squeeze(0);    // (8, 4): the GRU's state after the last step
    CHECK(output.shape() == tg::Shape{8, 20, 16});
    CHECK(h.shape() == tg::Shape{2, 8, 16});
    CHECK(c.shape() == tg::Shape{2, 8, 16});
    CHECK(last.shape() == tg::Shape{8, 4});
    require_close(last, select(gru(output).output, 1, -1), 0);
}

TEST_CASE("LSTM and GRU run under bf16 autocast: the input projections in bf16, the recurrence in f32", "[nn][rnn]") {
    // (T B, in) @ (in, G H) with every side >= 32 and >= 2^20 multiply-adds: big enough for bf16.
    nn::LSTM lstm(64, 48, {.seed = 1});
    nn::GRU gru(64, 48, {.seed = 2});
    const Tensor x = Tensor::randn({16, 8, 64}, Dtype::f32, 3);
    const Tensor l32 = lstm(x).output, g32 = gru(x).output;
    Tensor l16, g16;
    {
        Autocast mixed(Dtype::bf16);
        l16 = lstm(x).output;
        g16 = gru(x).output;
    }
    CHECK(l16.dtype() == Dtype::f32);
    CHECK(g16.dtype() == Dtype::f32);
    const double dl = amax(abs(l16 - l32)).item(), dg = amax(abs(g16 - g32)).item();
    INFO("largest differences from f32: LSTM " << dl << ", GRU " << dg);
    // Where this CPU runs bf16 products (AVX512_BF16, AMX, or TG_AUTOCAST_EMULATE=1) they did here;
    // elsewhere autocast leaves them in f32.
    const bool bf16 = kernels::bf16_route(16 * 8, 3 * 48, 64) != kernels::Bf16Route::float32;
    CHECK((dl > 0) == bf16);
    CHECK((dg > 0) == bf16);
    CHECK(dl < 0.05);
    CHECK(dg < 0.05);
    sum(l16 + g16).backward();
    CHECK(lstm.weight_ih[0].grad().defined());
    CHECK(gru.weight_hh[0].grad().defined());
}
