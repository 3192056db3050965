// README's "Data" example: a dataset of one's own, a DataLoader that shuffles, batches and
// prefetches in a background worker, and a BPE vocabulary trained on a text, its ids written as
// a token file and read back as training windows. Built and run by the tests.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <tapegrad.hpp>

using namespace tg;

// Points on two interleaved spirals, labelled by spiral: example i is {x (2) f32, label i64}.
class Spirals : public data::Dataset {
public:
    explicit Spirals(int64_t n) : n_(n) {}
    int64_t size() const override { return n_; }
    data::Example get(int64_t i) const override {
        check_index(i);  // "Spirals(400): index 400 is out of range ..."
        const int64_t label = i % 2;
        const double t = 0.5 + 3.0 * static_cast<double>(i / 2) / static_cast<double>(n_ / 2);
        const double sign = label ? -1.0 : 1.0;
        return {tensor({static_cast<float>(sign * t * std::cos(t)), static_cast<float>(sign * t * std::sin(t))}, {2}),
                tensor(std::vector<int64_t>{label}, {})};
    }
    std::string name() const override { return fmt::format("Spirals({})", n_); }

private:
    int64_t n_;
};

int main() {
    manual_seed(0);
    nn::Sequential net{std::make_shared<nn::Linear>(2, 64), std::make_shared<nn::GELU>(),
                       std::make_shared<nn::Linear>(64, 2)};
    optim::AdamW opt(net.parameters(), {.lr = 1e-2});
    data::DataLoader loader(Spirals(400), {.batch_size = 32, .shuffle = true, .seed = 1, .workers = 1});
    double last = 0;
    for (int epoch = 0; epoch < 20; ++epoch) {  // each loop over the loader is the next epoch
        double total = 0;
        for (data::Batch& b : loader) {  // b[0]: points (32, 2), b[1]: labels (32)
            Tensor loss = cross_entropy(net(b[0]), b[1]);
            opt.zero_grad();
            loss.backward();
            opt.step();
            total += loss.item<double>() * static_cast<double>(b.batch_size());
        }
        last = total / 400;
    }
    fmt::print("spirals: mean loss of the last epoch {:.3f} ({} batches per epoch)\n", last, loader.size());

    // A byte-level BPE vocabulary of 300 tokens trained on a text, and the text as a token file.
    const std::string text = "the cat sat on the mat; the cat ate the rat. " + std::string(200, ' ') +
                             "a mat, a rat, a cat: that is all there is.\n";
    data::BPETokenizer tok = data::BPETokenizer::train(text, 300);
    const std::vector<int64_t> ids = tok.encode(text);
    fmt::print("bpe: {} bytes -> {} tokens, vocabulary {}, round trip {}\n", text.size(), ids.size(), tok.vocab_size(),
               tok.decode(ids) == text ? "exact" : "BROKEN");
    const std::string path = (std::filesystem::temp_directory_path() / "tapegrad_data_example.bin").string();
    data::TokenFile::write(path, ids);
    data::TokenFile windows(path, /*context=*/8);  // example i: {ids[i, i + 8), ids[i + 1, i + 9)}
    Generator gen(3);
    auto [x, y] = windows.random_batch(4, gen);  // (4, 8) and (4, 8)
    fmt::print("token file: {} tokens, a batch of windows {} -> {}\n", windows.num_tokens(), shape_str(x.shape()),
               shape_str(y.shape()));
    std::filesystem::remove(path);
    return last < 0.3 && tok.decode(ids) == text && windows.num_tokens() == static_cast<int64_t>(ids.size()) ? 0 : 1;
}
