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

// A plot panel with a linear x axis and a log10 y axis.
struct Panel {
    double x0, y0, w, h;  // pixel box of the plotting area
    double xmin, xmax, lmin, lmax;  // data range (y as log10)
    std::string out;

    double px(double x) const { return x0 + (x - xmin) / std::max(xmax - xmin, 1e-12) * w; }
    double py(double y) const { return y0 + h - (std::log10(y) - lmin) / std::max(lmax - lmin, 1e-12) * h; }

    void axes(const std::string& title, const std::string& xlabel, const std::string& ylabel, bool integer_x) {
        out += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#333"/>)", x0, y0, w, h);
        out += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle" font-size="15" font-weight="bold">{}</text>)",
                           x0 + w / 2, y0 - 12, title);
        out += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle" font-size="13">{}</text>)", x0 + w / 2, y0 + h + 40, xlabel);
        out += fmt::format(R"svg(<text x="{}" y="{}" text-anchor="middle" font-size="13" transform="rotate(-90 {} {})">{}</text>)svg",
                           x0 - 55, y0 + h / 2, x0 - 55, y0 + h / 2, ylabel);
        for (int e = static_cast<int>(std::floor(lmin)); e <= static_cast<int>(std::ceil(lmax)); ++e) {
            if (e < lmin - 1e-9 || e > lmax + 1e-9) continue;
            const double y = py(std::pow(10.0, e));
            out += fmt::format(R"(<line x1="{}" y1="{:.1f}" x2="{}" y2="{:.1f}" stroke="#ddd"/>)", x0, y, x0 + w, y);
            out += fmt::format(R"(<text x="{}" y="{:.1f}" text-anchor="end" font-size="11">1e{}</text>)", x0 - 6, y + 4, e);
        }
        const int ticks = integer_x ? static_cast<int>(xmax - xmin) : 5;
        for (int i = 0; i <= ticks; ++i) {
            const double x = xmin + (xmax - xmin) * i / std::max(ticks, 1);
            out += fmt::format(R"(<text x="{:.1f}" y="{}" text-anchor="middle" font-size="11">{}</text>)", px(x), y0 + h + 18,
                               static_cast<int64_t>(std::llround(x)));
        }
    }
    void line(const std::vector<std::pair<double, double>>& pts, const char* stroke, bool markers) {
        std::string d;
        for (auto [x, y] : pts)
            if (y > 0 && std::isfinite(y)) d += fmt::format("{:.1f},{:.1f} ", px(x), py(y));
        out += fmt::format(R"(<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>)", stroke, d);
        if (markers)
            for (auto [x, y] : pts)
                if (y > 0 && std::isfinite(y))
                    out += fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="3.5" fill="{}"/>)", px(x), py(y), stroke);
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
    lmin = std::floor(lmin * 2) / 2 - 0.1;
    lmax = std::ceil(lmax * 2) / 2 + 0.1;
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
                       const std::vector<std::string>& variants) {
    const double W = 1260, H = 470;
    std::string svg = fmt::format(R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" font-family="sans-serif">)",
                                  W, H, W, H);
    svg += fmt::format(R"(<rect width="{}" height="{}" fill="white"/>)", W, H);

    // Panel 1: training loss against step.
    std::vector<double> ys;
    double xmax = 1;
    for (const auto& r : metrics) {
        ys.push_back(r.loss);
        xmax = std::max(xmax, static_cast<double>(r.step));
    }
    Panel loss{80, 50, 340, 320, 0, xmax, 0, 0, {}};
    log_range(ys, loss.lmin, loss.lmax);
    loss.axes("Training loss", "step", "cross-entropy (log scale)", false);
    for (const auto& v : variants) {
        std::vector<std::pair<double, double>> pts;
        for (const auto& r : metrics)
            if (r.variant == v) pts.emplace_back(static_cast<double>(r.step), r.loss);
        loss.line(pts, colour(v), false);
    }
    svg += loss.out;

    // Panels 2 and 3: per-layer gradient norms at the first and last recorded steps.
    std::vector<double> norms;
    int64_t n_layers = 1;
    for (const auto& r : layers) {
        norms.push_back(r.grad_norm);
        n_layers = std::max(n_layers, r.layer + 1);
    }
    double lmin = 0, lmax = 0;
    log_range(norms, lmin, lmax);
    for (int which = 0; which < 2; ++which) {
        Panel p{520.0 + which * 390.0, 50, 310, 320, 0, static_cast<double>(n_layers - 1), lmin, lmax, {}};
        p.axes(which == 0 ? "Gradient norm per block at step 0" : "Gradient norm per block at the end",
               "transformer block (0 = nearest the input)", "L2 norm of the block's gradient (log)", true);
        for (const auto& v : variants) {
            int64_t step = which == 0 ? std::numeric_limits<int64_t>::max() : -1;
            for (const auto& r : layers)
                if (r.variant == v) step = which == 0 ? std::min(step, r.step) : std::max(step, r.step);
            std::vector<std::pair<double, double>> pts;
            for (const auto& r : layers)
                if (r.variant == v && r.step == step) pts.emplace_back(static_cast<double>(r.layer), r.grad_norm);
            if (!pts.empty()) p.line(pts, colour(v), true);
        }
        svg += p.out;
    }

    // Legend.
    double lx = 80;
    for (const auto& v : variants) {
        svg += fmt::format(R"(<line x1="{}" y1="440" x2="{}" y2="440" stroke="{}" stroke-width="3"/>)", lx, lx + 28, colour(v));
        svg += fmt::format(R"(<text x="{}" y="445" font-size="13">{}</text>)", lx + 34, v);
        lx += 60 + 8.0 * static_cast<double>(v.size());
    }
    return svg + "</svg>\n";
}

}  // namespace example
