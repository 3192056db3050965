#include "report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <stdexcept>

namespace example {

namespace {

// Six significant digits; NaN as "nan" whatever its sign bit (printf would write "-nan").
std::string num(double v) { return std::isnan(v) ? "nan" : fmt::format("{:.6g}", v); }

const char* colour(const std::string& variant) {
    if (variant == "post") return "#d62728";
    if (variant == "none") return "#2ca02c";
    return "#1f77b4";
}

// Viridis at five stops, from low (t = 0) to high (t = 1).
std::string viridis(double t) {
    static constexpr std::array<std::array<double, 3>, 5> kStops{
        {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}}};
    t = std::clamp(t, 0.0, 1.0) * 4;
    const auto i = std::min<std::size_t>(3, static_cast<std::size_t>(t));
    const double f = t - static_cast<double>(i);
    std::array<int, 3> c{};
    for (std::size_t k = 0; k < 3; ++k) c[k] = static_cast<int>(std::lround(kStops[i][k] + f * (kStops[i + 1][k] - kStops[i][k])));
    return fmt::format("rgb({},{},{})", c[0], c[1], c[2]);
}

// Round values for a log axis spanning [lmin, lmax] (log10): every decade, and over less than
// about two decades also 2 and 5. The widest gap between 1, 2 and 5 is 0.4 decades, so a span
// of 0.8 (log_range's minimum below) shows at least two.
std::vector<double> log_ticks(double lmin, double lmax) {
    const std::vector<int> mantissas = lmax - lmin <= 2.25 ? std::vector<int>{1, 2, 5} : std::vector<int>{1};
    std::vector<double> out;
    const int every = lmax - lmin > 6 ? 2 : 1;  // every other decade over a wide range
    for (int e = static_cast<int>(std::floor(lmin)); e <= static_cast<int>(std::ceil(lmax)); ++e)
        for (int m : mantissas) {
            if (every > 1 && e % every != 0) continue;
            const double v = m * std::pow(10.0, e);
            if (std::log10(v) >= lmin - 1e-9 && std::log10(v) <= lmax + 1e-9) out.push_back(v);
        }
    return out;
}

// The log10 range of the finite positive values, widened to at least `min_span` decades and by a
// margin on both sides.
std::pair<double, double> log_range(const std::vector<double>& ys, double min_span, double margin) {
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (double y : ys)
        if (y > 0 && std::isfinite(y)) lo = std::min(lo, std::log10(y)), hi = std::max(hi, std::log10(y));
    if (!std::isfinite(lo)) return {-1, 1};
    const double mid = (lo + hi) / 2, half = std::max(hi - lo, min_span) / 2 + margin;
    return {mid - half, mid + half};
}

std::string text(double x, double y, const std::string& s, const char* anchor = "middle", int size = 11,
                 const char* extra = "") {
    return fmt::format(R"(<text x="{:.1f}" y="{:.1f}" text-anchor="{}" font-size="{}"{}>{}</text>)", x, y, anchor, size, extra, s);
}

// The colour scale of the heat maps: log10 of the final loss over whole decades around the data,
// at most up to 10 (a model that guesses uniformly among the 11 tokens scores ln 11 = 2.4, so
// anything above 10 is equally lost; those cells take the top colour).
struct LossScale {
    double lmin = -1, lmax = 1;
    bool capped = false;  // some losses lie above lmax
    double t(double loss) const { return (std::log10(loss) - lmin) / (lmax - lmin); }
};

std::string variant_title(const std::string& variant) { return variant == "none" ? "no norm" : variant + "-norm"; }

// At most five characters, to fit a map cell: 0.47, 2.3, 340, 2e+09.
std::string short_loss(double v) {
    if (v < 100) return fmt::format("{:.2g}", v);
    return v < 1e4 ? fmt::format("{:.0f}", v) : fmt::format("{:.0e}", v);
}

// One heat map: depths down (the first at the top), learning rates across.
std::string heat_map(double x0, double y0, double cw, double ch, const std::vector<CellRow>& cells, const std::string& variant,
                     const std::string& init, int64_t warmup, const std::vector<int64_t>& depths, const std::vector<double>& lrs,
                     const LossScale& scale) {
    std::string s = fmt::format(R"(<g class="heatmap" data-variant="{}" data-init="{}" data-warmup="{}">)", variant, init, warmup);
    s += text(x0 + cw * static_cast<double>(lrs.size()) / 2, y0 - 8,
              fmt::format("{}, {}, {}", variant_title(variant), init, warmup > 0 ? fmt::format("warmup {}", warmup) : "no warmup"),
              "middle", 12, R"( font-weight="bold")");
    for (std::size_t j = 0; j < depths.size(); ++j) {
        const double y = y0 + ch * static_cast<double>(j);
        s += text(x0 - 5, y + ch / 2 + 4, fmt::format("{}", depths[j]), "end", 10);
        for (std::size_t i = 0; i < lrs.size(); ++i) {
            const double x = x0 + cw * static_cast<double>(i);
            const auto it = std::find_if(cells.begin(), cells.end(), [&](const CellRow& r) {
                return r.variant == variant && r.init == init && r.warmup == warmup && r.layers == depths[j] && r.lr == lrs[i];
            });
            if (it == cells.end()) continue;
            const bool finite = std::isfinite(it->final_loss) && it->final_loss > 0;
            const double t = finite ? scale.t(it->final_loss) : 0;
            s += fmt::format(R"(<rect class="cell" x="{:.1f}" y="{:.1f}" width="{}" height="{}" fill="{}" stroke="#fff"/>)", x, y,
                             cw, ch, finite ? viridis(t) : "#bbb");
            s += text(x + cw / 2, y + ch / 2 + 3.5, finite ? short_loss(it->final_loss) : "NaN", "middle", 9,
                      finite && t < 0.55 ? R"( fill="#fff")" : "");
            if (it->diverged)
                s += fmt::format(R"(<path class="diverged" d="M{0:.1f},{1:.1f}L{2:.1f},{3:.1f}M{0:.1f},{3:.1f}L{2:.1f},{1:.1f}" )"
                                 R"(stroke="#e8112d" stroke-width="2.2"/>)",
                                 x + 3, y + 3, x + cw - 3, y + ch - 3);
        }
    }
    for (std::size_t i = 0; i < lrs.size(); ++i)
        s += text(x0 + cw * (static_cast<double>(i) + 0.5), y0 + ch * static_cast<double>(depths.size()) + 13,
                  fmt::format("{}", lrs[i]), "middle", 10);
    return s + "</g>";
}


// A palette for the learning rates of one panel, low to high.
const char* lr_colour(std::size_t i) {
    static constexpr std::array<const char*, 6> kColours{"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"};
    return kColours[i % kColours.size()];
}

// The curvature panels: per placement (rows) and warmup setting (columns), the sharpness the
// optimiser's threshold is about (preconditioned for AdamW, plain for SGD) over steps, for the
// deepest trained model at each lr, with its threshold as a dashed line; then per placement
// the sharpness of each block at initialisation. Returns the SVG and the height it takes.
std::pair<std::string, double> draw_curvature(double y0, const std::vector<CurvatureRow>& rows,
                                              const std::vector<InitCurvatureRow>& init_rows) {
    std::vector<std::string> variants;
    std::vector<int64_t> warmups;
    std::vector<double> lrs;
    int64_t deepest = 0;
    std::map<std::pair<std::string, int64_t>, int64_t> deepest_of, last_of;  // per placement and warmup
    auto add = [](auto& v, const auto& x) {
        if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
    };
    // A panel draws the deepest model that was trained (rows past step 0); rows at step 0 alone
    // (a depth measured at initialisation only) count only where nothing was trained.
    const bool any_trained = std::any_of(rows.begin(), rows.end(), [](const CurvatureRow& r) { return r.step > 0; });
    for (const auto& r : rows) {
        if (any_trained && r.step == 0 &&
            std::none_of(rows.begin(), rows.end(), [&](const CurvatureRow& t) {
                return t.step > 0 && t.variant == r.variant && t.warmup == r.warmup && t.layers == r.layers;
            }))
            continue;
        add(variants, r.variant), add(warmups, r.warmup), add(lrs, r.lr);
        deepest = std::max(deepest, r.layers);
        int64_t& d = deepest_of[{r.variant, r.warmup}];
        d = std::max(d, r.layers);
        int64_t& l = last_of[{r.variant, r.warmup}];
        l = std::max(l, r.step);
    }
    std::sort(lrs.begin(), lrs.end());
    std::sort(warmups.begin(), warmups.end(), std::greater<>());
    const bool adam = std::any_of(rows.begin(), rows.end(), [](const CurvatureRow& r) { return r.preconditioned_sharpness.has_value(); });
    auto value = [&](const CurvatureRow& r) { return adam ? r.preconditioned_sharpness.value_or(NAN) : r.sharpness; };
    std::vector<double> ys;
    for (const auto& r : rows)
        if (r.layers == deepest_of[{r.variant, r.warmup}])
            ys.push_back(value(r)), ys.push_back(r.threshold), ys.push_back(r.sharpness);
    const auto [ymin, ymax] = log_range(ys, 1.0, 0.1);
    const double pw = 330, ph = 190, pitch_x = pw + 110, pitch_y = ph + 80, x0 = 110;
    std::string s = R"(<g class="curvature">)";
    s += text(550, y0 + 20, fmt::format("Curvature through training on a fixed batch (the deepest model of each panel, up to {} blocks)", deepest), "middle", 15,
              R"( font-weight="bold")");
    s += text(550, y0 + 38,
              adam ? "solid: preconditioned sharpness of AdamW (top eigenvalue of P^-1 H); dotted: sharpness (of H); dashed: "
                     "threshold 38 / lr at the schedule's lr (Cohen et al. 2022); log axis"
                   : "solid: sharpness (top eigenvalue of H); dashed: threshold 2 / lr (Cohen et al. 2021); log axis",
              "middle", 12, R"( fill="#444")");
    // The key, one colour per lr, in a row under the titles.
    for (std::size_t i = 0; i < lrs.size(); ++i) {
        const double kx = x0 + 150 * static_cast<double>(i), ky = y0 + 58;
        s += fmt::format(R"(<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="2"/>)", kx, ky, kx + 26, ky, lr_colour(i));
        s += text(kx + 32, ky + 4, fmt::format("peak lr {}", lrs[i]), "start", 11);
    }
    // The panels two to a row: each placement's with and without warmup side by side.
    std::vector<std::pair<std::string, int64_t>> panels;
    for (const auto& variant : variants)
        for (int64_t w : warmups)
            if (deepest_of.contains({variant, w})) panels.emplace_back(variant, w);
    const double top = y0 + 95;
    for (std::size_t k = 0; k < panels.size(); ++k) {
        const auto& [variant, w] = panels[k];
        const double x = x0 + pitch_x * static_cast<double>(k % 2), y = top + pitch_y * static_cast<double>(k / 2);
        {
            const int64_t depth = deepest_of[{variant, w}], panel_last = std::max<int64_t>(1, last_of[{variant, w}]);
            auto px = [&](double step) { return x + step / static_cast<double>(panel_last) * pw; };
            auto py = [&](double v) { return y + ph - (std::log10(v) - ymin) / (ymax - ymin) * ph; };
            s += fmt::format(R"(<g class="curvature-panel" data-variant="{}" data-warmup="{}">)", variant, w);
            s += text(x + pw / 2, y - 8,
                      fmt::format("{}, {} blocks, {}", variant_title(variant), depth, w > 0 ? fmt::format("warmup {}", w) : "no warmup"),
                      "middle", 12, R"( font-weight="bold")");
            s += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#333"/>)", x, y, pw, ph);
            for (double v : log_ticks(ymin, ymax)) {
                s += fmt::format(R"(<line x1="{0}" y1="{1:.1f}" x2="{2}" y2="{1:.1f}" stroke="#eee"/>)", x, py(v), x + pw);
                s += text(x - 5, py(v) + 4, fmt::format("{:g}", v), "end", 10);
            }
            // Five ticks, at multiples of 5 when the run is long enough for them to differ.
            const double unit = panel_last >= 20 ? 5 : 1;
            double previous = -1;
            for (int q = 0; q <= 4; ++q) {
                const double st = std::round(static_cast<double>(panel_last) * q / 4 / unit) * unit;
                if (st == previous) continue;
                previous = st;
                s += text(px(st), y + ph + 14, fmt::format("{:g}", st), "middle", 10);
            }
            s += text(x + pw / 2, y + ph + 30, "step", "middle", 11);
            for (std::size_t i = 0; i < lrs.size(); ++i) {
                std::string solid, dotted, dashed;
                for (const auto& r : rows) {
                    if (r.variant != variant || r.warmup != w || r.layers != depth || r.lr != lrs[i]) continue;
                    auto point = [&](std::string& path, double v) {
                        if (!(v > 0) || !std::isfinite(v)) return;
                        path += fmt::format("{}{:.1f},{:.1f}", path.empty() ? "M" : "L", px(static_cast<double>(r.step)),
                                            std::clamp(py(v), y, y + ph));
                    };
                    point(solid, value(r));
                    if (adam) point(dotted, r.sharpness);
                    point(dashed, r.threshold);
                }
                const char* c = lr_colour(i);
                s += fmt::format(R"(<path class="sharpness" d="{}" fill="none" stroke="{}" stroke-width="2"/>)", solid, c);
                if (adam) s += fmt::format(R"(<path d="{}" fill="none" stroke="{}" stroke-width="1.2" stroke-dasharray="2 3"/>)", dotted, c);
                s += fmt::format(R"(<path class="threshold" d="{}" fill="none" stroke="{}" stroke-width="1.2" stroke-dasharray="7 4"/>)",
                                 dashed, c);
            }
            s += "</g>";
        }
    }
    double y = top + pitch_y * static_cast<double>((panels.size() + 1) / 2);

    // Per-block sharpness at initialisation: one panel per placement, a line per depth.
    std::vector<int64_t> depths;
    std::vector<std::string> block_variants;
    std::vector<double> bs;
    for (const auto& r : init_rows)
        if (r.block) add(depths, r.layers), add(block_variants, r.variant), bs.push_back(r.sharpness);
    if (!depths.empty()) {
        std::sort(depths.begin(), depths.end());
        const auto [bmin, bmax] = log_range(bs, 1.0, 0.1);
        const int64_t max_depth = depths.back();
        s += text(550, y + 10, "Sharpness of each block at initialisation (the Hessian restricted to its parameters)", "middle",
                  15, R"( font-weight="bold")");
        for (std::size_t d = 0; d < depths.size(); ++d) {  // the key, one colour per depth, in a row
            const double kx = x0 + 130 * static_cast<double>(d), ky = y + 32;
            s += fmt::format(R"(<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="2"/>)", kx, ky, kx + 26, ky, lr_colour(d));
            s += text(kx + 32, ky + 4, fmt::format("{} blocks", depths[d]), "start", 11);
        }
        const double bw = 260, bh = 170, by = y + 70;
        double x = x0;
        for (const auto& variant : block_variants) {
            auto px = [&](double b) { return x + (max_depth > 1 ? b / static_cast<double>(max_depth - 1) : 0.5) * bw; };
            auto py = [&](double v) { return by + bh - (std::log10(v) - bmin) / (bmax - bmin) * bh; };
            s += fmt::format(R"(<g class="block-sharpness" data-variant="{}">)", variant);
            s += text(x + bw / 2, by - 8, variant_title(variant), "middle", 12, R"( font-weight="bold")");
            s += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#333"/>)", x, by, bw, bh);
            for (double v : log_ticks(bmin, bmax)) {
                s += fmt::format(R"(<line x1="{0}" y1="{1:.1f}" x2="{2}" y2="{1:.1f}" stroke="#eee"/>)", x, py(v), x + bw);
                s += text(x - 5, py(v) + 4, fmt::format("{:g}", v), "end", 10);
            }
            for (int64_t b = 0; b < max_depth; ++b) s += text(px(static_cast<double>(b)), by + bh + 14, fmt::format("{}", b), "middle", 10);
            s += text(x + bw / 2, by + bh + 30, "block", "middle", 11);
            for (std::size_t d = 0; d < depths.size(); ++d) {
                std::string path, marks;
                for (const auto& r : init_rows)
                    if (r.variant == variant && r.layers == depths[d] && r.block && r.sharpness > 0 && std::isfinite(r.sharpness)) {
                        const double cx = px(static_cast<double>(*r.block)), cy = py(r.sharpness);
                        path += fmt::format("{}{:.1f},{:.1f}", path.empty() ? "M" : "L", cx, cy);
                        marks += fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="3" fill="{}"/>)", cx, cy, lr_colour(d));
                    }
                s += fmt::format(R"(<path d="{}" fill="none" stroke="{}" stroke-width="1.6"/>)", path, lr_colour(d)) + marks;
            }
            s += "</g>";
            x += bw + 90;
        }
        y = by + bh + 50;
    }
    return {s + "</g>", y - y0};
}

}  // namespace

std::pair<std::string, double> curvature_panels(double y0, const std::vector<CurvatureRow>& rows,
                                                const std::vector<InitCurvatureRow>& init_rows) {
    if (rows.empty()) return {};
    return draw_curvature(y0, rows, init_rows);
}

std::string sweep_csv(const std::vector<CellRow>& rows) {
    std::string s = "variant,init,layers,lr,warmup,final_loss,best_eval_accuracy,diverged,diverged_step,max_grad_norm\n";
    for (const auto& r : rows)
        s += fmt::format("{},{},{},{},{},{},{},{},{},{}\n", r.variant, r.init, r.layers, r.lr, r.warmup, num(r.final_loss),
                         num(r.best_eval_accuracy), r.diverged ? 1 : 0, r.diverged_step ? fmt::format("{}", *r.diverged_step) : "",
                         num(r.max_grad_norm));
    return s;
}

std::string curvature_csv(const std::vector<CurvatureRow>& rows) {
    std::string s = "variant,init,layers,lr,warmup,step,sharpness,preconditioned_sharpness,threshold\n";
    for (const auto& r : rows)
        s += fmt::format("{},{},{},{},{},{},{},{},{}\n", r.variant, r.init, r.layers, r.lr, r.warmup, r.step, num(r.sharpness),
                         r.preconditioned_sharpness ? num(*r.preconditioned_sharpness) : "", num(r.threshold));
    return s;
}

std::vector<CurvatureRow> parse_curvature_csv(const std::string& text) {
    const std::string header = "variant,init,layers,lr,warmup,step,sharpness,preconditioned_sharpness,threshold";
    std::vector<CurvatureRow> rows;
    std::size_t pos = 0, line_no = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        const std::string line = text.substr(pos, end - pos);
        pos = end + 1;
        if (line_no++ == 0) {
            if (line != header) throw std::runtime_error("curvature.csv: the header is not '" + header + "'");
            continue;
        }
        if (line.empty()) continue;
        std::vector<std::string> f;
        for (std::size_t a = 0, b; ; a = b + 1) {
            b = line.find(',', a);
            f.push_back(line.substr(a, b == std::string::npos ? std::string::npos : b - a));
            if (b == std::string::npos) break;
        }
        if (f.size() != 9) throw std::runtime_error(fmt::format("curvature.csv: line {} has {} fields, not 9", line_no, f.size()));
        try {
            rows.push_back({f[0], f[1], std::stoll(f[2]), std::stod(f[3]), std::stoll(f[4]), std::stoll(f[5]), std::stod(f[6]),
                            f[7].empty() ? std::nullopt : std::optional<double>(std::stod(f[7])), std::stod(f[8])});
        } catch (const std::logic_error&) {
            throw std::runtime_error(fmt::format("curvature.csv: line {} holds a field that is not a number", line_no));
        }
    }
    return rows;
}

std::string init_curvature_csv(const std::vector<InitCurvatureRow>& rows) {
    std::string s = "variant,init,layers,block,sharpness\n";
    for (const auto& r : rows)
        s += fmt::format("{},{},{},{},{}\n", r.variant, r.init, r.layers, r.block ? fmt::format("{}", *r.block) : "",
                         num(r.sharpness));
    return s;
}

std::string init_grads_csv(const std::vector<InitGradRow>& rows) {
    std::string s = "variant,init,layers,block,grad_norm\n";
    for (const auto& r : rows) s += fmt::format("{},{},{},{},{}\n", r.variant, r.init, r.layers, r.block, num(r.grad_norm));
    return s;
}

std::string report_svg(const std::vector<CellRow>& cells, const std::vector<InitGradRow>& grads,
                       const std::vector<ScalingFit>& fits, const std::string& subtitle,
                       const std::vector<CurvatureRow>& curvature, const std::vector<InitCurvatureRow>& init_curvature) {
    // The grid as the cells give it, in first-seen order.
    std::vector<std::string> variants, inits;
    std::vector<int64_t> depths, warmups;
    std::vector<double> lrs, losses;
    auto add = [](auto& v, const auto& x) {
        if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
    };
    for (const auto& r : cells) {
        add(variants, r.variant), add(inits, r.init), add(depths, r.layers), add(warmups, r.warmup), add(lrs, r.lr);
        losses.push_back(r.final_loss);
    }
    std::sort(depths.begin(), depths.end());
    std::sort(lrs.begin(), lrs.end());
    std::sort(warmups.begin(), warmups.end(), std::greater<>());  // with warmup first

    const double cw = 46, ch = 24;
    const double map_w = cw * static_cast<double>(lrs.size()), map_h = ch * static_cast<double>(depths.size());
    const double pitch_x = std::max(map_w + 70, 200.0), pitch_y = map_h + 78;
    const auto n_cols = static_cast<double>(inits.size() * warmups.size());
    const double maps_x = 110, maps_y = 130;
    const double legend_x = maps_x + n_cols * pitch_x + 10;
    const double plot_y = maps_y + pitch_y * static_cast<double>(variants.size()) + 10;
    const auto [curvature_svg, curvature_h] =
        curvature.empty() ? std::pair<std::string, double>{} : draw_curvature(plot_y + 400, curvature, init_curvature);
    const double W = std::max(legend_x + 110, 1100.0), H = plot_y + 400 + curvature_h;

    std::string svg = fmt::format(
        R"(<svg xmlns="http://www.w3.org/2000/svg" width="{0}" height="{1}" viewBox="0 0 {0} {1}" font-family="sans-serif">)", W, H);
    svg += fmt::format(R"(<rect width="{}" height="{}" fill="white"/>)", W, H);
    svg += text(W / 2, 30, "Gradient stability of a tiny GPT: LayerNorm placement x depth x learning rate", "middle", 18,
                R"( font-weight="bold")");
    svg += text(W / 2, 50, subtitle, "middle", 12, R"( fill="#444")");
    svg += text(W / 2, 82, "Stability map: held-out loss after training (colour, log scale); a red cross marks a diverged run",
                "middle", 15, R"( font-weight="bold")");
    svg += text(W / 2, 100, "rows of each map: blocks (depth); columns: peak learning rate", "middle", 12, R"( fill="#444")");

    auto [lmin, lmax] = log_range(losses, 1.0, 0.0);
    const LossScale scale{std::min(std::floor(lmin), 0.0), std::min(std::ceil(lmax), 1.0), std::ceil(lmax) > 1.0};
    for (std::size_t v = 0; v < variants.size(); ++v) {
        std::size_t col = 0;
        for (const auto& init : inits)
            for (int64_t w : warmups) {
                svg += heat_map(maps_x + pitch_x * static_cast<double>(col++), maps_y + pitch_y * static_cast<double>(v), cw, ch,
                                cells, variants[v], init, w, depths, lrs, scale);
            }
        svg += fmt::format(R"svg(<text x="{0}" y="{1:.1f}" text-anchor="middle" font-size="11" transform="rotate(-90 {0} {1:.1f})">blocks</text>)svg",
                           maps_x - 32, maps_y + pitch_y * static_cast<double>(v) + map_h / 2);
    }
    svg += text(maps_x + map_w / 2, maps_y + pitch_y * static_cast<double>(variants.size()) - 36, "peak learning rate", "middle", 11);

    // The colour legend: a vertical bar, high loss at the top, ticks at round values.
    const double bar_y = maps_y, bar_h = std::max(160.0, pitch_y * static_cast<double>(variants.size()) - 90);
    svg += R"(<g class="legend">)";
    svg += text(legend_x + 10, bar_y - 12, "held-out loss", "start", 11);
    const int n_strips = 40;
    for (int k = 0; k < n_strips; ++k)
        svg += fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="18" height="{:.2f}" fill="{}"/>)", legend_x + 10,
                           bar_y + bar_h * k / n_strips, bar_h / n_strips + 0.5, viridis(1 - (k + 0.5) / n_strips));
    svg += fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="18" height="{:.1f}" fill="none" stroke="#333"/>)", legend_x + 10, bar_y, bar_h);
    for (double v : log_ticks(scale.lmin, scale.lmax)) {
        const double y = bar_y + bar_h * (1 - scale.t(v));
        svg += fmt::format(R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="#333"/>)", legend_x + 28, y, legend_x + 32, y);
        svg += text(legend_x + 35, y + 4, fmt::format("{}{:g}", scale.capped && v == std::pow(10.0, scale.lmax) ? "&#8805; " : "", v),
                    "start", 10);
    }
    svg += fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="18" height="14" fill="#bbb"/>)", legend_x + 10, bar_y + bar_h + 14);
    svg += text(legend_x + 32, bar_y + bar_h + 25, "NaN", "start", 10);
    svg += fmt::format(R"(<path d="M{0:.1f},{1:.1f}l12,10m-12,0l12,-10" stroke="#e8112d" stroke-width="2.2"/>)", legend_x + 13,
                       bar_y + bar_h + 38);
    svg += text(legend_x + 32, bar_y + bar_h + 47, "diverged", "start", 10);
    svg += "</g>";

    // The log-log plot: last block's gradient norm at initialisation against depth.
    const double px0 = 110, py0 = plot_y + 50, pw = 480, ph = 290;
    std::vector<double> xs, ys;
    for (const auto& g : grads)
        if (g.block == g.layers - 1) xs.push_back(static_cast<double>(g.layers)), ys.push_back(g.grad_norm);
    const auto [xmin, xmax] = log_range(xs, 0.7, 0.05);
    const auto [ymin, ymax] = log_range(ys, 0.7, 0.05);
    auto px = [&](double x) { return px0 + (std::log10(x) - xmin) / (xmax - xmin) * pw; };
    auto py = [&](double y) { return py0 + ph - (std::log10(y) - ymin) / (ymax - ymin) * ph; };
    svg += R"(<g class="scaling-plot">)";
    svg += text(px0 + pw / 2, py0 - 30, "Last block's gradient norm at initialisation against depth", "middle", 15,
                R"( font-weight="bold")");
    svg += fmt::format(R"(<clipPath id="plot-area"><rect x="{}" y="{}" width="{}" height="{}"/></clipPath>)", px0, py0, pw, ph);
    svg += text(px0 + pw / 2, py0 - 12, "log-log; lines: least-squares fits; Xiong et al. 2020 predict slope -0.5 (pre), 0 (post)",
                "middle", 12, R"( fill="#444")");
    svg += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#333"/>)", px0, py0, pw, ph);
    for (double v : log_ticks(xmin, xmax)) {
        svg += fmt::format(R"(<line x1="{0:.1f}" y1="{1}" x2="{0:.1f}" y2="{2}" stroke="#eee"/>)", px(v), py0, py0 + ph);
        svg += text(px(v), py0 + ph + 17, fmt::format("{:g}", v));
    }
    for (double v : log_ticks(ymin, ymax)) {
        svg += fmt::format(R"(<line x1="{0}" y1="{1:.1f}" x2="{2}" y2="{1:.1f}" stroke="#eee"/>)", px0, py(v), px0 + pw);
        svg += text(px0 - 6, py(v) + 4, fmt::format("{:g}", v), "end");
    }
    svg += text(px0 + pw / 2, py0 + ph + 38, "blocks L (log scale)", "middle", 13);
    svg += fmt::format(R"svg(<text x="{0}" y="{1}" text-anchor="middle" font-size="13" transform="rotate(-90 {0} {1})">L2 norm of the last block's gradient (log)</text>)svg",
                       px0 - 60, py0 + ph / 2);
    double ly = py0 + 10;
    for (const auto& f : fits) {
        const bool xavier = f.init == "xavier";
        const char* c = colour(f.variant);
        std::string pts, marks;
        double lo = std::numeric_limits<double>::infinity(), hi = 0;
        for (const auto& g : grads)
            if (g.variant == f.variant && g.init == f.init && g.block == g.layers - 1 && g.grad_norm > 0) {
                const auto L = static_cast<double>(g.layers);
                lo = std::min(lo, L), hi = std::max(hi, L);
                marks += xavier ? fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="8" height="8" fill="white" stroke="{}" stroke-width="2"/>)",
                                              px(L) - 4, py(g.grad_norm) - 4, c)
                                : fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="4" fill="{}"/>)", px(L), py(g.grad_norm), c);
            }
        svg += fmt::format(R"(<g class="scaling" data-variant="{}" data-init="{}">)", f.variant, f.init);
        if (hi > 0) {
            auto fitted = [&](double L) { return std::exp(f.intercept + f.slope * std::log(L)); };
            // Clipped to the plotting area: a steep fit (no norm with Xavier) leaves it.
            svg += fmt::format(R"svg(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="{}" stroke-width="1.6" clip-path="url(#plot-area)"{}/>)svg",
                               px(lo), py(fitted(lo)), px(hi), py(fitted(hi)), c, xavier ? R"( stroke-dasharray="6 4")" : "");
        }
        svg += marks;
        // Beside the plot: the series' key, its fitted slope and the predicted one.
        const double lx = px0 + pw + 30;
        svg += fmt::format(R"(<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="2"{}/>)", lx, ly, lx + 26, ly, c,
                           xavier ? R"( stroke-dasharray="6 4")" : "");
        svg += xavier ? fmt::format(R"(<rect x="{}" y="{}" width="8" height="8" fill="white" stroke="{}" stroke-width="2"/>)", lx + 9, ly - 4, c)
                      : fmt::format(R"(<circle cx="{}" cy="{}" r="4" fill="{}"/>)", lx + 13, ly, c);
        svg += text(lx + 34, ly + 4,
                    fmt::format("{}, {} init: slope {:+.2f} ({})", variant_title(f.variant), f.init, f.slope,
                                f.predicted ? fmt::format("predicted {:+.1f}", *f.predicted) : "no prediction"),
                    "start", 12);
        svg += "</g>";
        ly += 24;
    }
    svg += "</g>";
    return svg + curvature_svg + "</svg>\n";
}

}  // namespace example
