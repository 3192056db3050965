#pragma once
/// \file
/// Recurrent layers as PyTorch's nn.LSTM, nn.GRU, nn.LSTMCell and nn.GRUCell: the same gate
/// order, parameter names, shapes and initialisation, so a PyTorch state_dict of the same layer
/// loads. Each layer runs one linear over every step for the input projection, then the
/// recurrence as one op with its backward through time (lstm_recurrence, gru_recurrence).
#include <string>
#include <vector>

#include "../core/random.hpp"
#include "module.hpp"

namespace tg::nn {

/// The options of LSTM and GRU, as PyTorch's keyword arguments (and a seed).
struct LSTMOptions {
    int64_t num_layers = 1;    ///< stacked layers; layer k > 0 reads layer k - 1's output
    bool bias = true;          ///< bias_ih_l{k} and bias_hh_l{k}
    bool batch_first = false;  ///< x and output (B, T, features) instead of PyTorch's default
                               ///< (T, B, features)
    Seed seed = {};            ///< unset: drawn from the global generator (manual_seed)
};

/// What LSTM and GRU return, as PyTorch's (output, h_n) or (output, (h_n, c_n)).
struct RNNOutput {
    Tensor output;  ///< the last layer's h at every step: (T, B, H), (B, T, H) with batch_first,
                    ///< (T, H) unbatched
    Tensor h;       ///< every layer's last h: (num_layers, B, H), or (num_layers, H) unbatched
    Tensor c;       ///< LSTM: every layer's last cell state, shaped as h; undefined for GRU
};
/// What a forward hook sees of an RNNOutput: {output, h, c}.
inline std::vector<Tensor> tensors_of(const RNNOutput& o) { return {o.output, o.h, o.c}; }
/// Puts back what a forward hook left of an RNNOutput: output, h and c = t[0], t[1], t[2].
inline void assign_tensors(RNNOutput& o, const std::vector<Tensor>& t) {
    o.output = t.at(0);
    o.h = t.at(1);
    o.c = t.at(2);
}

/// PyTorch's nn.LSTM (unidirectional, without dropout between layers or proj_size). Per layer k
/// and step, gates in the order (i, f, g, o):
///   i, f, o = sigmoid(x W_ih^T + b_ih + h W_hh^T + b_hh) (their quarters), g = tanh(its quarter),
///   c = f c + i g,  h = o tanh(c)
/// Parameters per layer: weight_ih_l{k} (4H, in), weight_hh_l{k} (4H, H), bias_ih_l{k} and
/// bias_hh_l{k} (4H), all ~ U(-1/sqrt(H), 1/sqrt(H)) as PyTorch draws them.
class LSTM : public Module {
public:
    /// H = hidden_size; input_size, hidden_size and num_layers must be positive (ValueError).
    /// The parameters are f32 (Module::to converts them).
    LSTM(int64_t input_size, int64_t hidden_size, const LSTMOptions& options = {});
    /// x (T, B, input_size), (B, T, input_size) with batch_first, or (T, input_size) unbatched;
    /// h0 and c0 (num_layers, B, H) (or (num_layers, H) unbatched), both or neither (zeros).
    RNNOutput forward(const Tensor& x, const Tensor& h0 = {}, const Tensor& c0 = {});
    /// forward(x, h0, c0) through the call gate (hooks, profiler).
    RNNOutput operator()(const Tensor& x, const Tensor& h0 = {}, const Tensor& c0 = {}) { return call(this, x, h0, c0); }
    std::string type_name() const override { return "LSTM"; }
    std::string extra_repr() const override;

    /// \var input_size
    /// The input's features.
    /// \var hidden_size
    /// H, the features of h and c.
    /// \var num_layers
    /// The stacked layers.
    int64_t input_size, hidden_size, num_layers;
    /// \var bias
    /// Whether the layers have biases.
    /// \var batch_first
    /// Whether x and output are (B, T, features).
    bool bias, batch_first;
    /// \var weight_ih
    /// weight_ih_l{k} (4H, in) of each layer k; in is input_size for layer 0, H after.
    /// \var weight_hh
    /// weight_hh_l{k} (4H, H) of each layer.
    /// \var bias_ih
    /// bias_ih_l{k} (4H) of each layer; empty without bias.
    /// \var bias_hh
    /// bias_hh_l{k} (4H) of each layer; empty without bias.
    std::vector<Parameter> weight_ih, weight_hh, bias_ih, bias_hh;
};

/// PyTorch's nn.GRU (unidirectional, without dropout between layers). Per layer and step, gates
/// in the order (r, z, n), with a = h W_hh^T + b_hh and x the layer's input:
///   r = sigmoid(x W_ir^T + b_ir + a_r),  z = sigmoid(x W_iz^T + b_iz + a_z),
///   n = tanh(x W_in^T + b_in + r a_n),  h = (1 - z) n + z h
/// Parameters as LSTM's with 3H rows: weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}.
class GRU : public Module {
public:
    /// As LSTM's constructor.
    GRU(int64_t input_size, int64_t hidden_size, const LSTMOptions& options = {});
    /// x as for LSTM; h0 (num_layers, B, H) or (num_layers, H) unbatched, or undefined (zeros).
    RNNOutput forward(const Tensor& x, const Tensor& h0 = {});
    /// forward(x, h0) through the call gate (hooks, profiler).
    RNNOutput operator()(const Tensor& x, const Tensor& h0 = {}) { return call(this, x, h0); }
    std::string type_name() const override { return "GRU"; }
    std::string extra_repr() const override;

