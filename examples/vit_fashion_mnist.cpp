// A Vision Transformer on Fashion-MNIST, written as a user writes their own model: patches of the
// image, a class token that attends to every patch (the library's TransformerBlock, which is not
// causal unless asked), and a linear head on the class token. With --causal the same model's
// blocks mask attention causally, and the class token, at position 0, then sees only itself:
// the model stays at chance. The last line printed is the held-out accuracy.
#include <CLI/CLI.hpp>
#include <numeric>
#include <tapegrad.hpp>


namespace {

// A ViT (Dosovitskiy et al. 2021) for 28 x 28 images: 7 x 7 patches of 4 x 4 pixels, a class
// token, learned positions, encoder blocks, and a head on the class token's output.
class ViT : public tg::nn::Module {
public:
    ViT(int64_t d_model, int64_t n_layer, int64_t n_head, bool causal)
        : patch(16, d_model), ln(d_model), head(d_model, 10), d_model(d_model) {
        cls = register_parameter("cls", tg::Tensor::zeros({1, 1, d_model}));
        pos = register_parameter("pos", tg::Tensor::randn({1, 50, d_model}) * 0.02);
        register_module("patch", patch);
        register_module("blocks", blocks);
        for (int64_t i = 0; i < n_layer; ++i)  // encoder blocks: every position sees every other
            h.push_back(blocks.push_back(std::make_shared<tg::nn::TransformerBlock>(
                d_model, n_head, tg::nn::TransformerBlockOptions{.causal = causal})));
        register_module("ln", ln);
        register_module("head", head);
    }

    /// (N, 1, 28, 28) images -> (N, 10) logits.
    tg::Tensor forward(const tg::Tensor& images) override {
        const int64_t N = images.size(0);
        // (N, 1, 28, 28) -> (N, 7, 4, 7, 4) -> (N, 7, 7, 4, 4) -> 49 patches of 16 pixels
        tg::Tensor p = images.reshape({N, 7, 4, 7, 4}).permute({0, 1, 3, 2, 4}).reshape({N, 49, 16});
        tg::Tensor x = tg::cat({cls.expand({N, 1, d_model}), patch.forward(p)}, 1) + pos;  // (N, 50, C)
        for (auto& block : h) x = block->forward(x);
        return head.forward(ln.forward(x).slice(1, 0, 1).squeeze(1));  // the class token
    }
    std::string type_name() const override { return "ViT"; }

