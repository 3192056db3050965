// A small CNN (two conv + batch norm + ReLU + max pooling blocks, then two linear layers)
// trained on Fashion-MNIST, the real image set Debian ships in dataset-fashion-mnist.
// Writes metrics.csv, the checkpoint (model.safetensors, BatchNorm buffers included) and
// report.svg to --out; the last line printed is the final test accuracy.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <numeric>
#include <tapegrad.hpp>

#include "../common/cli_checks.hpp"
#include "model.hpp"
#include "report.hpp"

using namespace tg;
using namespace example;
namespace fs = std::filesystem;

namespace {

// Fashion-MNIST's pixel mean and standard deviation over the training set (of values / 255).
constexpr double kMean = 0.2860, kStd = 0.3530;

struct Options {
    std::string data = "/usr/share/datasets/fashion-mnist", out = "runs/fashion_mnist";
    int64_t epochs = 8, batch = 128, width = 32, threads = 2, train_limit = 0, test_limit = 0;
    double lr = 2e-3, weight_decay = 5e-4, dropout = 0.25;
    uint64_t seed = 1;
    bool augment = true;
};

/// Images idx[0..n) of set as a normalised (n, 1, rows, cols) float tensor and their labels;
/// with flip, each image is mirrored left-right with probability 1/2.
std::pair<Tensor, Tensor> make_batch(const data::IdxImages& set, const std::vector<int64_t>& idx, std::size_t begin,
                                     std::size_t end, Generator* flip) {
    const auto n = static_cast<int64_t>(end - begin);
    const int64_t pixels = set.rows * set.cols;
    Tensor x = Tensor::empty({n, 1, set.rows, set.cols});
    std::vector<int64_t> y(static_cast<std::size_t>(n));
    float* px = x.data<float>();
    for (int64_t i = 0; i < n; ++i) {
        const int64_t item = idx[begin + static_cast<std::size_t>(i)];
        const uint8_t* src = set.pixels.data() + item * pixels;
        const bool mirror = flip && flip->uniform() < 0.5;
        for (int64_t r = 0; r < set.rows; ++r)
            for (int64_t c = 0; c < set.cols; ++c) {
                const int64_t from = r * set.cols + (mirror ? set.cols - 1 - c : c);
                px[i * pixels + r * set.cols + c] = static_cast<float>((src[from] / 255.0 - kMean) / kStd);
            }
        y[static_cast<std::size_t>(i)] = set.labels[static_cast<std::size_t>(item)];
    }
    x.mark_modified();
    return {x, tensor(y)};
}

struct Evaluation {
    double loss = 0, accuracy = 0;
    Confusion confusion{};
    std::vector<int> predictions;
};

Evaluation evaluate(FashionCNN& model, const data::IdxImages& set) {
    NoGradGuard no_grad;
    model.eval();
    Evaluation e;
    std::vector<int64_t> idx(static_cast<std::size_t>(set.n));
    std::iota(idx.begin(), idx.end(), 0);
    const std::size_t chunk = 1000;
    int64_t correct = 0;
    for (std::size_t b = 0; b < idx.size(); b += chunk) {
        const std::size_t end = std::min(idx.size(), b + chunk);
        auto [x, y] = make_batch(set, idx, b, end, nullptr);
        const Tensor logits = model.forward(x);
        e.loss += cross_entropy(logits, y).item<double>() * static_cast<double>(end - b);
        const std::vector<int64_t> pred = argmax(logits, 1).to_vector<int64_t>();
        const std::vector<int64_t> truth = y.to_vector<int64_t>();
        for (std::size_t i = 0; i < pred.size(); ++i) {
            correct += pred[i] == truth[i];
            ++e.confusion[static_cast<std::size_t>(truth[i])][static_cast<std::size_t>(pred[i])];
            e.predictions.push_back(static_cast<int>(pred[i]));
        }
    }
    model.train();
    e.loss /= static_cast<double>(set.n);
    e.accuracy = static_cast<double>(correct) / static_cast<double>(set.n);
    return e;
}

std::string clock_str(double seconds) {
    const auto s = static_cast<int64_t>(std::max(0.0, seconds));
    return fmt::format("{}:{:02d}", s / 60, s % 60);
}

// Per class, the first two test images and the first one the model got wrong (or the third):
// the report's picture grid.
std::vector<Sample> pick_samples(const data::IdxImages& test, const std::vector<int>& predictions) {
    std::vector<Sample> out;
    auto take = [&](int64_t i) {
        const auto px = test.pixels.begin() + i * test.rows * test.cols;
        out.push_back({std::vector<uint8_t>(px, px + test.rows * test.cols), test.rows, test.cols,
                       predictions[static_cast<std::size_t>(i)], int(test.labels[static_cast<std::size_t>(i)])});
    };
    for (int c = 0; c < kClasses; ++c) {
        std::vector<int64_t> right, wrong;
        for (int64_t i = 0; i < test.n; ++i) {
            if (test.labels[static_cast<std::size_t>(i)] != c) continue;
            (predictions[static_cast<std::size_t>(i)] == c ? right : wrong).push_back(i);
        }
        for (std::size_t k = 0; k < 2 && k < right.size(); ++k) take(right[k]);
        if (!wrong.empty()) take(wrong.front());
        else if (right.size() > 2) take(right[2]);
    }
    return out;
}

int run(const Options& o) {
    set_num_threads(static_cast<int>(o.threads));
    manual_seed(o.seed);
    const data::IdxImages train = data::read_idx_pair(o.data, "train", kClasses, o.train_limit);
    const data::IdxImages test = data::read_idx_pair(o.data, "t10k", kClasses, o.test_limit);
    if (train.rows != 28 || train.cols != 28 || test.rows != 28 || test.cols != 28)
        throw IOError(fmt::format("expected 28 x 28 images, got {} x {} (train) and {} x {} (test)", train.rows,
                                    train.cols, test.rows, test.cols));
    fs::create_directories(o.out);

    FashionCNN model(o.width, o.dropout);
    fmt::print("Fashion-MNIST: {} training and {} test images from {}\n{}", train.n, test.n, o.data, model);
    fmt::print("{} parameters; {} epochs of batch {}, AdamW lr {} (cosine decay), {} thread(s)\n",
               model.num_parameters(), o.epochs, o.batch, o.lr, o.threads);

    optim::AdamW opt(model.parameters(), {.lr = o.lr, .weight_decay = o.weight_decay});
    const int64_t steps_per_epoch = (train.n + o.batch - 1) / o.batch, total = steps_per_epoch * o.epochs;
    optim::CosineDecay schedule(o.lr, std::min<int64_t>(100, total / 10), total, o.lr / 50);
    Generator shuffle_gen(o.seed + 1), flip_gen(o.seed + 2);
    std::vector<int64_t> order(static_cast<std::size_t>(train.n));
    std::iota(order.begin(), order.end(), 0);

    const bool tty = isatty(STDOUT_FILENO);
    std::vector<EpochRow> rows;
    Evaluation last;
    int64_t step = 0;
    double train_seconds = 0;
    for (int64_t epoch = 1; epoch <= o.epochs; ++epoch) {
        for (std::size_t i = order.size() - 1; i > 0; --i)  // Fisher-Yates with our own generator
            std::swap(order[i], order[static_cast<std::size_t>(shuffle_gen.uniform() * static_cast<double>(i + 1)) % (i + 1)]);
        double loss_sum = 0;
        int64_t correct = 0, seen = 0;
        const auto t0 = std::chrono::steady_clock::now();
        for (std::size_t b = 0; b < order.size(); b += static_cast<std::size_t>(o.batch), ++step) {
            const std::size_t end = std::min(order.size(), b + static_cast<std::size_t>(o.batch));
            auto [x, y] = make_batch(train, order, b, end, o.augment ? &flip_gen : nullptr);
            const Tensor logits = model.forward(x);
            const Tensor loss = cross_entropy(logits, y);
            opt.zero_grad();
            loss.backward();
            schedule.apply(opt, step);
            opt.step();
            const auto n = static_cast<int64_t>(end - b);
            loss_sum += loss.item<double>() * static_cast<double>(n);
            const std::vector<int64_t> pred = argmax(logits.detach(), 1).to_vector<int64_t>(), truth = y.to_vector<int64_t>();
            for (std::size_t k = 0; k < pred.size(); ++k) correct += pred[k] == truth[k];
            seen += n;
            if (tty && (step % 20 == 0 || end == order.size()))
                fmt::print("\repoch {}/{}  {:5.1f}%  loss {:.4f}", epoch, o.epochs, 100.0 * static_cast<double>(end) / static_cast<double>(order.size()),
                           loss_sum / static_cast<double>(seen));
            std::fflush(stdout);
        }
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        train_seconds += seconds;
        last = evaluate(model, test);
        rows.push_back({epoch, loss_sum / static_cast<double>(seen), static_cast<double>(correct) / static_cast<double>(seen),
                        last.loss, last.accuracy, static_cast<double>(seen) / seconds});
        const EpochRow& r = rows.back();
        fmt::print("{}epoch {}/{}  train loss {:.4f} acc {:.2f}%  test loss {:.4f} acc {:.2f}%  {:.0f} images/s  {}\n",
                   tty ? "\r" : "", epoch, o.epochs, r.train_loss, 100 * r.train_accuracy, r.test_loss,
                   100 * r.test_accuracy, r.images_per_s, clock_str(train_seconds));
        nn::write_file_atomically((fs::path(o.out) / "metrics.csv").string(), metrics_csv(rows));
        model.save((fs::path(o.out) / "model.safetensors").string());
    }
    const std::string subtitle =
        fmt::format("{} epochs, batch {}, {} training images; test accuracy {:.2f}%; {} of training", o.epochs,
                    o.batch, train.n, 100 * last.accuracy, clock_str(train_seconds));
    nn::write_file_atomically((fs::path(o.out) / "report.svg").string(),
                              report_svg(rows, last.confusion, pick_samples(test, last.predictions), subtitle));
    fmt::print("wrote {}/metrics.csv, model.safetensors and report.svg ({} of training)\n", o.out,
               clock_str(train_seconds));
    fmt::print("test accuracy: {:.4f}\n", last.accuracy);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{"Trains a small CNN (conv, batch norm, ReLU, max pooling, linear) on Fashion-MNIST"};
    app.add_option("--data", o.data, "folder of the IDX files (train-images-idx3-ubyte.gz, ...)")->capture_default_str();
    app.add_option("--out", o.out, "output folder")->capture_default_str();
    app.add_option("--epochs", o.epochs, "passes over the training set")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--batch", o.batch, "images per step")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--lr", o.lr, "peak learning rate (AdamW, cosine decay)")->capture_default_str()->check(positive());
    app.add_option("--weight-decay", o.weight_decay, "AdamW's decoupled weight decay")->capture_default_str()->check(non_negative());
    app.add_option("--dropout", o.dropout, "dropout before the first linear layer")->capture_default_str()->check(in_range(0.0, 0.99));
    app.add_option("--width", o.width, "channels of the first conv (the second has twice as many)")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--threads", o.threads, "threads (BLAS and OpenMP)")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--seed", o.seed, "seed of initialisation, shuffling and augmentation")->capture_default_str();
    app.add_option("--train-limit", o.train_limit, "use only the first N training images (0: all)")->capture_default_str()->check(CLI::NonNegativeNumber);
    app.add_option("--test-limit", o.test_limit, "use only the first N test images (0: all)")->capture_default_str()->check(CLI::NonNegativeNumber);
    app.add_flag("!--no-augment", o.augment, "no random left-right flips of training images");
    CLI11_PARSE(app, argc, argv);
    try {
        return run(o);
    } catch (const IOError& e) {
        fmt::print(stderr, "fashion_mnist: {}\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        fmt::print(stderr, "fashion_mnist: {}\n", e.what());
        return 1;
    }
}
