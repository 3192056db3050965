#pragma once
/// \file
/// The basic layers: Linear, Embedding, LayerNorm, Dropout, the activations (GELU, ReLU, SiLU,
/// LeakyReLU), Sequential and ModuleList.
#include <initializer_list>
#include <memory>

#include "../core/random.hpp"
#include "module.hpp"

namespace tg::nn {

/// The options of Linear (PyTorch's nn.Linear keyword arguments, and a seed).
struct LinearOptions {
    bool bias = true;          ///< add a learnable bias b (out)
    Seed seed;                 ///< weights and bias ~ U(-1/sqrt(in), 1/sqrt(in)), as PyTorch;
                               ///< unset: drawn from the global generator (manual_seed)
    Dtype dtype = Dtype::f32;  ///< of the parameters: f32 or f64
};

/// y = x W^T + b with W (out, in) as in PyTorch's nn.Linear; x is (..., in).
class Linear : public Module {
public:
    /// A layer from in_features to out_features (both positive, else ValueError).
    Linear(int64_t in_features, int64_t out_features, LinearOptions options = {});
    /// x (..., in_features) -> (..., out_features).
    Tensor forward(const Tensor& x) override;
    std::string type_name() const override { return "Linear"; }
    std::string extra_repr() const override;

    Parameter weight;  ///< (out, in)
    Parameter bias;    ///< (out), undefined without bias
    /// \var in_features
    /// The size of the input's last dim.
    /// \var out_features
    /// The size of the output's last dim.
    int64_t in_features, out_features;
};

/// The options of Embedding.
struct EmbeddingOptions {
    Seed seed;  ///< weight ~ N(0, 1), as PyTorch; unset: drawn from the global generator
    Dtype dtype = Dtype::f32;  ///< of the table: f32 or f64
};

/// Rows of a (num_embeddings, dim) table picked by i64 ids of any shape, as PyTorch's
/// nn.Embedding.
class Embedding : public Module {
public:
    /// A table of num_embeddings rows of dim values (both positive, else ValueError).
    Embedding(int64_t num_embeddings, int64_t dim, EmbeddingOptions options = {});
    /// ids i64 of any shape (...) -> (..., dim), the rows they pick.
    Tensor forward(const Tensor& ids) override;
    std::string type_name() const override { return "Embedding"; }
    std::string extra_repr() const override;

    Parameter weight;  ///< (num_embeddings, dim)
};

/// Normalises the last dim to zero mean and unit variance, then scales and shifts:
/// (x - mean) / sqrt(var + eps) * weight + bias, through the fused layer_norm op (PyTorch's
/// nn.LayerNorm over the last dim).
class LayerNorm : public Module {
public:
    /// Normalises a last dim of size dim (positive); eps must be finite and >= 0 (ValueError).
    explicit LayerNorm(int64_t dim, double eps = 1e-5, Dtype dtype = Dtype::f32);
    /// x (..., dim) -> the same shape.
    Tensor forward(const Tensor& x) override;
    std::string type_name() const override { return "LayerNorm"; }
    std::string extra_repr() const override;

    Parameter weight;  ///< (dim), ones
    Parameter bias;    ///< (dim), zeros
    double eps;        ///< added to the variance
};

/// Zeroes elements with probability p while training (survivors scaled by 1/(1-p)); the
/// identity in eval mode. Its masks come from its own generator, seeded at construction (from
/// the global generator unless a seed is given).
class Dropout : public Module {
public:
    /// Drops with probability p (in [0, 1], else ValueError); seed seeds the mask generator.
    explicit Dropout(double p = 0.5, Seed seed = std::nullopt);
    /// x of any shape -> the same shape: masked and scaled while training, x in eval mode.
    Tensor forward(const Tensor& x) override;
    std::string type_name() const override { return "Dropout"; }
    std::string extra_repr() const override;

    double p;  ///< the probability of zeroing an element

private:
    Generator gen_;
};

/// GELU: GPT-2's tanh approximation by default; GELU("none") is the exact erf form (PyTorch's
/// nn.GELU() default, nn.GELU(approximate="tanh") being GPT-2's).
class GELU : public Module {
public:
    /// The tanh approximation.
    GELU() = default;
    /// approximate: "tanh" or "none" (ValueError otherwise).
    explicit GELU(std::string approximate);
    /// Elementwise; any shape.
    Tensor forward(const Tensor& x) override;
    std::string type_name() const override { return "GELU"; }
    std::string extra_repr() const override;

    std::string approximate = "tanh";  ///< "tanh" or "none"
};

/// max(x, 0).
class ReLU : public Module {
public:
    /// Elementwise; any shape.
    Tensor forward(const Tensor& x) override;
    std::string type_name() const override { return "ReLU"; }
};

/// x * sigmoid(x) (also called swish), LLaMA's MLP activation.
class SiLU : public Module {
public:
    /// Elementwise; any shape.
    Tensor forward(const Tensor& x) override;
    std::string type_name() const override { return "SiLU"; }
};

/// x for x > 0, negative_slope * x otherwise.
class LeakyReLU : public Module {
public:
    /// negative_slope must be finite (else ValueError); PyTorch's default.
    explicit LeakyReLU(double negative_slope = 0.01);
    /// Elementwise; any shape.
    Tensor forward(const Tensor& x) override;
    std::string type_name() const override { return "LeakyReLU"; }
    std::string extra_repr() const override;

    double negative_slope;  ///< the factor of x for x <= 0
};

/// Applies its modules in order; children are named "0", "1", ...
class Sequential : public Module {
public:
    /// An empty sequence (forward is then the identity).
    Sequential() = default;
    /// The modules, in order, as children "0", "1", ...
    Sequential(std::initializer_list<std::shared_ptr<Module>> modules);
    /// Appends module as the next child and returns this sequence.
    Sequential& push_back(std::shared_ptr<Module> module);
    /// Each module's call, in order, on the previous one's output.
    Tensor forward(const Tensor& x) override;
    /// The number of modules.
    std::size_t size() const { return children().size(); }
    std::string type_name() const override { return "Sequential"; }
};

/// Runs modules one after another on input in `segments` pieces of consecutive modules, every
/// piece but the last through tg::checkpoint (PyTorch's checkpoint_sequential): the tape keeps
/// only each checkpointed piece's input, and backward runs the piece again. The modules must
/// outlive backward. segments must be in [1, modules.size()].
Tensor checkpoint_sequential(const std::vector<Module*>& modules, int64_t segments, const Tensor& input);
/// \overload
/// The modules of a Sequential.
Tensor checkpoint_sequential(Sequential& modules, int64_t segments, const Tensor& input);

/// A list of modules named "0", "1", ... with no forward of its own (GPT's blocks "h").
class ModuleList : public Module {
public:
    /// Appends module as the next child ("0", "1", ...) and returns it.
    template <class M>
    std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
        return register_module(std::to_string(children().size()), std::move(module));
    }
    /// The number of modules.
    std::size_t size() const { return children().size(); }
    std::string type_name() const override { return "ModuleList"; }
};

}  // namespace tg::nn