    tg::nn::Parameter cls, pos;
    tg::nn::Linear patch;
    tg::nn::ModuleList blocks;
    std::vector<std::shared_ptr<tg::nn::TransformerBlock>> h;
    tg::nn::LayerNorm ln;
    tg::nn::Linear head;
    int64_t d_model;
};

// Fashion-MNIST's pixel mean and standard deviation (of values / 255).
constexpr double kMean = 0.2860, kStd = 0.3530;

// Images idx[begin, end) as a normalised (n, 1, 28, 28) tensor, and their labels.
std::pair<tg::Tensor, tg::Tensor> batch(const tg::data::IdxImages& set, const std::vector<int64_t>& idx,
                                        std::size_t begin, std::size_t end) {
    const auto n = static_cast<int64_t>(end - begin);
    std::vector<float> x(static_cast<std::size_t>(n * 784));
    std::vector<int64_t> y(static_cast<std::size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        const int64_t item = idx[begin + static_cast<std::size_t>(i)];
        for (int64_t j = 0; j < 784; ++j)
            x[static_cast<std::size_t>(i * 784 + j)] =
                static_cast<float>((set.pixels[static_cast<std::size_t>(item * 784 + j)] / 255.0 - kMean) / kStd);
        y[static_cast<std::size_t>(i)] = set.labels[static_cast<std::size_t>(item)];
    }
    return {tg::tensor(x, {n, 1, 28, 28}), tg::tensor(y)};
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"A Vision Transformer on Fashion-MNIST (Debian's dataset-fashion-mnist)"};
    std::string data = "/usr/share/datasets/fashion-mnist";
    int64_t steps = 600, batch_size = 64, train_limit = 10000, test_limit = 2000, d_model = 64, layers = 2, heads = 4,
            threads = 2;
    bool causal = false;
    app.add_option("--data", data, "folder of the IDX files")->capture_default_str();
    app.add_option("--steps", steps, "training steps")->check(CLI::Range(int64_t{1}, int64_t{1} << 30))->capture_default_str();
    app.add_option("--batch", batch_size, "images per step")->check(CLI::Range(int64_t{1}, int64_t{1} << 16))->capture_default_str();
    app.add_option("--train-limit", train_limit, "training images used (0: all 60,000)")->check(CLI::NonNegativeNumber)->capture_default_str();
    app.add_option("--test-limit", test_limit, "held-out images scored (0: all 10,000)")->check(CLI::NonNegativeNumber)->capture_default_str();
    app.add_option("--d-model", d_model, "width C")->check(CLI::Range(int64_t{4}, int64_t{4096}))->capture_default_str();
    app.add_option("--layers", layers, "encoder blocks")->check(CLI::Range(int64_t{1}, int64_t{64}))->capture_default_str();
    app.add_option("--heads", heads, "attention heads (dividing C)")->check(CLI::Range(int64_t{1}, int64_t{64}))->capture_default_str();
    app.add_option("--threads", threads, "OpenMP threads")->check(CLI::Range(int64_t{1}, int64_t{256}))->capture_default_str();
    app.add_flag("--causal", causal, "mask attention causally (wrong for images: shows what it does)");
    CLI11_PARSE(app, argc, argv);
    try {
        tg::set_num_threads(static_cast<int>(threads));
        tg::manual_seed(1);
        const tg::data::IdxImages train = tg::data::read_idx_pair(data, "train", 10, train_limit);
        const tg::data::IdxImages test = tg::data::read_idx_pair(data, "t10k", 10, test_limit);
        ViT model(d_model, layers, heads, causal);
        tg::optim::AdamW opt(model.parameters(), {.lr = 1e-3, .weight_decay = 0.05});
        std::vector<int64_t> order(static_cast<std::size_t>(train.n));
        std::iota(order.begin(), order.end(), 0);
        tg::Generator shuffle(2);
        std::size_t at = order.size();
        for (int64_t step = 1; step <= steps; ++step) {
            if (at + static_cast<std::size_t>(batch_size) > order.size()) {  // a new epoch, reshuffled
                for (std::size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[shuffle.below(i + 1)]);
                at = 0;
            }
            const auto [x, y] = batch(train, order, at, at + static_cast<std::size_t>(batch_size));
            at += static_cast<std::size_t>(batch_size);
            opt.zero_grad();
            tg::Tensor loss = tg::cross_entropy(model.forward(x), y);
            loss.backward();
            opt.step();
            if (step % 100 == 0 || step == steps) fmt::print("step {:5d}  loss {:.4f}\n", step, loss.item<double>());
        }
        model.eval();
        tg::NoGradGuard no_grad;
        std::vector<int64_t> all(static_cast<std::size_t>(test.n));
        std::iota(all.begin(), all.end(), 0);
        int64_t correct = 0;
        for (std::size_t b = 0; b < all.size(); b += 500) {
            const auto [x, y] = batch(test, all, b, std::min(all.size(), b + 500));
            correct += (tg::argmax(model.forward(x), 1) == y).sum().item<int64_t>();
        }
        fmt::print("{} ViT ({} blocks, C {}): held-out accuracy {:.1f}% on {} images\n", causal ? "causal" : "non-causal",
                   layers, d_model, 100.0 * static_cast<double>(correct) / static_cast<double>(test.n), test.n);
    } catch (const std::exception& e) {
        fmt::print(stderr, "vit_fashion_mnist: {}\n", e.what());
        return 1;
    }
}
