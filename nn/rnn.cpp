// LSTM, GRU and their cells. A layer's input projection for every step is one linear over
// (T, B, in); the recurrence is core's lstm_recurrence / gru_recurrence (one tape entry a layer).
#include "rnn.hpp"

#include <cmath>

#include "../core/check.hpp"
#include "../core/format.hpp"
#include "../core/ops.hpp"
#include "init.hpp"

namespace tg::nn {

namespace {

void check_sizes(const char* who, int64_t input_size, int64_t hidden_size, int64_t num_layers) {
    TG_CHECK(input_size > 0 && hidden_size > 0 && num_layers > 0, ValueError,
             "{}: input_size, hidden_size and num_layers must be positive, got {}, {} and {}", who, input_size,
             hidden_size, num_layers);
}

// A parameter of `shape` ~ U(-1/sqrt(H), 1/sqrt(H)), PyTorch's initialisation of every RNN weight.
Tensor rnn_uniform(const Shape& shape, int64_t H, Generator& gen) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(H));
    Tensor t = Tensor::empty(shape, Dtype::f32);
    init::uniform_(t, -bound, bound, gen);
    return t;
}

// Registers a stack of layers' parameters in PyTorch's order and names (weight_ih_l0,
// weight_hh_l0, bias_ih_l0, bias_hh_l0, then _l1, ...), G H rows each.
void register_layers(Module& m, int64_t G, int64_t in, int64_t H, int64_t L, bool bias, const Seed& seed,
                     std::vector<Parameter>& w_ih, std::vector<Parameter>& w_hh, std::vector<Parameter>& b_ih,
                     std::vector<Parameter>& b_hh) {
    Generator gen(resolve_seed(seed));
    for (int64_t k = 0; k < L; ++k) {
        w_ih.push_back(m.register_parameter(fmt::format("weight_ih_l{}", k), rnn_uniform({G * H, k == 0 ? in : H}, H, gen)));
        w_hh.push_back(m.register_parameter(fmt::format("weight_hh_l{}", k), rnn_uniform({G * H, H}, H, gen)));
        if (!bias) continue;
        b_ih.push_back(m.register_parameter(fmt::format("bias_ih_l{}", k), rnn_uniform({G * H}, H, gen)));
        b_hh.push_back(m.register_parameter(fmt::format("bias_hh_l{}", k), rnn_uniform({G * H}, H, gen)));
    }
}

// A cell's parameters under PyTorch's names (weight_ih, weight_hh, bias_ih, bias_hh), G H rows each.
void register_cell(Module& m, int64_t G, int64_t in, int64_t H, bool bias, const Seed& seed, Parameter& w_ih,
                   Parameter& w_hh, Parameter& b_ih, Parameter& b_hh) {
    Generator gen(resolve_seed(seed));
    w_ih = m.register_parameter("weight_ih", rnn_uniform({G * H, in}, H, gen));
    w_hh = m.register_parameter("weight_hh", rnn_uniform({G * H, H}, H, gen));
    if (!bias) return;
    b_ih = m.register_parameter("bias_ih", rnn_uniform({G * H}, H, gen));
    b_hh = m.register_parameter("bias_hh", rnn_uniform({G * H}, H, gen));
}

// The input checked and laid out as (T, B, input_size); `batched` says whether it had a batch dim.
struct Sequence {
    Tensor steps;
    bool batched;
};

Sequence as_sequence(const char* who, const Tensor& x, int64_t input_size, bool batch_first, Dtype dtype) {
    TG_CHECK(x.defined(), ValueError, "{}: the input is an undefined tensor", who);
    TG_CHECK(x.dtype() == dtype, DtypeError,
             "{}: the input is {} but the parameters are {}; convert one of them (x.to(Dtype::{}) or the "
             "module's to(Dtype::{}))",
             who, dtype_name(x.dtype()), dtype_name(dtype), dtype_name(dtype), dtype_name(x.dtype()));
    TG_CHECK((x.dim() == 2 || x.dim() == 3) && x.shape().back() == input_size, ShapeError,
             "{}: expected the input {}, {}) or unbatched (T, {}), got {}", who,
             batch_first ? "(B, T" : "(T, B", input_size, input_size, shape_str(x.shape()));
    const bool batched = x.dim() == 3;
    Tensor steps = !batched ? unsqueeze(x, 1) : batch_first ? transpose(x, 0, 1) : x;
    TG_CHECK(steps.shape()[0] > 0, ValueError, "{}: the input {} has no steps (T = 0)", who, shape_str(x.shape()));
    return {steps, batched};
}

