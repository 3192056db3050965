#include "nn/module.hpp"

#include <fmt/format.h>

#include <cxxabi.h>

#include <cstdlib>
#include <memory>
#include <typeinfo>

#include <map>
#include <set>
#include <utility>

#include <atomic>

#include "core/autograd.hpp"
#include "core/check.hpp"
#include "core/internal/engine.hpp"
#include "core/internal/profiler.hpp"
#include "nn/safetensors.hpp"

namespace tg::nn {

namespace {

std::string join(const std::string& prefix, const std::string& name) {
    return prefix.empty() ? name : prefix + "." + name;
}

std::string with_commas(int64_t n) {
    const std::string digits = std::to_string(n);
    std::string out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

// What a checkpoint holds: every parameter and buffer once (a tied tensor under its first name).
NamedTensors saved_tensors(const Module& m) {
    NamedTensors out = m.named_parameters();
    for (auto& named : m.named_buffers()) out.push_back(std::move(named));
    return out;
}

}  // namespace

void Module::check_new_name(const std::string& name) const {
    TG_CHECK(!name.empty() && name.find('.') == std::string::npos, ValueError,
             "register: name '{}' must be non-empty and have no dots", name);
    for (const auto& [n, t] : params_)
        TG_CHECK(n != name, ValueError, "register: '{}' is already a parameter of this {}", name, type_name());
    for (const auto& [n, t] : buffers_)
        TG_CHECK(n != name, ValueError, "register: '{}' is already a buffer of this {}", name, type_name());
    for (const auto& [n, c] : children_)
        TG_CHECK(n != name, ValueError, "register: '{}' is already a submodule of this {}", name, type_name());
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
    check_new_name(name);
    TG_CHECK(t.defined(), ValueError, "register_buffer: '{}' is an undefined tensor", name);
    if (!t.is_leaf() || t.requires_grad()) t = t.detach();
    buffers_.emplace_back(name, t);
    return t;
}

Parameter Module::register_parameter(const std::string& name, Tensor t, bool requires_grad) {
    check_new_name(name);
    TG_CHECK(t.defined(), ValueError, "register_parameter: '{}' is an undefined tensor", name);
    TG_CHECK(is_floating(t.dtype()), DtypeError, "register_parameter: '{}' has dtype {}; parameters are f32 or f64",
             name, dtype_name(t.dtype()));
    if (!t.is_leaf()) t = t.detach();
    t.requires_grad_(requires_grad);
    params_.emplace_back(name, t);
    return t;
}

Parameter Module::replace_parameter(const std::string& name, Tensor t) {
    for (auto& [n, p] : params_) {
        if (n != name) continue;
        TG_CHECK(t.defined() && t.shape() == p.shape() && t.dtype() == p.dtype(), ShapeError,
                 "replace_parameter: '{}' is {} {}, the replacement is {}", name, shape_str(p.shape()),
                 dtype_name(p.dtype()),
                 t.defined() ? shape_str(t.shape()) + " " + std::string(dtype_name(t.dtype())) : "undefined");
        p = t;
        return t;
    }
    throw ValueError(fmt::format("replace_parameter: this {} has no parameter '{}'", type_name(), name));
}

namespace {
// Bumped by every registration of a child: cached paths made before it are rebuilt.
std::atomic<uint64_t> g_tree_version{1};
}  // namespace

void Module::add_child(const std::string& name, Module* child) {
    check_new_name(name);
    TG_CHECK(child, ValueError, "register_module: '{}' is null", name);
    TG_CHECK(child != this, ValueError, "register_module: '{}' is the module itself", name);
    children_.emplace_back(name, child);
    if (!child->parent_) {
        child->parent_ = this;
        child->name_ = name;
    }
    g_tree_version.fetch_add(1, std::memory_order_relaxed);
}

std::string Module::path() const {
    std::vector<const Module*> chain;
    for (const Module* m = this; m->parent_; m = m->parent_) {
        // A cycle of first registrations (a module registered in its own descendant) ends here.
        if (chain.size() > 4096) break;
        chain.push_back(m);
    }
    std::string out;
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) out = join(out, (*it)->name_);
    return out;
}

// ---- the call gate ----

struct Module::Hooks {
    std::vector<std::pair<uint64_t, ForwardPreHook>> pre;
    std::vector<std::pair<uint64_t, ForwardHook>> post;
    uint64_t next_id = 1;
};

namespace {
template <class List, class Fn>
HookHandle add_hook(const std::shared_ptr<void>& owner, List& list, uint64_t id, Fn fn, bool prepend) {
    if (prepend) list.insert(list.begin(), {id, std::move(fn)});
    else list.emplace_back(id, std::move(fn));
    return HookHandle([w = std::weak_ptr<void>(owner), &list, id] {
        // The list lives in the Hooks the weak pointer watches: gone with its module.
        if (auto alive = w.lock()) std::erase_if(list, [&](const auto& h) { return h.first == id; });
    });
}
}  // namespace

HookHandle Module::register_forward_pre_hook(ForwardPreHook hook, bool prepend) {
    TG_CHECK(hook, ValueError, "register_forward_pre_hook: the hook of {} is empty", type_name());
    if (!hooks_) hooks_ = std::make_shared<Hooks>();
    return add_hook(hooks_, hooks_->pre, hooks_->next_id++, std::move(hook), prepend);
}

HookHandle Module::register_forward_hook(ForwardHook hook, bool prepend) {
    TG_CHECK(hook, ValueError, "register_forward_hook: the hook of {} is empty", type_name());
    if (!hooks_) hooks_ = std::make_shared<Hooks>();
    return add_hook(hooks_, hooks_->post, hooks_->next_id++, std::move(hook), prepend);
}

bool Module::gate_active() const {
    return detail::t_profiler || is_anomaly_enabled() || (hooks_ && (!hooks_->pre.empty() || !hooks_->post.empty()));
}

Module::CallScope::CallScope(Module& m) : m_(m) {
    const uint64_t version = g_tree_version.load(std::memory_order_relaxed);
    if (m.path_version_ != version) {
        const std::string path = m.path();
        m.path_cache_ = detail::intern_op_name(path);
        m.span_name_ = path.empty() ? detail::intern_op_name(m.type_name()) : m.path_cache_;
        m.path_version_ = version;
    }
    span_ = detail::begin_module_span(m.span_name_, m.path_cache_);
    if (is_anomaly_enabled()) label_ = std::make_shared<TapeLabel>(m.span_name_);
}

void Module::CallScope::before(std::vector<Tensor>& inputs) {
    Module& m = m_;
    if (!m.hooks_ || m.hooks_->pre.empty()) return;
    const std::size_t n = inputs.size();
    const auto hooks = m.hooks_->pre;  // a hook may remove itself
    for (const auto& [id, hook] : hooks) {
        hook(m, inputs);
        TG_CHECK(inputs.size() == n, ValueError,
                 "forward pre-hook of {} ('{}'): the module takes {} tensor argument(s), the hook left {}",
                 m.type_name(), m.span_name_, n, inputs.size());
    }
}

Module::CallScope::~CallScope() {
    label_.reset();
    if (span_ >= 0) detail::end_module_span(span_);
}

bool Module::CallScope::after(const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs) {
    if (!m_.hooks_ || m_.hooks_->post.empty()) return false;
    const std::size_t n = outputs.size();
    const auto hooks = m_.hooks_->post;
    for (const auto& [id, hook] : hooks) {
        hook(m_, inputs, outputs);
        TG_CHECK(outputs.size() == n, ValueError,
                 "forward hook of {} ('{}'): the module returns {} tensor output(s), the hook left {}",
                 m_.type_name(), m_.span_name_, n, outputs.size());
    }
    return true;
}

NamedTensors Module::named_parameters_with_aliases() const {
    NamedTensors out;
    for (const auto& [prefix, m] : named_modules())
        for (const auto& [name, t] : m->params_) out.emplace_back(join(prefix, name), t);
    return out;
}

NamedTensors Module::named_parameters() const {
    NamedTensors out;
    std::set<const TensorImpl*> seen;
    for (auto& [name, t] : named_parameters_with_aliases())
        if (seen.insert(t.impl().get()).second) out.emplace_back(std::move(name), t);
    return out;
}

NamedTensors Module::named_buffers() const {
    NamedTensors out;
    std::set<const TensorImpl*> seen;
    for (const auto& [prefix, m] : named_modules())
        for (const auto& [name, t] : m->buffers_)
            if (seen.insert(t.impl().get()).second) out.emplace_back(join(prefix, name), t);
    return out;
}

std::vector<Tensor> Module::buffers() const {
    std::vector<Tensor> out;
    for (auto& [name, t] : named_buffers()) out.push_back(t);
    return out;
}

NamedTensors Module::state_dict() const {
    NamedTensors out;
    for (const auto& [prefix, m] : named_modules()) {
        for (const auto& [name, t] : m->params_) out.emplace_back(join(prefix, name), t);
        for (const auto& [name, t] : m->buffers_) out.emplace_back(join(prefix, name), t);
    }
    return out;
}

std::vector<Tensor> Module::parameters() const {
    std::vector<Tensor> out;
    for (auto& [name, t] : named_parameters()) out.push_back(t);
    return out;
}

std::vector<std::pair<std::string, const Module*>> Module::named_modules() const {
    std::vector<std::pair<std::string, const Module*>> out{{"", this}};
    // Iterative pre-order walk: out grows while it is read.
    for (std::size_t i = 0; i < out.size(); ++i) {
        const auto [prefix, m] = out[i];
        std::size_t at = i + 1;
        for (const auto& [name, c] : m->children_)
            out.insert(out.begin() + static_cast<std::ptrdiff_t>(at++), {join(prefix, name), c});
    }
    return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
    std::vector<std::pair<std::string, Module*>> out;
    for (const auto& [name, m] : std::as_const(*this).named_modules()) out.emplace_back(name, const_cast<Module*>(m));
    return out;
}

void Module::zero_grad() {
    for (Tensor& t : parameters()) t.set_grad(Tensor());
}

void Module::train(bool on) {
    for (auto& [name, m] : named_modules()) m->training_ = on;
}

int64_t Module::num_parameters() const {
    int64_t n = 0;
    for (const Tensor& t : parameters()) n += t.numel();
    return n;
}

void Module::to(Dtype dtype) {
    TG_CHECK(dtype != Dtype::bf16, DtypeError,
             "Module::to: parameters stay f32 or f64 (training keeps f32 master weights); bf16 is a storage dtype: "
             "products run in bf16 under tg::Autocast, and a bf16 checkpoint loads into f32 parameters");
    TG_CHECK(is_floating(dtype), DtypeError, "Module::to: parameters are f32 or f64, not {}", dtype_name(dtype));
    std::vector<Tensor> tensors = parameters();
    // Floating buffers follow, bf16 ones too (as in PyTorch): a bf16 buffer left behind would
    // make the first op that reads it refuse the module's new dtype. Integer buffers stay.
    for (const Tensor& b : buffers())
        if (is_floating(b.dtype()) || b.dtype() == Dtype::bf16) tensors.push_back(b);
    for (Tensor& t : tensors) {
        if (t.dtype() == dtype) continue;
        // set_data changes the tensor every handle shares (members, tied weights, optimizer
        // lists), so they all see the converted data.
        Tensor converted = Tensor::empty(t.shape(), dtype);
        converted.copy_(t);
        t.set_data(converted);
    }
}

void Module::save(const std::string& path) const {
    save_safetensors(path, saved_tensors(*this), {{"format", "pt"}});
}

LoadResult Module::load(const std::string& path, const LoadOptions& options) {
    const SafetensorsFile file = load_safetensors(path);
    std::map<std::string, Tensor> given(file.tensors.begin(), file.tensors.end());
    const NamedTensors expected = state_dict();

    std::vector<std::string> missing, unexpected, problems;
    std::map<const TensorImpl*, std::pair<std::string, Tensor>> source;  // parameter -> data
    std::set<std::string> known;
    for (const auto& [name, p] : expected) known.insert(name);
    for (const auto& [name, t] : file.tensors)
        if (!known.count(name)) unexpected.push_back(name);
    for (const auto& [name, p] : expected) {
        auto it = given.find(name);
        if (it == given.end()) continue;
        const Tensor& t = it->second;
        if (t.shape() != p.shape())
            problems.push_back(fmt::format("'{}' has shape {} in the file, {} in the model", name,
                                           shape_str(t.shape()), shape_str(p.shape())));
        else if (is_floating(p.dtype()) && !is_floating(t.dtype()) && t.dtype() != Dtype::bf16)
            problems.push_back(fmt::format("'{}' has dtype {} in the file; {} tensors load from F32, F64 or BF16",
                                           name, dtype_name(t.dtype()), dtype_name(p.dtype())));
        else if (!is_floating(p.dtype()) && t.dtype() != p.dtype())
            problems.push_back(fmt::format("'{}' has dtype {} in the file; {} buffers load from {} only", name,
                                           dtype_name(t.dtype()), dtype_name(p.dtype()), dtype_name(p.dtype())));
        auto [slot, fresh] = source.try_emplace(p.impl().get(), name, t);
        if (!fresh && slot->second.second.to_vector<double>() != t.to_vector<double>())
            problems.push_back(fmt::format("'{}' and '{}' are one tied parameter but hold different values",
                                           slot->second.first, name));
    }
    const NamedTensors targets = saved_tensors(*this);
    for (const auto& [name, p] : targets)
        if (!source.count(p.impl().get())) missing.push_back(name);
    if (!problems.empty() || (options.strict && (!missing.empty() || !unexpected.empty()))) {
        // One problem per line: a model with dozens of mismatches stays readable.
        std::string msg = fmt::format("load: {} does not match this {}; the model is unchanged:", path, type_name());
        if (options.strict && !missing.empty())
            msg += fmt::format("\n  missing ({}): {}", missing.size(), fmt::join(missing, ", "));
        if (options.strict && !unexpected.empty())
            msg += fmt::format("\n  unexpected ({}): {}", unexpected.size(), fmt::join(unexpected, ", "));
        for (const std::string& p : problems) msg += "\n  " + p;
        if (options.strict && problems.empty())
            msg += "\n  (load(path, {.strict = false}) loads the names both have and returns the others)";
        throw IOError(msg);
    }
    NoGradGuard ng;
    for (const auto& [name, p] : targets) {
        auto it = source.find(p.impl().get());
        if (it == source.end()) continue;  // missing, allowed when not strict
        Tensor dst = p;
        dst.copy_(it->second.second);
    }
    return {std::move(missing), std::move(unexpected)};  // both empty after a strict load
}

Tensor Module::forward(const Tensor&) {
    throw ValueError(fmt::format("{}: this module has no single-input forward", type_name()));
}

std::string Module::type_name() const {
    const char* mangled = typeid(*this).name();
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> demangled(abi::__cxa_demangle(mangled, nullptr, nullptr, &status),
                                                     std::free);
    const std::string full = status == 0 && demangled ? demangled.get() : mangled;
    // Drop the namespaces ("tg::nn::", "(anonymous namespace)::"), not those of template arguments.
    std::size_t start = 0;
    int depth = 0;
    for (std::size_t i = 0; i + 1 < full.size(); ++i) {
        if (full[i] == '<' || full[i] == '(') ++depth;
        else if (full[i] == '>' || full[i] == ')') --depth;
        else if (depth == 0 && full[i] == ':' && full[i + 1] == ':') start = i + 2;
    }
    return full.substr(start);
}

std::string Module::summary() const {
    std::string out;
    for (const auto& [prefix, m] : named_modules()) {
        const std::size_t depth = prefix.empty() ? 0 : static_cast<std::size_t>(std::count(prefix.begin(), prefix.end(), '.')) + 1;
        const std::string indent(2 * depth, ' ');
        int64_t count = 0;
        for (const Tensor& t : m->parameters()) count += t.numel();
        const std::string leaf = prefix.empty() ? "" : prefix.substr(prefix.rfind('.') == std::string::npos ? 0 : prefix.rfind('.') + 1) + ": ";
        out += fmt::format("{}{}{}{} ({} parameters)\n", indent, leaf, m->type_name(),
                           m->extra_repr().empty() ? std::string() : fmt::format("({})", m->extra_repr()), with_commas(count));
        for (const auto& [name, t] : m->params_)
            out += fmt::format("{}  {} {} {}\n", indent, name, shape_str(t.shape()), dtype_name(t.dtype()));
        for (const auto& [name, t] : m->buffers_)
            out += fmt::format("{}  {} {} {} (buffer)\n", indent, name, shape_str(t.shape()), dtype_name(t.dtype()));
    }
    return out;
}

}  // namespace tg::nn
