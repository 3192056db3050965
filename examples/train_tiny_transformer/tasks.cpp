#include "tasks.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace example {

using namespace tg;
namespace fs = std::filesystem;

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

// Language modelling on a text split into a training part (the first 90% of its bytes) and a
// held-out part (the rest), each a stream of tokens. The subclasses say what a token is.
class TextTask : public Task {
public:
    int64_t context_length() const override { return context_; }

    Batch train_batch(int64_t batch_size, int64_t step) const override {
        Generator gen(seed_ * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(step));
        std::vector<int64_t> starts;
        for (int64_t i = 0; i < batch_size; ++i)
            starts.push_back(static_cast<int64_t>(gen.below(static_cast<uint64_t>(num_tokens(false) - context_ - 1))));
        return windows(false, starts);
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
        return fmt::format("next-{} accuracy, {} windows of {} in the last 10%", unit(), kEvalWindows, context_);
    }

    // Sample i continues the first tokens of held-out window i * 64 / n; the n samples are
    // generated together, each with its own draws.
    std::vector<std::string> samples(nn::GPT& model, int64_t n, uint64_t seed) const override {
        const int64_t T0 = std::min<int64_t>(16, context_);
        const int64_t new_tokens = std::max<int64_t>(1, kSampleChars / bytes_per_token_estimate());
        const std::vector<int64_t> held_out = eval_.tokens.to_vector<int64_t>();  // (64, context)
        std::vector<int64_t> first;
        for (int64_t i = 0; i < n; ++i) {
            const auto row = held_out.begin() + static_cast<std::ptrdiff_t>(i * kEvalWindows / n * context_);
            first.insert(first.end(), row, row + T0);
        }
        const Tensor prompt = tensor(first, {n, T0});
        const bool was_training = model.is_training();
        model.eval();
        const std::vector<int64_t> ids = model.generate(prompt, new_tokens, 0.8, 10, seed).to_vector<int64_t>();
        model.train(was_training);
        std::vector<std::string> out;
        const int64_t T = T0 + new_tokens;
        for (int64_t i = 0; i < n; ++i) {
            const auto row = ids.begin() + static_cast<std::ptrdiff_t>(i * T);
            const std::string head = decode({row, row + T0}), tail = decode({row + T0, row + T});
            std::string text = fmt::format("sample {} of {} ({} held-out {}s, then {} generated):", i + 1, n, T0, unit(),
                                           new_tokens);
            text += "\n  ";
            for (const char c : head + tail) text += c == '\n' ? std::string("\n  ") : std::string(1, c);
            out.push_back(std::move(text));
        }
        return out;
    }

    std::optional<HeldOut> held_out(nn::GPT& model) const override {
        NoGradGuard ng;
        const bool was_training = model.is_training();
        model.eval();
        // Windows side by side: every held-out token after the first is a target exactly once.
        const int64_t n = num_tokens(true);
        const int64_t rows = 16;
        double nats = 0;
        int64_t targets = 0, bytes = 0;
        for (int64_t start = 0; start + 1 < n;) {
            std::vector<int64_t> tok, tgt;
            int64_t T = 0, B = 0;
            for (; B < rows && start + 1 < n; ++B, start += T) {
                const int64_t len = std::min(context_, n - 1 - start);
                if (B == 0) T = len;
                if (len != T) break;  // the shorter last window runs on its own
                for (int64_t k = 0; k < T; ++k) {
                    tok.push_back(token(true, start + k));
                    tgt.push_back(token(true, start + k + 1));
                }
            }
            const Tensor logits = model.logits(tensor(tok, {B, T}));
            const Tensor loss = cross_entropy(reshape(logits, {B * T, vocab_size()}), tensor(tgt, {B * T}));
            nats += loss.item<double>() * static_cast<double>(B * T);
            targets += B * T;
            for (int64_t id : tgt) bytes += bytes_of(id);
        }
        model.train(was_training);
        return HeldOut{nats / static_cast<double>(targets), nats / std::log(2.0) / static_cast<double>(bytes), targets,
                       bytes};
    }

protected:
    TextTask(int64_t context, uint64_t seed) : context_(context), seed_(seed) {}

    /// Tokens of the training part (held_out false) or of the held-out part.
    virtual int64_t num_tokens(bool held_out) const = 0;
    virtual int64_t token(bool held_out, int64_t k) const = 0;
    virtual std::string decode(const std::vector<int64_t>& ids) const = 0;
    /// The bytes of text token id stands for.
    virtual int64_t bytes_of(int64_t id) const = 0;
    virtual int64_t bytes_per_token_estimate() const = 0;
    /// "character" or "token".
    virtual std::string unit() const = 0;