// An initial state (num_layers, B, H) from the user's (num_layers, B, H), or (num_layers, H)
// for an unbatched input; zeros when undefined.
Tensor initial_state(const char* who, const char* name, const Tensor& s, int64_t L, int64_t B, int64_t H, bool batched,
                     Dtype dtype) {
    if (!s.defined()) return Tensor::zeros({L, B, H}, dtype);
    const Shape want = batched ? Shape{L, B, H} : Shape{L, H};
    TG_CHECK(s.shape() == want, ShapeError, "{}: {} must be {} (num_layers{}, hidden_size), got {}", who, name,
             shape_str(want), batched ? ", batch" : "", shape_str(s.shape()));
    TG_CHECK(s.dtype() == dtype, DtypeError, "{}: {} is {} but the parameters are {}", who, name, dtype_name(s.dtype()),
             dtype_name(dtype));
    return batched ? s : unsqueeze(s, 1);
}

// (T, B, H) back to the input's layout; states (L, B, H) to (L, H) when unbatched.
Tensor output_layout(const Tensor& out, bool batched, bool batch_first) {
    return !batched ? squeeze(out, 1) : batch_first ? transpose(out, 0, 1) : out;
}
Tensor state_layout(const Tensor& s, bool batched) { return batched ? s : squeeze(s, 1); }

std::string rnn_repr(int64_t in, int64_t H, int64_t L, bool bias, bool batch_first) {
    std::string s = fmt::format("{}, {}", in, H);
    if (L != 1) s += fmt::format(", num_layers={}", L);
    if (!bias) s += ", bias=false";
    if (batch_first) s += ", batch_first=true";
    return s;
}

// One step's input (B, in) or unbatched (in) for a cell, as a sequence of one step.
Sequence cell_input(const char* who, const Tensor& x, int64_t input_size, Dtype dtype) {
    TG_CHECK(x.defined(), ValueError, "{}: the input is an undefined tensor", who);
    TG_CHECK((x.dim() == 1 || x.dim() == 2) && x.shape().back() == input_size, ShapeError,
             "{}: expected the input (B, {}) or unbatched ({}), got {}", who, input_size, input_size,
             shape_str(x.shape()));
    return as_sequence(who, unsqueeze(x, 0), input_size, false, dtype);
}

Tensor cell_state(const char* who, const char* name, const Tensor& s, int64_t B, int64_t H, bool batched, Dtype dtype) {
    if (!s.defined()) return Tensor::zeros({B, H}, dtype);
    const Shape want = batched ? Shape{B, H} : Shape{H};
    TG_CHECK(s.shape() == want, ShapeError, "{}: {} must be {}, got {}", who, name, shape_str(want),
             shape_str(s.shape()));
    TG_CHECK(s.dtype() == dtype, DtypeError, "{}: {} is {} but the parameters are {}", who, name, dtype_name(s.dtype()),
             dtype_name(dtype));
    return batched ? s : unsqueeze(s, 0);
}

}  // namespace

// ---- LSTM and GRU ----

LSTM::LSTM(int64_t in, int64_t H, const LSTMOptions& o)
    : input_size(in), hidden_size(H), num_layers(o.num_layers), bias(o.bias), batch_first(o.batch_first) {
    check_sizes("LSTM", in, H, o.num_layers);
    register_layers(*this, 4, in, H, num_layers, bias, o.seed, weight_ih, weight_hh, bias_ih, bias_hh);
}

RNNOutput LSTM::forward(const Tensor& x, const Tensor& h0, const Tensor& c0) {
    const Dtype dt = weight_ih[0].dtype();
    const Sequence seq = as_sequence("LSTM", x, input_size, batch_first, dt);
    TG_CHECK(h0.defined() == c0.defined(), ValueError,
             "LSTM: give both initial states h0 and c0, or neither (zeros); got only {}", h0.defined() ? "h0" : "c0");
    const int64_t B = seq.steps.shape()[1];
    const Tensor h_init = initial_state("LSTM", "h0", h0, num_layers, B, hidden_size, seq.batched, dt);
    const Tensor c_init = initial_state("LSTM", "c0", c0, num_layers, B, hidden_size, seq.batched, dt);
    Tensor steps = seq.steps;
    std::vector<Tensor> hs, cs;
    for (int64_t k = 0; k < num_layers; ++k) {
        const Tensor x_proj = linear(steps, weight_ih[k], bias ? bias_ih[k] : Tensor());
        LSTMSequence r = lstm_recurrence(x_proj, select(h_init, 0, k), select(c_init, 0, k), weight_hh[k],
                                         bias ? bias_hh[k] : Tensor());
        steps = r.output;
        hs.push_back(r.h);
        cs.push_back(r.c);
    }
    return {output_layout(steps, seq.batched, batch_first), state_layout(stack(hs, 0), seq.batched),
            state_layout(stack(cs, 0), seq.batched)};
}

