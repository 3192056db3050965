#include "report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace example {

namespace {

std::string opt(const std::optional<double>& v) { return v ? fmt::format("{:.6g}", *v) : ""; }

std::vector<std::string> split(const std::string& line) {
    std::vector<std::string> out;
    std::stringstream ss(line);
    for (std::string f; std::getline(ss, f, ',');) out.push_back(f);
    if (!line.empty() && line.back() == ',') out.emplace_back();
    return out;
}

template <class Row, class F>
std::vector<Row> parse(const std::string& text, const std::string& header, std::size_t fields, F make) {
    std::stringstream ss(text);
    std::string line;
    if (!std::getline(ss, line) || line != header) throw std::runtime_error("unexpected CSV header: " + line);
    std::vector<Row> rows;
    while (std::getline(ss, line)) {
        if (line.empty()) continue;
        const auto f = split(line);
        if (f.size() != fields) throw std::runtime_error("malformed CSV line: " + line);
        rows.push_back(make(f));
    }
    return rows;
}

std::optional<double> num(const std::string& s) {
    if (s.empty()) return std::nullopt;
    return std::stod(s);
}

const char* colour(const std::string& variant) {
    if (variant.find("post") != std::string::npos) return "#d62728";
    if (variant.find("none") != std::string::npos) return "#2ca02c";
    if (variant.find("pre") != std::string::npos && variant.find("main") == std::string::npos) return "#1f77b4";
    return "#7f7f7f";
}

// The main run is drawn last and with hollow squares, so that it stays visible where it lies on
// a study run of the same norm; the study runs get filled circles.
bool is_main(const std::string& variant) { return variant.rfind("main", 0) == 0; }

struct Style {
    std::string cls;  // the SVG class of the series: train-loss, eval-loss, eval-accuracy, grad-norm
    bool dashed = false, markers = false;
    bool faint = false;  // thin and translucent: a noisy per-step curve under the other series
};

// A plot panel: a linear x axis, and a log10 y axis (losses, norms) or a percentage (accuracy).
struct Panel {
    double x0, y0, w, h;            // pixel box of the plotting area
    double xmin, xmax, ymin, ymax;  // data range, y as log10 when log_y
    bool log_y = true;
    std::string out;

    double px(double x) const { return x0 + (x - xmin) / std::max(xmax - xmin, 1e-12) * w; }
    double py(double y) const {
        return y0 + h - ((log_y ? std::log10(y) : y) - ymin) / std::max(ymax - ymin, 1e-12) * h;
    }
    bool shown(double y) const { return std::isfinite(y) && (!log_y || y > 0); }

