#pragma once
// The data the example trains on: a synthetic sequence task generated from the seed (sort or
// reverse a row of digits, which needs attention to solve), or characters of a text file.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <tapegrad.hpp>

namespace example {

/// A batch of next-token examples: the model reads tokens (B, T) and is scored against
/// targets (B, T) at positions loss_start .. T-1 only.
struct Batch {
    tg::Tensor tokens, targets;
    int64_t loss_start = 0;
};

class Task {
public:
    virtual ~Task() = default;
    virtual std::string name() const = 0;
    virtual int64_t vocab_size() const = 0;
    virtual int64_t context_length() const = 0;
    /// The training batch of a step: a function of (seed, step) alone, so runs and resumed runs
    /// see the same data.
    virtual Batch train_batch(int64_t batch_size, int64_t step) const = 0;
    /// A fixed held-out set, never seen in training.
    virtual const Batch& eval_batch() const = 0;
    /// Task accuracy on the held-out set: exact match of greedily generated answers (sequence
    /// tasks) or next-character accuracy (text).
    virtual double accuracy(tg::nn::GPT& model) const = 0;
    /// What accuracy() measures, in a few words (a label for the report).
    virtual std::string accuracy_name() const = 0;
    /// n samples showing what the model does, for the end of the run: one line each for the
    /// sequence tasks, a few lines each of generated text for the text task.
    virtual std::vector<std::string> samples(tg::nn::GPT& model, int64_t n, uint64_t seed) const = 0;
};

/// Rows of `length` digits (0-9), a separator, then the same digits sorted or reversed.
std::unique_ptr<Task> make_sequence_task(const std::string& kind, int64_t length, uint64_t seed);
/// Character-level language modelling on a text file: the last 10% is held out, and the
/// held-out loss and accuracy are measured on 64 windows of `context` characters spread over it.
std::unique_ptr<Task> make_text_task(const std::string& path, int64_t context, uint64_t seed);

/// The loss of a batch: mean cross-entropy over positions loss_start .. T-1.
tg::Tensor batch_loss(tg::nn::GPT& model, const Batch& batch);

}  // namespace example
