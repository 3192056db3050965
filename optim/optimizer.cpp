#include "optim/optimizer.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "core/autograd.hpp"
#include "core/check.hpp"
#include "core/internal/dispatch.hpp"
#include "core/kernels/finite.hpp"
#include "nn/safetensors.hpp"

namespace tg::optim {

namespace {
int64_t count_non_finite(const Tensor& g) {
    return dispatch_floating("step", g.dtype(), [&](auto tag) {
        using T = decltype(tag);
        return kernels::count_non_finite(g.data<T>(), g.numel());
    });
}
}  // namespace

void Optimizer::add_group(const std::vector<Tensor>& params, std::vector<std::string> names) {
    TG_CHECK(names.empty() || names.size() == params.size(), ValueError, "{}: {} names given for {} parameters",
             name(), names.size(), params.size());
    std::set<const TensorImpl*> seen;
    for (const Group& g : groups_)
        for (const Tensor& p : g.params) seen.insert(p.impl().get());
    for (std::size_t i = 0; i < params.size(); ++i) {
        const Tensor& p = params[i];
        const std::string label = names.empty() ? fmt::format("parameter {}", i) : "'" + names[i] + "'";
        TG_CHECK(p.defined() && is_floating(p.dtype()) && p.is_leaf() && p.requires_grad(), ValueError,
                 "{}: {} must be a floating leaf tensor that requires grad", name(), label);
        TG_CHECK(seen.insert(p.impl().get()).second, ValueError,
                 "{}: {} appears more than once among the parameters", name(), label);
    }
    groups_.push_back({params, std::move(names), std::vector<State>(params.size())});
}

void Optimizer::require_parameters() const {
    std::size_t n = 0;
    for (const Group& g : groups_) n += g.params.size();
    TG_CHECK(n > 0, ValueError,
             "{}: got an empty parameter list; does the model register its parameters and submodules "
             "(register_parameter, register_module)?",
             name());
}

std::string Optimizer::param_label(std::size_t g, std::size_t i) const {
    const Group& group = groups_[g];
    if (!group.names.empty()) return "'" + group.names[i] + "'";
    return fmt::format("parameter {} of group {}", i, g);
}

void Optimizer::step() {
    for (std::size_t g = 0; g < groups_.size(); ++g) {
        for (std::size_t i = 0; i < groups_[g].params.size(); ++i) {
            const Tensor& p = groups_[g].params[i];
            const Tensor grad = p.grad();
            if (!grad.defined()) continue;
            TG_CHECK(grad.shape() == p.shape() && grad.dtype() == p.dtype(), ShapeError,
                     "{}.step: gradient of {} is {} {}, the parameter is {} {}", name(), param_label(g, i),
                     shape_str(grad.shape()), dtype_name(grad.dtype()), shape_str(p.shape()), dtype_name(p.dtype()));
            if (check_finite(g)) {
                if (const int64_t bad = count_non_finite(grad))
                    throw ValueError(fmt::format("{}.step: gradient of {} holds {} NaN or Inf values; no parameter "
                                                 "was changed",
                                                 name(), param_label(g, i), bad));
            }
        }
    }
    NoGradGuard ng;
    for (std::size_t g = 0; g < groups_.size(); ++g)
        for (std::size_t i = 0; i < groups_[g].params.size(); ++i) {
            Tensor& p = groups_[g].params[i];
            const Tensor grad = p.grad();
            if (!grad.defined()) continue;
            State& s = groups_[g].state[i];
            // Module::to() changes the parameters' dtype in place, under an optimizer built or
            // stepped before it: its running state follows the parameter (f32 -> f64 is exact),
            // so the optimizer stays valid, as if it had run in the new dtype all along.
            for (Tensor* buffer : s.buffers())
                if (buffer->defined() && buffer->dtype() != p.dtype()) *buffer = buffer->to(p.dtype());
            ++s.step;
            update(g, p, grad, s);
            p.mark_modified();
        }
}

void Optimizer::zero_grad() {
    for (Group& g : groups_)
        for (Tensor& p : g.params) p.set_grad(Tensor());
}

int64_t Optimizer::steps_taken() const {
    for (const Group& g : groups_)
        for (const State& s : g.state)
            if (s.step > 0) return s.step;
    return 0;
}

void Optimizer::save(const std::string& path) const {
    nn::NamedTensors tensors;
    for (std::size_t g = 0; g < groups_.size(); ++g)
        for (std::size_t i = 0; i < groups_[g].params.size(); ++i) {
            const State& s = groups_[g].state[i];
            if (s.step == 0) continue;
            const std::string prefix = fmt::format("{}.{}.", g, i);
            tensors.emplace_back(prefix + "step", tensor(std::vector<int64_t>{s.step}, {}));
            for (std::size_t k = 0; k < kBufferNames.size(); ++k)
                if (s.buffers()[k]->defined()) tensors.emplace_back(prefix + kBufferNames[k], *s.buffers()[k]);
        }
    std::map<std::string, std::string> meta{{"optimizer", name()}, {"groups", std::to_string(groups_.size())}};
    for (std::size_t g = 0; g < groups_.size(); ++g) meta["group." + std::to_string(g) + ".size"] = std::to_string(groups_[g].params.size());
    nn::save_safetensors(path, tensors, meta);
}

void Optimizer::load(const std::string& path) {
    const nn::SafetensorsFile file = nn::load_safetensors(path);
    auto fail = [&](const std::string& why) {
        throw IOError(fmt::format("{}.load: {}: {}; the optimizer is unchanged", name(), path, why));
    };
    auto meta = [&](const std::string& key) {
        auto it = file.metadata.find(key);
        return it == file.metadata.end() ? std::string("(none)") : it->second;
    };
    if (!file.metadata.count("optimizer"))
        fail("this is not an optimizer state (its metadata names no optimizer); a model checkpoint loads with "
             "Module::load");
    if (meta("optimizer") != name()) fail(fmt::format("the state is for optimizer {}", meta("optimizer")));
    if (meta("groups") != std::to_string(groups_.size()))
        fail(fmt::format("the state has {} parameter groups, this optimizer {}", meta("groups"), groups_.size()));
    for (std::size_t g = 0; g < groups_.size(); ++g)
        if (meta("group." + std::to_string(g) + ".size") != std::to_string(groups_[g].params.size()))
            fail(fmt::format("group {} has {} parameters in the state, {} here", g,
                             meta("group." + std::to_string(g) + ".size"), groups_[g].params.size()));

    std::vector<std::vector<State>> fresh;
    for (const Group& g : groups_) fresh.emplace_back(g.params.size());
    for (const auto& [key, t] : file.tensors) {
        std::size_t g = 0, i = 0;
        char field[32] = {};
        if (std::sscanf(key.c_str(), "%zu.%zu.%31s", &g, &i, field) != 3 || g >= groups_.size() ||
            i >= groups_[g].params.size())
            fail(fmt::format("unexpected entry '{}'", key));
        State& s = fresh[g][i];
        const std::string f = field;
        const Tensor& p = groups_[g].params[i];
        if (f == "step") {
            if (t.dtype() != Dtype::i64 || t.numel() != 1 || t.item<int64_t>() <= 0)
                fail(fmt::format("'{}' must be one positive i64", key));
            s.step = t.item<int64_t>();
            continue;
        }
        std::size_t k = 0;
        while (k < kBufferNames.size() && f != kBufferNames[k]) ++k;
        if (k == kBufferNames.size()) fail(fmt::format("unexpected entry '{}'", key));
        if (t.shape() != p.shape() || t.dtype() != p.dtype())
            fail(fmt::format("'{}' is {} {}, but {} is {} {}", key, shape_str(t.shape()), dtype_name(t.dtype()),
                             param_label(g, i), shape_str(p.shape()), dtype_name(p.dtype())));
        *s.buffers()[k] = t;
    }
    for (std::size_t g = 0; g < groups_.size(); ++g)
        for (std::size_t i = 0; i < fresh[g].size(); ++i) {
            const State& s = fresh[g][i];
            const bool has_buffers = s.exp_avg.defined() || s.exp_avg_sq.defined() || s.momentum.defined();
            if (has_buffers && s.step == 0) fail(fmt::format("{} has buffers but no step count", param_label(g, i)));
        }
    for (std::size_t g = 0; g < groups_.size(); ++g) groups_[g].state = std::move(fresh[g]);
}

}  // namespace tg::optim