    /// Checks the sizes and sets the held-out windows; the subclass calls it once its tokens
    /// are in place.
    void finish(const std::string& path) {
        for (const bool part : {false, true})
            if (num_tokens(part) <= context_ + 1)
                throw ValueError(fmt::format("--text: '{}' gives {} {}s of {} text; with context {} each part needs more "
                                             "than {} (give a longer file or a shorter --context)",
                                             path, num_tokens(part), unit(), part ? "held-out" : "training", context_,
                                             context_ + 1));
        std::vector<int64_t> starts;  // evenly spaced over the held-out part
        const int64_t span = num_tokens(true) - context_ - 1;
        for (int64_t i = 0; i < kEvalWindows; ++i) starts.push_back(span * i / kEvalWindows);
        eval_ = windows(true, starts);
    }

    Batch windows(bool held_out, const std::vector<int64_t>& starts) const {
        std::vector<int64_t> tok, tgt;
        for (int64_t s : starts)
            for (int64_t k = 0; k < context_; ++k) {
                tok.push_back(token(held_out, s + k));
                tgt.push_back(token(held_out, s + k + 1));
            }
        const auto B = static_cast<int64_t>(starts.size());
        return {tensor(tok, {B, context_}), tensor(tgt, {B, context_}), 0};
    }

    static std::string read_text(const std::string& path) {
        std::ifstream in(path, std::ios::binary);
        if (!in) throw IOError(fmt::format("--text: cannot open '{}'", path));
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }
    /// Where the held-out part starts: 90% of the bytes.
    static std::size_t split_of(const std::string& text) { return text.size() * 9 / 10; }

    int64_t context_;
    uint64_t seed_;
    Batch eval_;
};

// One token per distinct byte of the file.
class CharTextTask : public TextTask {
public:
    CharTextTask(const std::string& path, int64_t context, uint64_t seed) : TextTask(context, seed) {
        const std::string text = read_text(path);
        std::set<unsigned char> chars(text.begin(), text.end());
        for (unsigned char c : chars) {
            index_[c] = static_cast<int64_t>(alphabet_.size());
            alphabet_.push_back(static_cast<char>(c));
        }
        const std::size_t split = split_of(text);
        for (std::size_t i = 0; i < text.size(); ++i)
            (i < split ? train_ : held_) .push_back(index_[static_cast<unsigned char>(text[i])]);
        finish(path);
    }
    std::string name() const override { return "text"; }
    int64_t vocab_size() const override { return static_cast<int64_t>(alphabet_.size()); }

protected:
    int64_t num_tokens(bool held_out) const override { return static_cast<int64_t>((held_out ? held_ : train_).size()); }
    int64_t token(bool held_out, int64_t k) const override { return (held_out ? held_ : train_)[static_cast<std::size_t>(k)]; }
    std::string decode(const std::vector<int64_t>& ids) const override {
        std::string s;
        for (int64_t id : ids) s += alphabet_[static_cast<std::size_t>(id)];
        return s;
    }
    int64_t bytes_of(int64_t) const override { return 1; }
    int64_t bytes_per_token_estimate() const override { return 1; }
    std::string unit() const override { return "character"; }

private:
    std::vector<char> alphabet_;
    std::map<unsigned char, int64_t> index_;
    std::vector<int64_t> train_, held_;
};

