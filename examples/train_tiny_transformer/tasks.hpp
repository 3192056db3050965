#pragma once
// The data the example trains on: a synthetic sequence task generated from the seed (sort or
// reverse a row of digits, which needs attention to solve), or a text file, as characters or as
// tokens of a byte-level BPE vocabulary trained on it.
#include <cstdint>
#include <memory>
#include <optional>
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

/// A language model's loss on the whole held-out part of a text.
struct HeldOut {
    double nats_per_token = 0, bits_per_byte = 0;
    int64_t tokens = 0, bytes = 0;  // the targets scored and the bytes they spell
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
    /// Text tasks: the loss on every held-out token (windows of context_length() side by side,
    /// each token scored once), per token and in bits per byte of the text it spells, which
    /// compares models whatever their vocabulary. Sequence tasks: none.
    virtual std::optional<HeldOut> held_out(tg::nn::GPT&) const { return std::nullopt; }
    /// What the task adds to the run's configuration (a resumed run must match it).
    virtual std::string config() const { return name(); }
};

/// Rows of `length` digits (0-9), a separator, then the same digits sorted or reversed.
std::unique_ptr<Task> make_sequence_task(const std::string& kind, int64_t length, uint64_t seed);
struct TextOptions {
    /// char: one token per distinct byte of the file; bpe: a byte-level BPE vocabulary
    /// (tg::data::BPETokenizer) trained on the training part of the file.
    std::string tokenizer = "char";
    int64_t vocab = 2048;    ///< bpe: the vocabulary size (at least 256)
    std::string cache_dir;   ///< bpe: where the vocabulary and the token files are kept (required)
};

/// Language modelling on a text file: the last 10% of its bytes is held out; the loss and
/// accuracy printed during training are measured on 64 windows of `context` tokens spread over
/// it, held_out() on all of it. With the bpe tokenizer the vocabulary (encoder.json, vocab.bpe)
/// and the tokens of both parts (train.bin, held_out.bin in nanoGPT's uint16 layout, read
/// through memory maps) are cached in cache_dir and used again while the file, the vocabulary
/// size and the split are unchanged.
std::unique_ptr<Task> make_text_task(const std::string& path, int64_t context, uint64_t seed,
                                     const TextOptions& options = {});

/// The loss of a batch: mean cross-entropy over positions loss_start .. T-1.
tg::Tensor batch_loss(tg::nn::GPT& model, const Batch& batch);

}  // namespace example
