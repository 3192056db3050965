#include "tasks.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace example {

using namespace tg;

Tensor batch_loss(nn::GPT& model, const Batch& b) {
    Tensor logits = model.logits(b.tokens);  // (B, T, V)
    const int64_t B = b.tokens.shape()[0], T = b.tokens.shape()[1], V = model.config().vocab_size;
    const int64_t n = T - b.loss_start;
    if (b.loss_start > 0) {
        logits = slice(logits, 1, b.loss_start, T);
        return cross_entropy(reshape(logits, {B * n, V}), reshape(slice(b.targets, 1, b.loss_start, T), {B * n}));
    }
    return cross_entropy(reshape(logits, {B * T, V}), reshape(b.targets, {B * T}));
}

namespace {

constexpr int64_t kDigits = 10;
constexpr int64_t kSep = kDigits;  // the separator token
constexpr int64_t kEvalRows = 512;
constexpr int64_t kEvalWindows = 64;   // held-out windows of the text task
constexpr int64_t kSampleChars = 200;  // characters generated per text sample

class SequenceTask : public Task {
public:
    SequenceTask(std::string kind, int64_t length, uint64_t seed) : kind_(std::move(kind)), n_(length), seed_(seed) {
        if (kind_ != "sort" && kind_ != "reverse")
            throw ValueError(fmt::format("task must be sort or reverse, got '{}'", kind_));
        if (length < 2 || length > 32) throw ValueError(fmt::format("sequence length must be in [2, 32], got {}", length));
        Generator gen(seed ^ 0x5eed5eedULL);
        std::vector<std::vector<int64_t>> rows;
        while (static_cast<int64_t>(rows.size()) < kEvalRows) {
            std::vector<int64_t> x = draw(gen);
            if (held_out_.insert(x).second) rows.push_back(x);
        }
        eval_ = make_batch(rows);
    }
    std::string name() const override { return kind_; }
    int64_t vocab_size() const override { return kDigits + 1; }
    int64_t context_length() const override { return 2 * n_; }

    Batch train_batch(int64_t batch_size, int64_t step) const override {
        Generator gen(seed_ * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(step));
        std::vector<std::vector<int64_t>> rows;
        while (static_cast<int64_t>(rows.size()) < batch_size) {
            std::vector<int64_t> x = draw(gen);
            if (!held_out_.count(x)) rows.push_back(std::move(x));
        }
        return make_batch(rows);
    }
    const Batch& eval_batch() const override { return eval_; }

    double accuracy(nn::GPT& model) const override {
        const std::vector<int64_t> got = answers(model, eval_);
        const std::vector<int64_t> want = eval_.targets.to_vector<int64_t>();
        int64_t correct = 0;
        for (int64_t r = 0; r < kEvalRows; ++r) {
            bool same = true;
            // y_i is target n + i of its row.
            for (int64_t i = 0; i < n_; ++i) same = same && got[r * n_ + i] == want[r * 2 * n_ + n_ + i];
            correct += same;
        }
        return static_cast<double>(correct) / kEvalRows;
    }

    std::string accuracy_name() const override {
        return fmt::format("exact match of the {} generated digits, {} held-out rows", n_, kEvalRows);
    }

