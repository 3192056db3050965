#pragma once
/// \file
/// Datasets: what a DataLoader reads examples from, as torch.utils.data.Dataset. Part of
/// tapegrad::data.
#include <cstdint>
#include <string>
#include <vector>

#include "../core/tensor.hpp"

/// The data layer: datasets, samplers and the DataLoader, readers for Fashion-MNIST, token files
/// and text, and the byte-level BPE tokenizer.
namespace tg::data {

/// One example: its fields, e.g. {image, label} or {tokens, targets}.
using Example = std::vector<Tensor>;

/// A batch of examples stacked field by field along a new dim 0 ({images (B, 1, 28, 28),
/// labels (B)}), with the dataset indices it was made of.
struct Batch {
    std::vector<Tensor> fields;    ///< One stacked tensor per field of the examples.
    std::vector<int64_t> indices;  ///< The dataset index of each example, in batch order.

    /// Field i (std::out_of_range past the last field).
    Tensor& operator[](std::size_t i) { return fields.at(i); }
    /// \overload
    const Tensor& operator[](std::size_t i) const { return fields.at(i); }
    /// The number of fields (not of examples: that is batch_size()).
    std::size_t size() const { return fields.size(); }
    /// The number of examples (dim 0 of every field).
    int64_t batch_size() const { return static_cast<int64_t>(indices.size()); }
};

/// A map-style dataset: size() examples, get(i) for i in [0, size()). get() and get_batch()
/// may be called from several DataLoader workers at once, so they must not change shared
/// state without locking (reading files, memory maps and tensors is fine). They run in grad
/// mode off.
class Dataset {
public:
    virtual ~Dataset() = default;
    /// The number of examples.
    virtual int64_t size() const = 0;
    /// Example i. Out-of-range indices are a ValueError naming the dataset (check_index).
    virtual Example get(int64_t index) const = 0;
    /// The examples at `indices` stacked into a batch; by default get() for each and
    /// collate(). Override it when a dataset can gather a batch faster (TensorDataset does).
    virtual Batch get_batch(const std::vector<int64_t>& indices) const;
    /// How errors and progress name this dataset, e.g. "FashionMNIST(train, 60000 images)".
    virtual std::string name() const = 0;

protected:
    /// Throws ValueError "NAME: index i is out of range for a dataset of n examples" unless
    /// 0 <= index < size(), NAME being name().
    void check_index(int64_t index) const;
};

/// Stacks examples field by field (stack along a new dim 0). Every example must have the same
/// number of fields, and each field the same shape and dtype in every example: otherwise a
/// ShapeError naming `dataset`, both dataset indices, the field and both shapes.
Batch collate(const std::vector<Example>& examples, const std::vector<int64_t>& indices,
              const std::string& dataset = "dataset");

/// Tensors that share dim 0 (inputs and targets, for example): example i is {t[i] for each t},
/// as torch.utils.data.TensorDataset. The tensors are detached: the dataset holds values.
class TensorDataset : public Dataset {
public:
    /// Holds `tensors` detached (the same data, no autograd history). Needs at least one
    /// tensor and none undefined (ValueError), each at least 1-d with the same size of dim 0
    /// (ShapeError).
    explicit TensorDataset(std::vector<Tensor> tensors);
    /// The shared size of dim 0.
    int64_t size() const override { return size_; }
    /// Row `index` of each tensor: {t.select(0, index) for each t}.
    Example get(int64_t index) const override;
    /// One index_select per tensor instead of a get() per example and a stack.
    Batch get_batch(const std::vector<int64_t>& indices) const override;
    /// "TensorDataset(SHAPES)" with the shapes of the tensors.
    std::string name() const override;
    /// The (detached) tensors.
    const std::vector<Tensor>& tensors() const { return tensors_; }

private:
    std::vector<Tensor> tensors_;
    int64_t size_ = 0;
};

}  // namespace tg::data
