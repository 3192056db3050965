#pragma once
/// \file
/// BatchNorm1d, BatchNorm2d and RMSNorm (LayerNorm is in layers.hpp). BatchNorm keeps its
/// running statistics in buffers named as PyTorch names them (running_mean, running_var,
/// num_batches_tracked), so a PyTorch state_dict of the same model loads.
#include <cstdint>

#include "module.hpp"

namespace tg::nn {

/// The options of BatchNorm1d and BatchNorm2d, as PyTorch's keyword arguments.
struct BatchNormOptions {
    double eps = 1e-5;                ///< added to the variance (finite, >= 0)
    double momentum = 0.1;            ///< running = (1 - momentum) running + momentum batch
    bool affine = true;               ///< learnable weight (ones) and bias (zeros)
    bool track_running_stats = true;  ///< false: batch statistics in eval mode too, no buffers
    Dtype dtype = Dtype::f32;         ///< of the parameters and running statistics: f32 or f64
};

/// Normalises each channel (dim 1) over the batch and any further dims. In training it uses the
/// batch's mean and (biased) variance and updates the running statistics (unbiased variance);
/// in eval mode (model.eval()) it uses the running statistics, as PyTorch.
/// The base of BatchNorm1d and BatchNorm2d, which fix the input ranks it accepts.
class BatchNorm : public Module {
public:
    /// x (N, C, ...) with C = num_features -> the same shape; a ShapeError for another rank or
    /// channel count.
    Tensor forward(const Tensor& x) override;
    std::string extra_repr() const override;

    Parameter weight;             ///< (C), undefined unless affine
    Parameter bias;               ///< (C)
    Tensor running_mean;          ///< (C) buffer, zeros; undefined unless track_running_stats
    Tensor running_var;           ///< (C) buffer, ones
    Tensor num_batches_tracked;   ///< () i64 buffer: training forwards so far
    int64_t num_features;         ///< C, the channels (dim 1)
    BatchNormOptions options;     ///< as given

protected:
    /// For a layer called name (in errors) taking inputs of min_rank to max_rank dims; throws
    /// ValueError for a num_features, eps or momentum out of range, DtypeError for a dtype that
    /// is not floating.
    BatchNorm(const char* name, int64_t num_features, BatchNormOptions options, int64_t min_rank,
              int64_t max_rank);

private:
    const char* name_;
    int64_t min_rank_, max_rank_;
};

/// BatchNorm over (N, C) or (N, C, L).
class BatchNorm1d : public BatchNorm {
public:
    /// num_features channels (C, positive).
    explicit BatchNorm1d(int64_t num_features, BatchNormOptions options = {});
    std::string type_name() const override { return "BatchNorm1d"; }
};

/// BatchNorm over (N, C, H, W).
class BatchNorm2d : public BatchNorm {
public:
    /// num_features channels (C, positive).
    explicit BatchNorm2d(int64_t num_features, BatchNormOptions options = {});
    std::string type_name() const override { return "BatchNorm2d"; }
};

/// The options of RMSNorm.
struct RMSNormOptions {
    double eps = 1e-6;                ///< LLaMA's value (torch.nn.RMSNorm's default is the dtype's
                                      ///< machine epsilon)
    bool elementwise_affine = true;   ///< learnable weight (ones)
    Dtype dtype = Dtype::f32;         ///< of the weight: f32 or f64
};

/// x / sqrt(mean(x^2 over the last dim) + eps) * weight, as in LLaMA, through the fused
/// rms_norm op.
class RMSNorm : public Module {
public:
    /// Normalises a last dim of size dim (positive); eps must be finite and >= 0 (ValueError).
    explicit RMSNorm(int64_t dim, RMSNormOptions options = {});
    /// x (..., dim) -> the same shape; a ShapeError for another last dim.
    Tensor forward(const Tensor& x) override;
    std::string type_name() const override { return "RMSNorm"; }
    std::string extra_repr() const override;

    Parameter weight;  ///< (dim), undefined without elementwise_affine
    int64_t dim;       ///< the size of the last dim
    double eps;        ///< added to the mean of squares
};

}  // namespace tg::nn
