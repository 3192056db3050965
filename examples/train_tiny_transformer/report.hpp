#pragma once
// What a run leaves behind: the metrics tables (CSV) and a self-contained SVG picture.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace example {

/// One row of metrics.csv; unset fields are written empty.
struct MetricRow {
    std::string variant;
    int64_t step = 0;
    double loss = 0;
    std::optional<double> eval_loss, eval_accuracy;
    double lr = 0, grad_norm = 0;
    std::optional<double> tokens_per_s;
};

/// One row of grad_norms.csv: a transformer block's gradient norm.
struct LayerNormRow {
    std::string variant;
    int64_t step = 0;
    int64_t layer = 0;
    double grad_norm = 0;
};

std::string metrics_csv(const std::vector<MetricRow>& rows);
std::string grad_norms_csv(const std::vector<LayerNormRow>& rows);
/// Rows of an existing metrics.csv / grad_norms.csv (for --resume); throws on a malformed file.
std::vector<MetricRow> parse_metrics_csv(const std::string& text);
std::vector<LayerNormRow> parse_grad_norms_csv(const std::string& text);

/// One SVG document: training and held-out loss of every variant (log scale), held-out
/// accuracy (accuracy_name says what it measures), and per-block gradient norms at the first
/// and at the last recorded step of each variant (log scale; the subtitles name the steps).
/// `below` is more SVG (the curvature panels) drawn from height 830 on, and its height.
std::string report_svg(const std::vector<MetricRow>& metrics, const std::vector<LayerNormRow>& layers,
                       const std::vector<std::string>& variants, const std::string& accuracy_name,
                       const std::pair<std::string, double>& below = {});

}  // namespace example