    void frame(const std::string& title, const std::string& subtitle, const std::string& xlabel, const std::string& ylabel) {
        out += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#333"/>)", x0, y0, w, h);
        out += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle" font-size="15" font-weight="bold">{}</text>)",
                           x0 + w / 2, y0 - 26, title);
        out += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle" font-size="12" fill="#444">{}</text>)", x0 + w / 2,
                           y0 - 9, subtitle);
        out += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle" font-size="13">{}</text>)", x0 + w / 2, y0 + h + 38, xlabel);
        out += fmt::format(R"svg(<text x="{}" y="{}" text-anchor="middle" font-size="13" transform="rotate(-90 {} {})">{}</text>)svg",
                           x0 - 55, y0 + h / 2, x0 - 55, y0 + h / 2, ylabel);
    }
    // A gridline, labelled when the label does not crowd the one below it.
    void y_gridline(double y, const std::string& label, bool major, double& last_label_y) {
        out += fmt::format(R"(<line x1="{}" y1="{:.1f}" x2="{}" y2="{:.1f}" stroke="{}"/>)", x0, y, x0 + w, y, major ? "#ccc" : "#eee");
        if (last_label_y - y < 14) return;
        out += fmt::format(R"(<text x="{}" y="{:.1f}" text-anchor="end" font-size="11">{}</text>)", x0 - 6, y + 4, label);
        last_label_y = y;
    }
    // Every decade; over less than about two decades also 2 and 5 (1-2-5), and over less than a
    // decade every digit, so that a range such as 2 to 8 can be read.
    void y_ticks_log() {
        const double span = ymax - ymin;
        const std::vector<int> mantissas = span <= 0.9    ? std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9}
                                           : span <= 2.25 ? std::vector<int>{1, 2, 5}
                                                          : std::vector<int>{1};
        double last_label_y = INFINITY;
        for (int e = static_cast<int>(std::floor(ymin)); e <= static_cast<int>(std::ceil(ymax)); ++e)
            for (int m : mantissas) {
                const double v = m * std::pow(10.0, e), lv = std::log10(v);
                if (lv < ymin - 1e-9 || lv > ymax + 1e-9) continue;
                y_gridline(py(v), fmt::format("{:g}", v), m == 1, last_label_y);
            }
    }
    void y_ticks_percent() {
        double last_label_y = INFINITY;
        for (int p = 0; p <= 100; p += 20) y_gridline(py(p / 100.0), fmt::format("{}%", p), true, last_label_y);
    }
    // About five labels at 1-2-5 steps; integer axes (transformer blocks) label every block when
    // there are ten or fewer.
    void x_ticks(bool integer_x) {
        const double raw = (xmax - xmin) / (integer_x ? 10 : 5);
        const double mag = std::pow(10.0, std::floor(std::log10(std::max(raw, 1e-12))));
        double step = 10 * mag;
        for (double m : {1.0, 2.0, 5.0})
            if (m * mag >= raw) {
                step = m * mag;
                break;
            }
        if (integer_x) step = std::max(step, 1.0);
        for (double x = std::ceil(xmin / step - 1e-9) * step; x <= xmax + 1e-9; x += step)
            out += fmt::format(R"(<text x="{:.1f}" y="{}" text-anchor="middle" font-size="11">{}</text>)", px(x), y0 + h + 18,
                               static_cast<int64_t>(std::llround(x)));
    }
    void series(const std::vector<std::pair<double, double>>& pts, const std::string& variant, const Style& style) {
        const char* c = colour(variant);
        std::string d;
        for (auto [x, y] : pts)
            if (shown(y)) d += fmt::format("{:.1f},{:.1f} ", px(x), py(y));
        out += fmt::format(R"(<g class="{}" data-variant="{}">)", style.cls, variant);
        out += fmt::format(R"(<polyline fill="none" stroke="{}" stroke-width="{}"{}{} points="{}"/>)", c,
                           style.faint ? 1.2 : 2, style.faint ? R"( stroke-opacity="0.5")" : "",
                           style.dashed ? R"( stroke-dasharray="6 4")" : "", d);
        if (style.markers)
            for (auto [x, y] : pts)
                if (shown(y)) out += marker(px(x), py(y), variant);
        out += "</g>";
    }
    static std::string marker(double x, double y, const std::string& variant) {
        if (is_main(variant))
            return fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="9" height="9" fill="none" stroke="{}" stroke-width="2"/>)",
                               x - 4.5, y - 4.5, colour(variant));
        return fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="3.5" fill="{}" stroke="white" stroke-width="0.8"/>)", x, y,
                           colour(variant));
    }
};

void log_range(const std::vector<double>& ys, double& lmin, double& lmax) {
    lmin = std::numeric_limits<double>::infinity();
    lmax = -lmin;
    for (double y : ys)
        if (y > 0 && std::isfinite(y)) {
            lmin = std::min(lmin, std::log10(y));
            lmax = std::max(lmax, std::log10(y));
        }
    if (!std::isfinite(lmin)) lmin = -1, lmax = 1;
    // At least 0.4 decades of data (so that a tick falls inside), and a margin on both sides.
    const double mid = (lmin + lmax) / 2, half = std::max(lmax - lmin, 0.4) / 2 + 0.05;
    lmin = mid - half;
    lmax = mid + half;
}

