// Anomaly detection's switches and labels, and the text of its reports.
#include <fmt/format.h>

#include <cmath>

#include "core/internal/dispatch.hpp"
#include "core/internal/engine.hpp"
#include "core/kernels/finite.hpp"

namespace tg {

namespace {
thread_local bool t_anomaly = false;
thread_local std::shared_ptr<const std::string> t_label;
}  // namespace

bool is_anomaly_enabled() { return t_anomaly; }
void set_detect_anomaly(bool enabled) { t_anomaly = enabled; }
AnomalyGuard::AnomalyGuard(bool enabled) : prev_(t_anomaly) { t_anomaly = enabled; }
AnomalyGuard::~AnomalyGuard() { t_anomaly = prev_; }

TapeLabel::TapeLabel(std::string label) : prev_(t_label) {
    t_label = std::make_shared<const std::string>(std::move(label));
}
TapeLabel::~TapeLabel() { t_label = prev_; }

namespace detail {

const std::shared_ptr<const std::string>& current_label() { return t_label; }

int64_t first_non_finite(const Tensor& t) {
    if (!t.defined() || (t.dtype() != Dtype::f32 && t.dtype() != Dtype::f64)) return -1;
    return dispatch_floating("anomaly", t.dtype(), [&](auto tag) -> int64_t {
        using T = decltype(tag);
        return kernels::first_non_finite(t.data<T>(), t.numel());
    });
}


std::string describe_inputs(const std::vector<Tensor>& inputs) {
    std::string s;
    for (const Tensor& t : inputs) {
        if (!s.empty()) s += ", ";
        s += t.defined() ? fmt::format("{} {}", shape_str(t.shape()), dtype_name(t.dtype())) : "undefined";
    }
    return s.empty() ? "none" : s;
}

std::string value_str(const Tensor& t, int64_t i) {
    const double v = t.dtype() == Dtype::f32 ? static_cast<double>(t.data<float>()[i]) : t.data<double>()[i];
    return std::isnan(v) ? "nan" : fmt::format("{}", v);  // NaN's sign bit means nothing here
}

std::string tape_position(uint64_t seq, const std::shared_ptr<const std::string>& label) {
    std::string s = seq ? fmt::format("tape entry #{} on its thread", seq) : "not recorded (no input requires grad)";
    if (label) s += fmt::format(", label '{}'", *label);
    return s;
}

}  // namespace detail
}  // namespace tg