std::string LSTM::extra_repr() const { return rnn_repr(input_size, hidden_size, num_layers, bias, batch_first); }

GRU::GRU(int64_t in, int64_t H, const LSTMOptions& o)
    : input_size(in), hidden_size(H), num_layers(o.num_layers), bias(o.bias), batch_first(o.batch_first) {
    check_sizes("GRU", in, H, o.num_layers);
    register_layers(*this, 3, in, H, num_layers, bias, o.seed, weight_ih, weight_hh, bias_ih, bias_hh);
}

RNNOutput GRU::forward(const Tensor& x, const Tensor& h0) {
    const Dtype dt = weight_ih[0].dtype();
    const Sequence seq = as_sequence("GRU", x, input_size, batch_first, dt);
    const int64_t B = seq.steps.shape()[1];
    const Tensor h_init = initial_state("GRU", "h0", h0, num_layers, B, hidden_size, seq.batched, dt);
    Tensor steps = seq.steps;
    std::vector<Tensor> hs;
    for (int64_t k = 0; k < num_layers; ++k) {
        const Tensor x_proj = linear(steps, weight_ih[k], bias ? bias_ih[k] : Tensor());
        steps = gru_recurrence(x_proj, select(h_init, 0, k), weight_hh[k], bias ? bias_hh[k] : Tensor());
        hs.push_back(select(steps, 0, -1));
    }
    return {output_layout(steps, seq.batched, batch_first), state_layout(stack(hs, 0), seq.batched), Tensor()};
}

std::string GRU::extra_repr() const { return rnn_repr(input_size, hidden_size, num_layers, bias, batch_first); }

// ---- the cells ----

LSTMCell::LSTMCell(int64_t in, int64_t H, const RNNCellOptions& o) : input_size(in), hidden_size(H) {
    check_sizes("LSTMCell", in, H, 1);
    register_cell(*this, 4, in, H, o.bias, o.seed, weight_ih, weight_hh, bias_ih, bias_hh);
}

RNNOutput LSTMCell::forward(const Tensor& x, const Tensor& h, const Tensor& c) {
    const Dtype dt = weight_ih.dtype();
    const Sequence seq = cell_input("LSTMCell", x, input_size, dt);
    TG_CHECK(h.defined() == c.defined(), ValueError,
             "LSTMCell: give both states h and c, or neither (zeros); got only {}", h.defined() ? "h" : "c");
    const bool batched = x.dim() == 2;
    const int64_t B = seq.steps.shape()[1];
    // The states are checked before the projection runs, so a bad state is what the error names.
    const Tensor h0 = cell_state("LSTMCell", "h", h, B, hidden_size, batched, dt);
    const Tensor c0 = cell_state("LSTMCell", "c", c, B, hidden_size, batched, dt);
    const LSTMSequence r = lstm_recurrence(linear(seq.steps, weight_ih, bias_ih), h0, c0, weight_hh, bias_hh);
    const Tensor h1 = batched ? r.h : squeeze(r.h, 0), c1 = batched ? r.c : squeeze(r.c, 0);
    return {h1, h1, c1};
}

std::string LSTMCell::extra_repr() const { return rnn_repr(input_size, hidden_size, 1, bias_ih.defined(), false); }

GRUCell::GRUCell(int64_t in, int64_t H, const RNNCellOptions& o) : input_size(in), hidden_size(H) {
    check_sizes("GRUCell", in, H, 1);
    register_cell(*this, 3, in, H, o.bias, o.seed, weight_ih, weight_hh, bias_ih, bias_hh);
}

Tensor GRUCell::forward(const Tensor& x, const Tensor& h) {
    const Dtype dt = weight_ih.dtype();
    const Sequence seq = cell_input("GRUCell", x, input_size, dt);
    const bool batched = x.dim() == 2;
    const int64_t B = seq.steps.shape()[1];
    const Tensor h0 = cell_state("GRUCell", "h", h, B, hidden_size, batched, dt);
    const Tensor out = gru_recurrence(linear(seq.steps, weight_ih, bias_ih), h0, weight_hh, bias_hh);
    const Tensor h1 = select(out, 0, 0);
    return batched ? h1 : squeeze(h1, 0);
}

Tensor GRUCell::forward(const Tensor& x) { return forward(x, Tensor()); }

std::string GRUCell::extra_repr() const { return rnn_repr(input_size, hidden_size, 1, bias_ih.defined(), false); }

}  // namespace tg::nn