// "main-pre at step 599; pre, post, none at step 299": the step each variant's series is from.
std::string steps_by_variant(const std::vector<std::pair<std::string, int64_t>>& picked) {
    std::vector<std::pair<int64_t, std::vector<std::string>>> groups;
    for (const auto& [v, step] : picked) {
        auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == step; });
        if (it == groups.end()) groups.push_back({step, {v}});
        else it->second.push_back(v);
    }
    std::vector<std::string> parts;
    for (const auto& [step, vs] : groups) parts.push_back(fmt::format("{} at step {}", fmt::join(vs, ", "), step));
    return fmt::format("{}", fmt::join(parts, "; "));
}

}  // namespace

std::string metrics_csv(const std::vector<MetricRow>& rows) {
    std::string s = "variant,step,loss,eval_loss,eval_accuracy,lr,grad_norm,tokens_per_s\n";
    for (const auto& r : rows)
        s += fmt::format("{},{},{:.6g},{},{},{:.6g},{:.6g},{}\n", r.variant, r.step, r.loss, opt(r.eval_loss),
                         opt(r.eval_accuracy), r.lr, r.grad_norm, r.tokens_per_s ? fmt::format("{:.0f}", *r.tokens_per_s) : "");
    return s;
}

std::string grad_norms_csv(const std::vector<LayerNormRow>& rows) {
    std::string s = "variant,step,layer,grad_norm\n";
    for (const auto& r : rows) s += fmt::format("{},{},{},{:.6g}\n", r.variant, r.step, r.layer, r.grad_norm);
    return s;
}

std::vector<MetricRow> parse_metrics_csv(const std::string& text) {
    return parse<MetricRow>(text, "variant,step,loss,eval_loss,eval_accuracy,lr,grad_norm,tokens_per_s", 8, [](const auto& f) {
        return MetricRow{f[0], std::stoll(f[1]), std::stod(f[2]), num(f[3]), num(f[4]), std::stod(f[5]), std::stod(f[6]), num(f[7])};
    });
}

std::vector<LayerNormRow> parse_grad_norms_csv(const std::string& text) {
    return parse<LayerNormRow>(text, "variant,step,layer,grad_norm", 4, [](const auto& f) {
        return LayerNormRow{f[0], std::stoll(f[1]), std::stoll(f[2]), std::stod(f[3])};
    });
}