// Tokens of a byte-level BPE vocabulary trained on the training part, cached in a folder:
// encoder.json and vocab.bpe (GPT-2's formats), train.bin and held_out.bin (nanoGPT's uint16
// token files, memory-mapped), and source.json, written last, which says what they were made
// from.
class BpeTextTask : public TextTask {
public:
    BpeTextTask(const std::string& path, int64_t context, uint64_t seed, const TextOptions& o)
        : TextTask(context, seed), vocab_(o.vocab) {
        if (o.vocab < 256 || o.vocab > 65536)
            throw ValueError(fmt::format("--vocab {}: a byte-level BPE vocabulary holds 256 to 65536 tokens (the token "
                                         "files store uint16)", o.vocab));
        if (o.cache_dir.empty()) throw ValueError("the bpe tokenizer needs a cache folder");
        const fs::path dir(o.cache_dir);
        const std::string text = read_text(path);
        const std::size_t split = split_of(text);
        const nlohmann::json source{{"text", fs::absolute(path).string()}, {"bytes", text.size()},
                                    {"fnv1a", fnv1a(text)},              {"split", split},
                                    {"vocab", o.vocab}};
        const fs::path source_path = dir / "source.json";
        bool cached = false;
        if (fs::exists(source_path)) {
            std::ifstream in(source_path);
            const auto have = nlohmann::json::parse(in, nullptr, false);
            cached = !have.is_discarded() && have == source;
            if (!cached) fmt::print("tapegrad: {} was made from another text or vocabulary size; making it again\n", o.cache_dir);
        }
        if (cached) {
            tokenizer_.emplace(data::BPETokenizer::load((dir / "encoder.json").string(), (dir / "vocab.bpe").string()));
            fmt::print("tapegrad: BPE vocabulary of {} tokens and token files from {}\n", tokenizer_->vocab_size(), o.cache_dir);
        } else {
            fs::create_directories(dir);
            fs::remove(source_path);
            const auto t0 = std::chrono::steady_clock::now();
            tokenizer_.emplace(data::BPETokenizer::train(std::string_view(text).substr(0, split), o.vocab));
            const auto t1 = std::chrono::steady_clock::now();
            const std::vector<int64_t> train = tokenizer_->encode(std::string_view(text).substr(0, split));
            const std::vector<int64_t> held = tokenizer_->encode(std::string_view(text).substr(split));
            const auto t2 = std::chrono::steady_clock::now();
            tokenizer_->save((dir / "encoder.json").string(), (dir / "vocab.bpe").string());
            data::TokenFile::write((dir / "train.bin").string(), train);
            data::TokenFile::write((dir / "held_out.bin").string(), held);
            nn::write_file_atomically(source_path.string(), source.dump(2));
            fmt::print("tapegrad: trained a BPE vocabulary of {} tokens on {} bytes in {:.1f} s, encoded the text in {:.1f} s "
                       "({} + {} tokens, {:.2f} bytes per token); cached in {}\n",
                       tokenizer_->vocab_size(), split, std::chrono::duration<double>(t1 - t0).count(),
                       std::chrono::duration<double>(t2 - t1).count(), train.size(), held.size(),
                       static_cast<double>(text.size()) / static_cast<double>(train.size() + held.size()), o.cache_dir);
        }
        // Token windows are one longer than the context (inputs and targets): TokenFile's
        // context is not used here, only token(k).
        train_.emplace((dir / "train.bin").string(), 1);
        held_.emplace((dir / "held_out.bin").string(), 1);
        for (int64_t id = 0; id < tokenizer_->vocab_size(); ++id)
            bytes_.push_back(static_cast<int64_t>(tokenizer_->decode({id}).size()));
        bytes_per_token_ = static_cast<double>(text.size()) /
                           static_cast<double>(train_->num_tokens() + held_->num_tokens());
        finish(path);
    }
    std::string name() const override { return "text-bpe"; }
    int64_t vocab_size() const override { return tokenizer_->vocab_size(); }
    std::string config() const override { return fmt::format("bpe:{}", vocab_); }

protected:
    int64_t num_tokens(bool held_out) const override { return (held_out ? held_ : train_)->num_tokens(); }
    int64_t token(bool held_out, int64_t k) const override { return (held_out ? held_ : train_)->token(k); }
    std::string decode(const std::vector<int64_t>& ids) const override { return tokenizer_->decode(ids); }
    int64_t bytes_of(int64_t id) const override { return bytes_[static_cast<std::size_t>(id)]; }
    int64_t bytes_per_token_estimate() const override { return std::max<int64_t>(1, std::llround(bytes_per_token_)); }
    std::string unit() const override { return "token"; }

private:
    // FNV-1a of the text: a changed file of the same size makes the cache again.
    static uint64_t fnv1a(std::string_view s) {
        uint64_t h = 0xcbf29ce484222325ULL;
        for (const unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
        return h;
    }
    int64_t vocab_;
    std::optional<data::BPETokenizer> tokenizer_;
    std::optional<data::TokenFile> train_, held_;
    std::vector<int64_t> bytes_;
    double bytes_per_token_ = 1;
};

}  // namespace

std::unique_ptr<Task> make_sequence_task(const std::string& kind, int64_t length, uint64_t seed) {
    return std::make_unique<SequenceTask>(kind, length, seed);
}

std::unique_ptr<Task> make_text_task(const std::string& path, int64_t context, uint64_t seed, const TextOptions& options) {
    if (options.tokenizer == "char") return std::make_unique<CharTextTask>(path, context, seed);
    if (options.tokenizer == "bpe") return std::make_unique<BpeTextTask>(path, context, seed, options);
    throw ValueError(fmt::format("--tokenizer must be char or bpe, got '{}'", options.tokenizer));
}

}  // namespace example