    std::vector<std::string> samples(nn::GPT& model, int64_t n, uint64_t seed) const override {
        Generator gen(seed);
        std::vector<std::vector<int64_t>> rows;
        for (int64_t i = 0; i < n; ++i) rows.push_back(draw(gen));
        const Batch b = make_batch(rows);
        const std::vector<int64_t> got = answers(model, b);
        std::vector<std::string> out;
        for (std::size_t r = 0; r < rows.size(); ++r) {
            std::vector<int64_t> want = solve(rows[r]);
            std::vector<int64_t> mine(got.begin() + static_cast<std::ptrdiff_t>(r * n_), got.begin() + static_cast<std::ptrdiff_t>((r + 1) * n_));
            out.push_back(fmt::format("{} {} -> {}  {}", kind_, fmt::join(rows[r], ""), fmt::join(mine, ""),
                                      mine == want ? "correct" : fmt::format("(expected {})", fmt::join(want, ""))));
        }
        return out;
    }

private:
    std::vector<int64_t> draw(Generator& gen) const {
        std::vector<int64_t> x(static_cast<std::size_t>(n_));
        for (int64_t& v : x) v = static_cast<int64_t>(gen.below(kDigits));
        return x;
    }
    std::vector<int64_t> solve(std::vector<int64_t> x) const {
        if (kind_ == "sort") std::sort(x.begin(), x.end());
        else std::reverse(x.begin(), x.end());
        return x;
    }
    // Row: x_1 .. x_n SEP y_1 .. y_n; the model reads all but the last token and predicts the
    // next one; only the n answer positions (from SEP on) count.
    Batch make_batch(const std::vector<std::vector<int64_t>>& rows) const {
        const int64_t B = static_cast<int64_t>(rows.size()), T = 2 * n_;
        std::vector<int64_t> tok, tgt;
        tok.reserve(static_cast<std::size_t>(B * T));
        tgt.reserve(static_cast<std::size_t>(B * T));
        for (const auto& x : rows) {
            std::vector<int64_t> seq = x;
            seq.push_back(kSep);
            const std::vector<int64_t> y = solve(x);
            seq.insert(seq.end(), y.begin(), y.end());
            tok.insert(tok.end(), seq.begin(), seq.end() - 1);
            tgt.insert(tgt.end(), seq.begin() + 1, seq.end());
        }
        return {tensor(tok, {B, T}), tensor(tgt, {B, T}), n_};
    }
    // Greedy answers for the rows of b: (rows * n) tokens.
    std::vector<int64_t> answers(nn::GPT& model, const Batch& b) const {
        Tensor prompt = slice(b.tokens, 1, 0, n_ + 1);
        const bool was_training = model.is_training();
        model.eval();
        Tensor full = model.generate(prompt, n_, /*temperature=*/0.0);
        model.train(was_training);
        return slice(full, 1, n_ + 1, 2 * n_ + 1).to_vector<int64_t>();
    }

    std::string kind_;
    int64_t n_;
    uint64_t seed_;
    std::set<std::vector<int64_t>> held_out_;
    Batch eval_;
};

class TextTask : public Task {
public:
    TextTask(const std::string& path, int64_t context, uint64_t seed) : context_(context), seed_(seed) {
        std::ifstream in(path, std::ios::binary);
        if (!in) throw IOError(fmt::format("--text: cannot open '{}'", path));
        std::stringstream ss;
        ss << in.rdbuf();
        const std::string text = ss.str();
        std::set<unsigned char> chars(text.begin(), text.end());
        for (unsigned char c : chars) {
            index_[c] = static_cast<int64_t>(alphabet_.size());
            alphabet_.push_back(static_cast<char>(c));
        }
        for (unsigned char c : text) ids_.push_back(index_[c]);
        const int64_t split = static_cast<int64_t>(ids_.size()) * 9 / 10;
        if (split <= context + 1 || static_cast<int64_t>(ids_.size()) - split <= context + 1)
            throw ValueError(fmt::format("--text: '{}' has {} characters; with context {} it needs at least {}", path,
                                         ids_.size(), context, 20 * (context + 2)));
        train_end_ = split;
        // Held-out windows: evenly spaced over the last 10%.
        std::vector<int64_t> starts;
        const int64_t span = static_cast<int64_t>(ids_.size()) - split - context - 1;
        for (int64_t i = 0; i < kEvalWindows; ++i) starts.push_back(split + span * i / kEvalWindows);
        eval_ = windows(starts);
    }
    std::string name() const override { return "text"; }
    int64_t vocab_size() const override { return static_cast<int64_t>(alphabet_.size()); }
    int64_t context_length() const override { return context_; }