std::string report_svg(const std::vector<MetricRow>& metrics, const std::vector<LayerNormRow>& layers,
                       const std::vector<std::string>& variants, const std::string& accuracy_name,
                       const std::pair<std::string, double>& below) {
    const double W = below.first.empty() ? 1000 : 1100, H = 830 + below.second;
    std::string svg = fmt::format(R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" font-family="sans-serif">)",
                                  W, H, W, H);
    svg += fmt::format(R"(<rect width="{}" height="{}" fill="white"/>)", W, H);
    // The main run last, on top of the study runs.
    std::vector<std::string> order = variants;
    std::stable_partition(order.begin(), order.end(), [](const std::string& v) { return !is_main(v); });

    // Top left: training loss per step (solid) and held-out loss (dashed, with markers).
    std::vector<double> ys;
    double xmax = 1;
    for (const auto& r : metrics) {
        ys.push_back(r.loss);
        if (r.eval_loss) ys.push_back(*r.eval_loss);
        xmax = std::max(xmax, static_cast<double>(r.step));
    }
    xmax += std::max(0.3, xmax / 40);  // room for the last step's markers
    Panel loss{.x0 = 80, .y0 = 80, .w = 370, .h = 250, .xmin = 0, .xmax = xmax, .ymin = 0, .ymax = 0};
    log_range(ys, loss.ymin, loss.ymax);
    loss.frame("Loss", "solid: training batch; dashed with markers: held-out set", "step", "cross-entropy (log scale)");
    loss.y_ticks_log();
    loss.x_ticks(false);
    for (const bool eval : {false, true})  // the few held-out points on top of the noisy training curves
        for (const auto& v : order) {
            std::vector<std::pair<double, double>> pts;
            for (const auto& r : metrics)
                if (r.variant == v && (!eval || r.eval_loss))
                    pts.emplace_back(static_cast<double>(r.step), eval ? *r.eval_loss : r.loss);
            if (!eval) loss.series(pts, v, {.cls = "train-loss", .faint = true});
            else if (!pts.empty()) loss.series(pts, v, {.cls = "eval-loss", .dashed = true, .markers = true});
        }
    svg += loss.out;

    // Top right: held-out accuracy at each evaluation.
    Panel acc{.x0 = 580, .y0 = 80, .w = 370, .h = 250, .xmin = 0, .xmax = xmax, .ymin = -0.03, .ymax = 1.03, .log_y = false};
    acc.frame("Held-out accuracy", accuracy_name, "step", "accuracy");
    acc.y_ticks_percent();
    acc.x_ticks(false);
    for (const auto& v : order) {
        std::vector<std::pair<double, double>> pts;
        for (const auto& r : metrics)
            if (r.variant == v && r.eval_accuracy) pts.emplace_back(static_cast<double>(r.step), *r.eval_accuracy);
        if (!pts.empty()) acc.series(pts, v, {.cls = "eval-accuracy", .markers = true});
    }
    svg += acc.out;

    // Bottom: per-block gradient norms at the first and at the last recorded step of each run.
    std::vector<double> norms;
    int64_t n_layers = 1;
    for (const auto& r : layers) {
        norms.push_back(r.grad_norm);
        n_layers = std::max(n_layers, r.layer + 1);
    }
    double lmin = 0, lmax = 0;
    log_range(norms, lmin, lmax);
    for (int which = 0; which < 2; ++which) {
        Panel p{.x0 = 80.0 + which * 500.0, .y0 = 450, .w = 370, .h = 250, .xmin = -0.3,
                .xmax = static_cast<double>(std::max<int64_t>(n_layers - 1, 1)) + 0.3, .ymin = lmin, .ymax = lmax};
        std::vector<std::pair<std::string, int64_t>> picked;
        for (const auto& v : variants) {
            int64_t step = which == 0 ? std::numeric_limits<int64_t>::max() : -1;
            for (const auto& r : layers)
                if (r.variant == v) step = which == 0 ? std::min(step, r.step) : std::max(step, r.step);
            if (step >= 0 && step != std::numeric_limits<int64_t>::max()) picked.emplace_back(v, step);
        }
        p.frame(which == 0 ? "Gradient norm per block at the start" : "Gradient norm per block at the end",
                steps_by_variant(picked), "transformer block (0 = nearest the input)", "L2 norm of the block's gradient (log)");
        p.y_ticks_log();
        p.x_ticks(true);
        for (const auto& v : order) {
            const auto it = std::find_if(picked.begin(), picked.end(), [&](const auto& q) { return q.first == v; });
            if (it == picked.end()) continue;
            std::vector<std::pair<double, double>> pts;
            for (const auto& r : layers)
                if (r.variant == v && r.step == it->second) pts.emplace_back(static_cast<double>(r.layer), r.grad_norm);
            p.series(pts, v, {.cls = "grad-norm", .markers = true});
        }
        svg += p.out;
    }

    // Legend: each run with its depth and length, wrapped onto a second row when needed.
    double lx = 40, ly = 790;
    for (const auto& v : variants) {
        int64_t steps = 0, blocks = 0;
        for (const auto& r : metrics)
            if (r.variant == v) steps = std::max(steps, r.step + 1);
        for (const auto& r : layers)
            if (r.variant == v) blocks = std::max(blocks, r.layer + 1);
        const std::string label = fmt::format("{} ({} blocks, {} steps)", v, blocks, steps);
        const double width = 48 + 6.8 * static_cast<double>(label.size());
        if (lx > 40 && lx + width > W - 20) lx = 40, ly += 24;
        svg += fmt::format(R"(<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="3"/>)", lx, ly, lx + 28, ly, colour(v));
        svg += Panel::marker(lx + 14, ly, v);
        svg += fmt::format(R"(<text x="{}" y="{}" font-size="13">{}</text>)", lx + 34, ly + 5, label);
        lx += width;
    }
    return svg + below.first + "</svg>\n";
}

}  // namespace example
