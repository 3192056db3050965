#include "nn/layers.hpp"

#include <cmath>

#include "core/check.hpp"
#include "core/checkpoint.hpp"
#include "core/grad_mode.hpp"
#include "core/ops.hpp"
#include "nn/init.hpp"

namespace tg::nn {

namespace {
void check_positive(const char* layer, const char* what, int64_t v) {
    TG_CHECK(v > 0, ValueError, "{}: {} must be positive, got {}", layer, what, v);
}
}  // namespace

Linear::Linear(int64_t in, int64_t out, LinearOptions opt) : in_features(in), out_features(out) {
    check_positive("Linear", "in_features", in);
    check_positive("Linear", "out_features", out);
    Generator gen(resolve_seed(opt.seed));
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    Tensor w = Tensor::empty({out, in}, opt.dtype);
    init::uniform_(w, -bound, bound, gen);
    weight = register_parameter("weight", w);
    if (opt.bias) {
        Tensor b = Tensor::empty({out}, opt.dtype);
        init::uniform_(b, -bound, bound, gen);
        bias = register_parameter("bias", b);
    }
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }

std::string Linear::extra_repr() const {
    return fmt::format("in={}, out={}, bias={}", in_features, out_features, bias.defined());
}

Embedding::Embedding(int64_t n, int64_t dim, EmbeddingOptions opt) {
    check_positive("Embedding", "num_embeddings", n);
    check_positive("Embedding", "dim", dim);
    Generator gen(resolve_seed(opt.seed));
    Tensor w = Tensor::empty({n, dim}, opt.dtype);
    init::normal_(w, 0.0, 1.0, gen);
    weight = register_parameter("weight", w);
}

Tensor Embedding::forward(const Tensor& ids) { return embedding(weight, ids); }

std::string Embedding::extra_repr() const {
    return fmt::format("{}, {}", weight.shape()[0], weight.shape()[1]);
}

LayerNorm::LayerNorm(int64_t dim, double eps_, Dtype dtype) : eps(eps_) {
    check_positive("LayerNorm", "dim", dim);
    check_eps("LayerNorm", eps_);
    weight = register_parameter("weight", Tensor::ones({dim}, dtype));
    bias = register_parameter("bias", Tensor::zeros({dim}, dtype));
}

Tensor LayerNorm::forward(const Tensor& x) { return layer_norm(x, weight, bias, eps); }

std::string LayerNorm::extra_repr() const { return fmt::format("{}, eps={}", weight.shape()[0], eps); }

Dropout::Dropout(double p_, Seed seed) : p(p_), gen_(resolve_seed(seed)) {
    check_probability("Dropout", p_);
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, is_training(), gen_); }

std::string Dropout::extra_repr() const { return fmt::format("p={}", p); }

GELU::GELU(std::string approx) : approximate(std::move(approx)) {
    TG_CHECK(approximate == "tanh" || approximate == "none", ValueError,
             "GELU: approximate must be \"tanh\" (GPT-2's, the default) or \"none\" (exact), got \"{}\"", approximate);
}
Tensor GELU::forward(const Tensor& x) { return gelu(x, approximate); }
std::string GELU::extra_repr() const { return fmt::format("approximate='{}'", approximate); }
Tensor ReLU::forward(const Tensor& x) { return relu(x); }
Tensor SiLU::forward(const Tensor& x) { return silu(x); }

LeakyReLU::LeakyReLU(double slope) : negative_slope(slope) {
    TG_CHECK(std::isfinite(slope), ValueError, "LeakyReLU: negative_slope must be finite, got {}", slope);
}
Tensor LeakyReLU::forward(const Tensor& x) { return leaky_relu(x, negative_slope); }
std::string LeakyReLU::extra_repr() const { return fmt::format("negative_slope={}", negative_slope); }

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) {
    for (const auto& m : modules) push_back(m);
}

Sequential& Sequential::push_back(std::shared_ptr<Module> module) {
    register_module(std::to_string(children().size()), std::move(module));
    return *this;
}

Tensor checkpoint_sequential(const std::vector<Module*>& modules, int64_t segments, const Tensor& input) {
    const auto n = static_cast<int64_t>(modules.size());
    TG_CHECK(n > 0, ValueError, "checkpoint_sequential: no modules to run");
    TG_CHECK(segments >= 1 && segments <= n, ValueError,
             "checkpoint_sequential: segments must be in [1, {}] (the number of modules), got {}", n, segments);
    for (int64_t i = 0; i < n; ++i)
        TG_CHECK(modules[static_cast<std::size_t>(i)] != nullptr, ValueError, "checkpoint_sequential: module {} is null",
                 i);
    const int64_t per = n / segments;  // the last piece takes the rest
    Tensor x = input;
    for (int64_t s = 0; s < segments; ++s) {
        const int64_t first = s * per, end = s + 1 == segments ? n : first + per;
        std::vector<Module*> piece(modules.begin() + first, modules.begin() + end);
        auto run = [piece](const std::vector<Tensor>& in) {
            Tensor h = in[0];
            for (Module* m : piece) h = (*m)(h);
            return std::vector<Tensor>{h};
        };
        const bool last = s + 1 == segments;
        x = last || !is_grad_enabled() || !x.requires_grad() ? run({x})[0] : checkpoint(run, {x})[0];
    }
    return x;
}

Tensor checkpoint_sequential(Sequential& modules, int64_t segments, const Tensor& input) {
    std::vector<Module*> list;
    for (const auto& [name, m] : modules.children()) list.push_back(m);
    return checkpoint_sequential(list, segments, input);
}

Tensor Sequential::forward(const Tensor& x) {
    Tensor h = x;
    for (const auto& [name, m] : children()) h = (*m)(h);
    return h;
}

}  // namespace tg::nn