    /// \var input_size
    /// The input's features.
    /// \var hidden_size
    /// H, the features of h.
    /// \var num_layers
    /// The stacked layers.
    int64_t input_size, hidden_size, num_layers;
    /// \var bias
    /// Whether the layers have biases.
    /// \var batch_first
    /// Whether x and output are (B, T, features).
    bool bias, batch_first;
    /// \var weight_ih
    /// weight_ih_l{k} (3H, in) of each layer k; in is input_size for layer 0, H after.
    /// \var weight_hh
    /// weight_hh_l{k} (3H, H) of each layer.
    /// \var bias_ih
    /// bias_ih_l{k} (3H) of each layer; empty without bias.
    /// \var bias_hh
    /// bias_hh_l{k} (3H) of each layer; empty without bias.
    std::vector<Parameter> weight_ih, weight_hh, bias_ih, bias_hh;
};

/// The options of LSTMCell and GRUCell.
struct RNNCellOptions {
    bool bias = true;  ///< bias_ih and bias_hh
    Seed seed = {};    ///< unset: drawn from the global generator (manual_seed)
};

/// PyTorch's nn.LSTMCell: one step of an LSTM layer. Parameters weight_ih (4H, in),
/// weight_hh (4H, H), bias_ih, bias_hh (4H).
class LSTMCell : public Module {
public:
    /// H = hidden_size; both sizes must be positive (ValueError). The parameters are f32.
    LSTMCell(int64_t input_size, int64_t hidden_size, const RNNCellOptions& options = {});
    /// x (B, input_size) or (input_size); h and c (B, H) or (H), both or neither (zeros).
    /// Returns the new state: output and h are both h', c is c'.
    RNNOutput forward(const Tensor& x, const Tensor& h = {}, const Tensor& c = {});
    /// forward(x, h, c) through the call gate (hooks, profiler).
    RNNOutput operator()(const Tensor& x, const Tensor& h = {}, const Tensor& c = {}) { return call(this, x, h, c); }
    std::string type_name() const override { return "LSTMCell"; }
    std::string extra_repr() const override;

    /// \var input_size
    /// The input's features.
    /// \var hidden_size
    /// H, the features of h and c.
    int64_t input_size, hidden_size;
    /// \var weight_ih
    /// (4H, input_size).
    /// \var weight_hh
    /// (4H, H).
    /// \var bias_ih
    /// (4H), undefined without bias.
    /// \var bias_hh
    /// (4H), undefined without bias.
    Parameter weight_ih, weight_hh, bias_ih, bias_hh;
};

/// PyTorch's nn.GRUCell: one step of a GRU layer. Parameters weight_ih (3H, in),
/// weight_hh (3H, H), bias_ih, bias_hh (3H).
class GRUCell : public Module {
public:
    /// As LSTMCell's constructor.
    GRUCell(int64_t input_size, int64_t hidden_size, const RNNCellOptions& options = {});
    /// x (B, input_size) or (input_size); h (B, H) or (H). Returns h'.
    Tensor forward(const Tensor& x, const Tensor& h);
    /// From a zero state.
    Tensor forward(const Tensor& x) override;
    using Module::operator();
    /// forward(x, h) through the call gate (hooks, profiler).
    Tensor operator()(const Tensor& x, const Tensor& h) { return call(this, x, h); }
    std::string type_name() const override { return "GRUCell"; }
    std::string extra_repr() const override;

    /// \var input_size
    /// The input's features.
    /// \var hidden_size
    /// H, the features of h.
    int64_t input_size, hidden_size;
    /// \var weight_ih
    /// (3H, input_size).
    /// \var weight_hh
    /// (3H, H).
    /// \var bias_ih
    /// (3H), undefined without bias.
    /// \var bias_hh
    /// (3H), undefined without bias.
    Parameter weight_ih, weight_hh, bias_ih, bias_hh;
};

}  // namespace tg::nn
