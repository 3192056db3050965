#include "data/dataset.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/check.hpp"
#include "core/grad_mode.hpp"
#include "core/ops.hpp"
#include "core/shape.hpp"
#include "data/internal/rethrow.hpp"

namespace tg::data {

namespace detail {

void rethrow_with_context(const std::string& context) {
    try {
        throw;
    } catch (const ShapeError& e) {
        throw ShapeError(context + e.what());
    } catch (const DtypeError& e) {
        throw DtypeError(context + e.what());
    } catch (const ValueError& e) {
        throw ValueError(context + e.what());
    } catch (const IOError& e) {
        throw IOError(context + e.what());
    } catch (const AnomalyError& e) {
        throw AnomalyError(context + e.what());
    } catch (const std::exception& e) {
        throw Error(context + e.what());
    } catch (...) {
        throw Error(context + "an exception that is not a std::exception");
    }
}

}  // namespace detail

void Dataset::check_index(int64_t index) const {
    TG_CHECK(index >= 0 && index < size(), ValueError, "{}: index {} is out of range for a dataset of {} examples",
             name(), index, size());
}

Batch Dataset::get_batch(const std::vector<int64_t>& indices) const {
    std::vector<Example> examples;
    examples.reserve(indices.size());
    for (int64_t i : indices) check_index(i);
    for (int64_t i : indices) {
        try {
            examples.push_back(get(i));
        } catch (...) {
            detail::rethrow_with_context(fmt::format("{}: example {}: ", name(), i));
        }
    }
    return collate(examples, indices, name());
}

Batch collate(const std::vector<Example>& examples, const std::vector<int64_t>& indices, const std::string& dataset) {
    TG_CHECK(!examples.empty(), ValueError, "collate: {}: no examples to stack", dataset);
    TG_CHECK(examples.size() == indices.size(), ValueError, "collate: {}: {} examples but {} indices", dataset,
             examples.size(), indices.size());
    NoGradGuard no_grad;
    const Example& first = examples[0];
    Batch batch;
    batch.indices = indices;
    for (std::size_t e = 1; e < examples.size(); ++e)
        TG_CHECK(examples[e].size() == first.size(), ShapeError,
                 "collate: {}: example {} has {} fields, but example {} has {}", dataset, indices[e],
                 examples[e].size(), indices[0], first.size());
    for (std::size_t f = 0; f < first.size(); ++f) {
        std::vector<Tensor> column;
        column.reserve(examples.size());
        for (std::size_t e = 0; e < examples.size(); ++e) {
            const Tensor& t = examples[e][f];
            TG_CHECK(t.defined(), ValueError, "collate: {}: field {} of example {} is an undefined tensor", dataset, f,
                     indices[e]);
            TG_CHECK(t.shape() == first[f].shape(), ShapeError,
                     "collate: {}: field {} of example {} has shape {}, but example {} has {}: the examples of a "
                     "batch must have equal shapes (crop or pad them in get(), or give the DataLoader a collate "
                     "function)",
                     dataset, f, indices[e], shape_str(t.shape()), indices[0], shape_str(first[f].shape()));
            TG_CHECK(t.dtype() == first[f].dtype(), DtypeError,
                     "collate: {}: field {} of example {} is {}, but example {} is {}", dataset, f, indices[e],
                     dtype_name(t.dtype()), indices[0], dtype_name(first[f].dtype()));
            column.push_back(t.detach());
        }
        batch.fields.push_back(stack(column, 0));
    }
    return batch;
}

TensorDataset::TensorDataset(std::vector<Tensor> tensors) {
    TG_CHECK(!tensors.empty(), ValueError, "TensorDataset: needs at least one tensor");
    for (std::size_t k = 0; k < tensors.size(); ++k) {
        TG_CHECK(tensors[k].defined(), ValueError, "TensorDataset: tensor {} is undefined", k);
        TG_CHECK(tensors[k].dim() >= 1, ShapeError, "TensorDataset: tensor {} is 0-d; every tensor needs a dim 0 of "
                                                    "examples", k);
        TG_CHECK(tensors[k].size(0) == tensors[0].size(0), ShapeError,
                 "TensorDataset: tensor {} has {} rows (shape {}), but tensor 0 has {} (shape {}): all must share "
                 "dim 0",
                 k, tensors[k].size(0), shape_str(tensors[k].shape()), tensors[0].size(0),
                 shape_str(tensors[0].shape()));
        tensors_.push_back(tensors[k].detach());
    }
    size_ = tensors_[0].size(0);
}

std::string TensorDataset::name() const {
    std::vector<std::string> shapes;
    for (const Tensor& t : tensors_) shapes.push_back(shape_str(t.shape()));
    return fmt::format("TensorDataset({})", fmt::join(shapes, ", "));
}

Example TensorDataset::get(int64_t index) const {
    check_index(index);
    NoGradGuard no_grad;
    Example out;
    for (const Tensor& t : tensors_) out.push_back(t.select(0, index));
    return out;
}

Batch TensorDataset::get_batch(const std::vector<int64_t>& indices) const {
    TG_CHECK(!indices.empty(), ValueError, "{}: get_batch of no indices", name());
    for (int64_t i : indices) check_index(i);
    NoGradGuard no_grad;
    const Tensor index = tensor(indices);
    Batch batch;
    batch.indices = indices;
    for (const Tensor& t : tensors_) batch.fields.push_back(index_select(t, 0, index));
    return batch;
}

}  // namespace tg::data