    Batch train_batch(int64_t batch_size, int64_t step) const override {
        Generator gen(seed_ * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(step));
        std::vector<int64_t> starts;
        for (int64_t i = 0; i < batch_size; ++i)
            starts.push_back(static_cast<int64_t>(gen.below(static_cast<uint64_t>(train_end_ - context_ - 1))));
        return windows(starts);
    }
    const Batch& eval_batch() const override { return eval_; }

    double accuracy(nn::GPT& model) const override {
        NoGradGuard ng;
        const Tensor logits = model.logits(eval_.tokens);
        const int64_t V = vocab_size();
        const std::vector<float> l = logits.to(Dtype::f32).to_vector<float>();
        const std::vector<int64_t> t = eval_.targets.to_vector<int64_t>();
        int64_t correct = 0;
        for (std::size_t i = 0; i < t.size(); ++i) {
            const auto row = l.begin() + static_cast<std::ptrdiff_t>(i) * V;
            correct += std::max_element(row, row + V) - row == t[i];
        }
        return static_cast<double>(correct) / static_cast<double>(t.size());
    }

    std::string accuracy_name() const override {
        return fmt::format("next-character accuracy, {} windows of {} in the last 10%", kEvalWindows, context_);
    }

    // Sample i continues the first characters of held-out window i * 64 / n; the n samples are
    // generated together, each with its own draws.
    std::vector<std::string> samples(nn::GPT& model, int64_t n, uint64_t seed) const override {
        const int64_t T0 = std::min<int64_t>(16, context_);
        const std::vector<int64_t> held_out = eval_.tokens.to_vector<int64_t>();  // (64, context)
        std::vector<int64_t> first;
        for (int64_t i = 0; i < n; ++i) {
            const auto row = held_out.begin() + static_cast<std::ptrdiff_t>(i * kEvalWindows / n * context_);
            first.insert(first.end(), row, row + T0);
        }
        const Tensor prompt = tensor(first, {n, T0});
        const bool was_training = model.is_training();
        model.eval();
        const std::vector<int64_t> ids = model.generate(prompt, kSampleChars, 0.8, 10, seed).to_vector<int64_t>();
        model.train(was_training);
        std::vector<std::string> out;
        const int64_t T = T0 + kSampleChars;
        for (int64_t i = 0; i < n; ++i) {
            std::string text = fmt::format("sample {} of {} ({} held-out characters, then {} generated):", i + 1, n, T0, kSampleChars);
            text += "\n  ";
            for (int64_t t = 0; t < T; ++t) {
                const char c = alphabet_[static_cast<std::size_t>(ids[static_cast<std::size_t>(i * T + t)])];
                text += c == '\n' ? std::string("\n  ") : std::string(1, c);
            }
            out.push_back(std::move(text));
        }
        return out;
    }

private:
    Batch windows(const std::vector<int64_t>& starts) const {
        std::vector<int64_t> tok, tgt;
        for (int64_t s : starts) {
            tok.insert(tok.end(), ids_.begin() + s, ids_.begin() + s + context_);
            tgt.insert(tgt.end(), ids_.begin() + s + 1, ids_.begin() + s + context_ + 1);
        }
        const auto B = static_cast<int64_t>(starts.size());
        return {tensor(tok, {B, context_}), tensor(tgt, {B, context_}), 0};
    }

    int64_t context_;
    uint64_t seed_;
    std::vector<char> alphabet_;
    std::map<unsigned char, int64_t> index_;
    std::vector<int64_t> ids_;
    int64_t train_end_ = 0;
    Batch eval_;
};

}  // namespace

std::unique_ptr<Task> make_sequence_task(const std::string& kind, int64_t length, uint64_t seed) {
    return std::make_unique<SequenceTask>(kind, length, seed);
}

std::unique_ptr<Task> make_text_task(const std::string& path, int64_t context, uint64_t seed) {
    return std::make_unique<TextTask>(path, context, seed);
}

}  // namespace example
