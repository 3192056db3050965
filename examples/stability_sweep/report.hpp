#pragma once
// What the sweep leaves behind: sweep.csv (one row per trained cell), init_grads.csv (the
// per-block gradient norms at initialisation) and report.svg (the stability maps and the
// log-log plot of gradient norm against depth).
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace example {

/// One trained cell of the stability map: a row of sweep.csv.
struct CellRow {
    std::string variant, init;  // pre/post/none, gpt2/xavier
    int64_t layers = 0;
    double lr = 0;
    int64_t warmup = 0;  // warmup steps, 0 for none
    double final_loss = 0, best_eval_accuracy = 0;
    bool diverged = false;
    std::optional<int64_t> diverged_step;
    double max_grad_norm = 0;
};

/// One block's gradient norm at initialisation (the average over seeds and batches) in a model
/// of `layers` blocks: a row of init_grads.csv.
struct InitGradRow {
    std::string variant, init;
    int64_t layers = 0, block = 0;
    double grad_norm = 0;
};

/// The fit of log(last block's gradient norm) against log(depth) for one placement and init.
struct ScalingFit {
    std::string variant, init;
    double slope = 0, intercept = 0;  // natural logarithms
    std::optional<double> predicted;  // Xiong et al. 2020: pre -0.5, post 0, none: no prediction
};

/// One curvature measurement of a trained cell, on the sweep's fixed curvature batch: a row of
/// curvature.csv. step 0 is initialisation (before any update; no preconditioner yet), step s
/// the parameters after s updates. threshold is the optimiser's stability threshold at the lr
/// of the next update, the schedule's lr at step s (warmup included; its floor after the last
/// step): (2 + 2 beta1) / ((1 - beta1) lr) for AdamW (against the preconditioned sharpness),
/// 2 / lr for SGD (against the sharpness).
struct CurvatureRow {
    std::string variant, init;
    int64_t layers = 0;
    double lr = 0;
    int64_t warmup = 0;
    int64_t step = 0;
    double sharpness = 0;
    std::optional<double> preconditioned_sharpness;  // AdamW after its first step
    double threshold = 0;
};

/// The sharpness at initialisation of a whole model (block unset) or of one block's
/// parameters: a row of init_curvature.csv.
struct InitCurvatureRow {
    std::string variant, init;
    int64_t layers = 0;
    std::optional<int64_t> block;
    double sharpness = 0;
};

/// curvature.csv: variant,init,layers,lr,warmup,step,sharpness,preconditioned_sharpness,threshold
std::string curvature_csv(const std::vector<CurvatureRow>& rows);
/// The rows of a curvature.csv curvature_csv wrote (for --resume); throws std::runtime_error,
/// naming the line, on anything else.
std::vector<CurvatureRow> parse_curvature_csv(const std::string& text);
/// init_curvature.csv: variant,init,layers,block,sharpness (block empty for the whole model)
std::string init_curvature_csv(const std::vector<InitCurvatureRow>& rows);

/// The curvature panels of report_svg as an SVG group starting at height y0 (1100 wide), and
/// the height they take; the main example's report shows them too. Empty without rows.
std::pair<std::string, double> curvature_panels(double y0, const std::vector<CurvatureRow>& rows,
                                                const std::vector<InitCurvatureRow>& init_rows);

/// sweep.csv: variant,init,layers,lr,warmup,final_loss,best_eval_accuracy,diverged,diverged_step,max_grad_norm
std::string sweep_csv(const std::vector<CellRow>& rows);
/// init_grads.csv: variant,init,layers,block,grad_norm
std::string init_grads_csv(const std::vector<InitGradRow>& rows);

/// One self-contained SVG document: a heat map per placement (rows) and init x warmup
/// (columns) of final loss over depth x learning rate, diverged cells crossed out, with a colour
/// legend; below it the last block's gradient norm at initialisation against depth (log-log),
/// one series per placement x init with its fitted line, slope and predicted slope. With
/// curvature rows, below those: per placement and warmup setting, the (preconditioned)
/// sharpness over steps of the deepest trained model at each lr with its threshold line (log
/// axis); and per placement the per-block sharpness at initialisation.
std::string report_svg(const std::vector<CellRow>& cells, const std::vector<InitGradRow>& grads,
                       const std::vector<ScalingFit>& fits, const std::string& subtitle,
                       const std::vector<CurvatureRow>& curvature = {}, const std::vector<InitCurvatureRow>& init_curvature = {});

}  // namespace example
