// The data layer: datasets, collate, the samplers, the DataLoader (with and without background
// workers) and the readers (IDX / Fashion-MNIST, token files, text files).
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include "helpers.hpp"

using namespace tg;
using tg::test::TempDir;

namespace {

// Example i is {[i, i + 0.5] (f32), i (i64)}; counts get() calls and records what a worker sees.
class CountingDataset : public data::Dataset {
public:
    explicit CountingDataset(int64_t n, int64_t throw_at = -1) : n_(n), throw_at_(throw_at) {}
    int64_t size() const override { return n_; }
    data::Example get(int64_t i) const override {
        check_index(i);
        calls->fetch_add(1);
        grad_enabled_seen->store(is_grad_enabled());
        threads_seen->store(num_threads());
        if (i == throw_at_) throw IOError("disk says no");
        return {tensor({float(i), float(i) + 0.5f}), Tensor::scalar(double(i), Dtype::i64)};
    }
    std::string name() const override { return "Counting"; }

    std::shared_ptr<std::atomic<int64_t>> calls = std::make_shared<std::atomic<int64_t>>(0);
    std::shared_ptr<std::atomic<bool>> grad_enabled_seen = std::make_shared<std::atomic<bool>>(true);
    std::shared_ptr<std::atomic<int>> threads_seen = std::make_shared<std::atomic<int>>(0);

private:
    int64_t n_, throw_at_;
};

std::vector<std::vector<int64_t>> epoch_indices(data::DataLoader& loader) {
    std::vector<std::vector<int64_t>> out;
    for (data::Batch& b : loader) out.push_back(b.indices);
    return out;
}

std::vector<int64_t> flat(const std::vector<std::vector<int64_t>>& batches) {
    std::vector<int64_t> out;
    for (const auto& b : batches) out.insert(out.end(), b.begin(), b.end());
    return out;
}

}  // namespace

TEST_CASE("TensorDataset gives rows of its tensors and gathers batches with index_select", "[data]") {
    Tensor x = Tensor::arange(12, Dtype::f64).reshape({6, 2});
    Tensor y = tensor(std::vector<int64_t>{10, 11, 12, 13, 14, 15});
    data::TensorDataset ds({x, y});
    CHECK(ds.size() == 6);
    CHECK(ds.name() == "TensorDataset((6, 2), (6,))");
    data::Example e = ds.get(4);
    REQUIRE(e.size() == 2);
    CHECK(e[0].to_vector<double>() == std::vector<double>{8, 9});
    CHECK(e[1].item<int64_t>() == 14);
    data::Batch b = ds.get_batch({5, 0});
    CHECK(b[0].shape() == Shape{2, 2});
    CHECK(b[0].to_vector<double>() == std::vector<double>{10, 11, 0, 1});
    CHECK(b[1].to_vector<int64_t>() == std::vector<int64_t>{15, 10});
    CHECK(b.batch_size() == 2);

    REQUIRE_THROWS_WITH(ds.get(6), Catch::Contains("TensorDataset((6, 2), (6,)): index 6 is out of range for a "
                                                   "dataset of 6 examples"));
    REQUIRE_THROWS_AS(ds.get(-1), ValueError);
    REQUIRE_THROWS_WITH(data::TensorDataset({x, Tensor::zeros({5})}),
                        Catch::Contains("tensor 1 has 5 rows (shape (5,)), but tensor 0 has 6 (shape (6, 2))"));
    REQUIRE_THROWS_WITH(data::TensorDataset({Tensor::scalar(1.0)}), Catch::Contains("tensor 0 is 0-d"));
    REQUIRE_THROWS_WITH(data::TensorDataset({}), Catch::Contains("needs at least one tensor"));
}

TEST_CASE("collate stacks fields and names the dataset, the indices and the shapes when they differ", "[data]") {
    std::vector<data::Example> ex = {{Tensor::ones({3}), Tensor::scalar(1)}, {Tensor::zeros({3}), Tensor::scalar(2)}};
    data::Batch b = data::collate(ex, {7, 9}, "Toy");
    CHECK(b[0].shape() == Shape{2, 3});
    CHECK(b[0].to_vector<float>() == std::vector<float>{1, 1, 1, 0, 0, 0});
    CHECK(b[1].to_vector<float>() == std::vector<float>{1, 2});
    CHECK(b.indices == std::vector<int64_t>{7, 9});

    ex[1][0] = Tensor::zeros({4});
    REQUIRE_THROWS_AS(data::collate(ex, {7, 9}, "Toy"), ShapeError);
    REQUIRE_THROWS_WITH(data::collate(ex, {7, 9}, "Toy"),
                        Catch::Contains("collate: Toy: field 0 of example 9 has shape (4,), but example 7 has (3,)"));
    ex[1] = {Tensor::zeros({3})};
    REQUIRE_THROWS_WITH(data::collate(ex, {7, 9}, "Toy"), Catch::Contains("example 9 has 1 fields, but example 7 has 2"));
    ex[1] = {Tensor::zeros({3}, Dtype::f64), Tensor::scalar(2)};
    REQUIRE_THROWS_AS(data::collate(ex, {7, 9}, "Toy"), DtypeError);
    REQUIRE_THROWS_WITH(data::collate(ex, {7, 9}, "Toy"), Catch::Contains("field 0 of example 9 is f64, but example 7 is f32"));
}

TEST_CASE("samplers: sequential, random per epoch from a seed, distributed over ranks", "[data]") {
    CHECK(data::SequentialSampler(4).indices(3) == std::vector<int64_t>{0, 1, 2, 3});

    data::RandomSampler r(50, 7);
    const auto e0 = r.indices(0), e1 = r.indices(1);
    CHECK(e0 == r.indices(0));              // asked again: the same order (resume relies on it)
    CHECK(e0 == data::RandomSampler(50, 7).indices(0));
    CHECK(e0 != e1);
    CHECK(e0 != data::RandomSampler(50, 8).indices(0));
    auto sorted = e1;
    std::sort(sorted.begin(), sorted.end());
    CHECK(sorted == data::SequentialSampler(50).indices(0));

    manual_seed(3);
    const auto a = data::RandomSampler(20).indices(0);
    manual_seed(3);
    CHECK(data::RandomSampler(20).indices(0) == a);  // unseeded: reproducible from manual_seed

    // 10 examples over 3 ranks: 4 each, the order padded with its first 2 indices.
    std::vector<int64_t> all;
    for (int64_t rank = 0; rank < 3; ++rank) {
        data::DistributedSampler d(10, rank, 3, {.shuffle = false});
        CHECK(d.size() == 4);
        auto idx = d.indices(0);
        CHECK(idx.size() == 4);
        all.insert(all.end(), idx.begin(), idx.end());
    }
    CHECK(data::DistributedSampler(10, 1, 3, {.shuffle = false}).indices(0) == std::vector<int64_t>{1, 4, 7, 0});
    std::multiset<int64_t> counts(all.begin(), all.end());
    CHECK(counts.size() == 12);
    CHECK(counts.count(0) == 2);
    CHECK(counts.count(1) == 2);
    CHECK(counts.count(9) == 1);
    CHECK(data::DistributedSampler(10, 2, 3, {.drop_last = true}).size() == 3);
    std::set<int64_t> shuffled;
    for (int64_t rank = 0; rank < 2; ++rank)
        for (int64_t i : data::DistributedSampler(10, rank, 2, {.seed = 4}).indices(5)) shuffled.insert(i);
    CHECK(shuffled.size() == 10);  // the ranks split one permutation between them
    REQUIRE_THROWS_WITH(data::DistributedSampler(10, 3, 3), Catch::Contains("rank 3 of 3 ranks"));
}

TEST_CASE("ShardedSampler: the ranks' slices of a step make up the one-rank global batch", "[data]") {
    data::ShardedSampler whole(23, 6, 5);
    for (int64_t step : {0, 3, 4, 11}) {
        std::vector<int64_t> joined;
        for (int64_t rank = 0; rank < 3; ++rank) {
            data::ShardedSampler part(23, 6, 5, rank, 3);
            CHECK(part.local_batch() == 2);
            auto idx = part.indices(step);
            joined.insert(joined.end(), idx.begin(), idx.end());
        }
        CHECK(joined == whole.indices(step));
    }
    // Every epoch of 23 examples visits each once: steps 0-2 hold 18, step 3 straddles epochs.
    std::set<int64_t> first;
    for (int64_t s = 0; s < 3; ++s)
        for (int64_t i : whole.indices(s)) first.insert(i);
    CHECK(first.size() == 18);
    REQUIRE_THROWS_WITH(data::ShardedSampler(23, 7, 5, 0, 3), Catch::Contains("a global batch of 7 does not split evenly over 3 ranks"));
}

TEST_CASE("DataLoader batches in order, drops or keeps the tail, and counts its batches", "[data]") {
    auto ds = std::make_shared<CountingDataset>(10);
    data::DataLoader keep(ds, {.batch_size = 4});
    CHECK(keep.size() == 3);
    const auto batches = epoch_indices(keep);
    CHECK(batches == std::vector<std::vector<int64_t>>{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9}});
    data::DataLoader drop(ds, {.batch_size = 4, .drop_last = true});
    CHECK(drop.size() == 2);
    CHECK(epoch_indices(drop).size() == 2);

    int seen = 0;
    for (data::Batch& b : keep) {
        REQUIRE(b.size() == 2);
        CHECK(b[0].shape() == Shape{b.batch_size(), 2});
        CHECK(b[1].to_vector<int64_t>() == b.indices);
        CHECK(b[0].to_vector<float>()[1] == float(b.indices[0]) + 0.5f);
        ++seen;
    }
    CHECK(seen == 3);
    CHECK_FALSE(*ds->grad_enabled_seen);  // datasets run in grad mode off
}

TEST_CASE("DataLoader shuffles into a new permutation every epoch, reproducibly, and resumes by set_epoch", "[data]") {
    auto ds = std::make_shared<CountingDataset>(30);
    data::DataLoader a(ds, {.batch_size = 8, .shuffle = true, .seed = 11});
    const auto a0 = epoch_indices(a), a1 = epoch_indices(a);
    CHECK(a.epoch() == 2);
    CHECK(a0 != a1);
    auto sorted = flat(a1);
    std::sort(sorted.begin(), sorted.end());
    CHECK(sorted == data::SequentialSampler(30).indices(0));
    data::DataLoader b(ds, {.batch_size = 8, .shuffle = true, .seed = 11});
    b.set_epoch(1);
    CHECK(epoch_indices(b) == a1);
    CHECK(flat(a0) == data::RandomSampler(30, 11).indices(0));
}

TEST_CASE("DataLoader with background workers gives the same batches as without, in order", "[data]") {
    Tensor x = Tensor::randn({37, 3, 2}, Dtype::f64, 4);
    Tensor y = Tensor::arange(37, Dtype::i64);
    for (int workers : {1, 2, 3}) {
        for (int prefetch : {1, 4}) {
            data::DataLoader plain(data::TensorDataset({x, y}), {.batch_size = 5, .shuffle = true, .seed = 2});
            data::DataLoader bg(data::TensorDataset({x, y}),
                                {.batch_size = 5, .shuffle = true, .seed = 2, .workers = workers, .prefetch = prefetch});
            for (int epoch = 0; epoch < 2; ++epoch) {
                std::vector<data::Batch> p, q;
                for (data::Batch& b : plain) p.push_back(b);
                for (data::Batch& b : bg) q.push_back(b);
                REQUIRE(p.size() == q.size());
                REQUIRE(p.size() == 8);
                for (std::size_t i = 0; i < p.size(); ++i) {
                    CHECK(p[i].indices == q[i].indices);
                    CHECK(p[i][0].to_vector<double>() == q[i][0].to_vector<double>());
                    CHECK(p[i][1].to_vector<int64_t>() == q[i][1].to_vector<int64_t>());
                }
            }
        }
    }
}

TEST_CASE("DataLoader workers prefetch ahead of the loop, at most workers x prefetch batches, with one thread each",
          "[data]") {
    auto ds = std::make_shared<CountingDataset>(100);
    data::DataLoader loader(ds, {.batch_size = 2, .workers = 2, .prefetch = 3});
    auto it = loader.begin();  // takes batch 0; the workers go on to fill their window
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    // Batch 0 taken, then batches 1..6 may be made ahead: 7 batches = 14 examples at most.
    while (ds->calls->load() < 14 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    CHECK(ds->calls->load() == 14);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(ds->calls->load() == 14);  // and no further until the loop takes one
    CHECK(*ds->threads_seen == 1);
    CHECK_FALSE(*ds->grad_enabled_seen);
    CHECK(it->indices == std::vector<int64_t>{0, 1});
    ++it;
    CHECK(it->indices == std::vector<int64_t>{2, 3});
    int64_t rest = 0;
    for (; it != loader.end(); ++it) ++rest;
    CHECK(rest == 49);
}

TEST_CASE("DataLoader: leaving the loop early stops the workers, and the next loop starts the next epoch", "[data]") {
    auto ds = std::make_shared<CountingDataset>(1000);
    data::DataLoader loader(ds, {.batch_size = 10, .shuffle = true, .seed = 1, .workers = 2});
    for (int round = 0; round < 3; ++round) {
        int n = 0;
        for (data::Batch& b : loader) {
            CHECK(b.batch_size() == 10);
            if (++n == 2) break;
        }
    }
    CHECK(loader.epoch() == 3);
    CHECK(ds->calls->load() < 1000);  // the workers did not run on through whole epochs
}

TEST_CASE("DataLoader: a dataset that throws reaches the loop's thread with its kind, the dataset and the index",
          "[data]") {
    for (int workers : {0, 2}) {
        INFO("workers " << workers);
        data::DataLoader loader(CountingDataset(20, 13), {.batch_size = 4, .workers = workers});
        int before = 0;
        try {
            for (data::Batch& b : loader) {
                (void)b;
                ++before;
            }
            FAIL("no exception");
        } catch (const IOError& e) {
            CHECK_THAT(e.what(), Catch::Contains("DataLoader: batch 3 of epoch 0: Counting: example 13: disk says no"));
        }
        CHECK(before == 3);
        // The loader is still usable: the next loop is the next epoch and fails at the same place.
        REQUIRE_THROWS_WITH(epoch_indices(loader), Catch::Contains("batch 3 of epoch 1"));
    }
}

TEST_CASE("DataLoader rejects bad options and a sampler that leaves the dataset", "[data]") {
    auto ds = std::make_shared<CountingDataset>(5);
    REQUIRE_THROWS_WITH(data::DataLoader(ds, {.batch_size = 0}),
                        Catch::Contains("DataLoader(Counting): batch_size must be >= 1, got 0"));
    REQUIRE_THROWS_WITH(data::DataLoader(ds, {.workers = -1}), Catch::Contains("workers must be >= 0, got -1"));
    REQUIRE_THROWS_WITH(data::DataLoader(ds, {.workers = 1, .prefetch = 0}), Catch::Contains("prefetch must be >= 1"));
    REQUIRE_THROWS_WITH(data::DataLoader(ds, {.shuffle = true, .sampler = std::make_shared<data::SequentialSampler>(5)}),
                        Catch::Contains("shuffle = true and a sampler both choose the order"));
    REQUIRE_THROWS_WITH(data::DataLoader(std::shared_ptr<const data::Dataset>{}), Catch::Contains("the dataset is null"));
    data::DataLoader wide(ds, {.batch_size = 2, .sampler = std::make_shared<data::SequentialSampler>(7)});
    REQUIRE_THROWS_AS(epoch_indices(wide), ValueError);
    REQUIRE_THROWS_WITH(epoch_indices(wide),
                        Catch::Contains("the sampler gave index 5 in batch 2 of epoch 1, but Counting has 5 examples"));
}

TEST_CASE("DataLoader: a collate function of one's own, and examples of unequal shapes without one", "[data]") {
    class Ragged : public data::Dataset {
    public:
        int64_t size() const override { return 4; }
        data::Example get(int64_t i) const override { return {Tensor::ones({i + 1})}; }
        std::string name() const override { return "Ragged"; }
    };
    data::DataLoader plain(Ragged{}, {.batch_size = 2});
    REQUIRE_THROWS_AS(epoch_indices(plain), ShapeError);
    REQUIRE_THROWS_WITH(epoch_indices(plain),
                        Catch::Contains("Ragged: field 0 of example 1 has shape (2,), but example 0 has (1,)"));
    auto pad = [](const std::vector<data::Example>& ex, const std::vector<int64_t>& idx) {
        Tensor out = Tensor::zeros({int64_t(ex.size()), 4});
        for (std::size_t k = 0; k < ex.size(); ++k)
            for (int64_t j = 0; j < ex[k][0].numel(); ++j) out.data<float>()[k * 4 + j] = 1;
        out.mark_modified();
        return data::Batch{{out}, idx};
    };
    data::DataLoader padded(Ragged{}, {.batch_size = 2, .workers = 1, .collate = pad});
    std::vector<float> sums;
    for (data::Batch& b : padded) sums.push_back(b[0].sum().item<float>());
    CHECK(sums == std::vector<float>{3, 7});
}

TEST_CASE("TokenFile reads nanoGPT's and llm.c's uint16 files as windows, memory-mapped", "[data]") {
    TempDir dir;
    std::vector<int64_t> ids;
    for (int64_t i = 0; i < 300; ++i) ids.push_back((i * 977) % 65536);
    data::TokenFile::write(dir.file("t.bin"), ids);
    CHECK(std::filesystem::file_size(dir.file("t.bin")) == 600);
    CHECK(std::distance(std::filesystem::directory_iterator(dir.path), {}) == 1);  // no temporary left
    data::TokenFile tf(dir.file("t.bin"), 8);
    CHECK(tf.num_tokens() == 300);
    CHECK(tf.size() == 292);
    data::Example e = tf.get(291);
    CHECK(e[0].dtype() == Dtype::i64);
    CHECK(e[0].to_vector<int64_t>() == std::vector<int64_t>(ids.begin() + 291, ids.begin() + 299));
    CHECK(e[1].to_vector<int64_t>() == std::vector<int64_t>(ids.begin() + 292, ids.end()));
    REQUIRE_THROWS_WITH(tf.get(292), Catch::Contains("index 292 is out of range for a dataset of 292 examples"));

    Generator g1(3), g2(3);
    auto [x, y] = tf.random_batch(5, g1);
    auto [x2, y2] = tf.random_batch(5, g2);
    CHECK(x.shape() == Shape{5, 8});
    CHECK(x.to_vector<int64_t>() == x2.to_vector<int64_t>());
    const auto xv = x.to_vector<int64_t>(), yv = y.to_vector<int64_t>();
    for (int64_t b = 0; b < 5; ++b)
        for (int64_t t = 0; t + 1 < 8; ++t) CHECK(yv[b * 8 + t] == xv[b * 8 + t + 1]);  // y is x shifted by one

    // llm.c's layout: 256 int32 of header (magic, version 1, count), then the tokens.
    {
        std::ofstream f(dir.file("l.bin"), std::ios::binary);
        std::vector<int32_t> header(256, 0);
        header[0] = 20240520, header[1] = 1, header[2] = 10;
        f.write(reinterpret_cast<const char*>(header.data()), 1024);
        for (uint16_t t = 0; t < 10; ++t) f.write(reinterpret_cast<const char*>(&t), 2);
    }
    data::TokenFile llmc(dir.file("l.bin"), 3);
    CHECK(llmc.num_tokens() == 10);
    CHECK(llmc.get(6)[1].to_vector<int64_t>() == std::vector<int64_t>{7, 8, 9});

    std::ofstream(dir.file("odd.bin"), std::ios::binary) << "abc";
    REQUIRE_THROWS_AS(data::TokenFile(dir.file("odd.bin"), 1), IOError);
    REQUIRE_THROWS_WITH(data::TokenFile(dir.file("odd.bin"), 1), Catch::Contains("3 bytes is not a whole number of uint16 tokens"));
    REQUIRE_THROWS_WITH(data::TokenFile(dir.file("t.bin"), 300),
                        Catch::Contains("300 tokens are too few for one window of 300"));
    REQUIRE_THROWS_WITH(data::TokenFile(dir.file("missing.bin"), 4), Catch::Contains("cannot open"));
    REQUIRE_THROWS_WITH(data::TokenFile::write(dir.file("big.bin"), {1, 70000}),
                        Catch::Contains("id 70000 at position 1 does not fit in uint16"));
    CHECK_FALSE(std::filesystem::exists(dir.file("big.bin")));
}

TEST_CASE("TextFile gives byte windows of a text file", "[data]") {
    TempDir dir;
    std::ofstream(dir.file("a.txt"), std::ios::binary) << "h\xc3\xa9llo";
    data::TextFile text(dir.file("a.txt"), 3);
    CHECK(text.size() == 3);
    CHECK(text.text() == "h\xc3\xa9llo");
    CHECK(text.get(0)[0].to_vector<int64_t>() == std::vector<int64_t>{'h', 0xc3, 0xa9});
    CHECK(text.get(2)[1].to_vector<int64_t>() == std::vector<int64_t>{'l', 'l', 'o'});
    std::ofstream(dir.file("empty.txt"));
    REQUIRE_THROWS_WITH(data::TextFile(dir.file("empty.txt"), 3), Catch::Contains("0 tokens are too few"));
    REQUIRE_THROWS_WITH(data::TextFile(dir.path.string(), 3), Catch::Contains("it is a directory"));
}

TEST_CASE("IDX files: FashionMNIST checks magic numbers, sizes and labels, and names the file", "[data]") {
    TempDir dir;
    auto write_idx = [&](const std::string& name, uint32_t magic, std::vector<uint32_t> dims, std::size_t bytes) {
        std::ofstream f(dir.file(name), std::ios::binary);
        auto be = [&](uint32_t v) {
            const char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
            f.write(b, 4);
        };
        be(magic);
        for (uint32_t d : dims) be(d);
        for (std::size_t i = 0; i < bytes; ++i) f.put(char(i % 7));
    };
    write_idx("train-images-idx3-ubyte", 2051, {3, 28, 28}, 3 * 28 * 28);
    write_idx("train-labels-idx1-ubyte", 2049, {3}, 3);
    data::FashionMNIST ds(dir.path.string());
    CHECK(ds.size() == 3);
    CHECK(ds.name() == "FashionMNIST(train, 3 images)");
    data::Example e = ds.get(1);
    CHECK(e[0].shape() == Shape{1, 28, 28});
    CHECK(e[1].item<int64_t>() == 1);
    CHECK(e[0].to_vector<float>()[1] == Approx(1 / 255.0));  // byte 785 of the file body is 785 % 7
    CHECK(data::FashionMNIST(dir.path.string(), {.limit = 2}).size() == 2);

    write_idx("train-labels-idx1-ubyte", 2049, {4}, 4);
    REQUIRE_THROWS_WITH(data::FashionMNIST(dir.path.string()), Catch::Contains("holds 3 images but"));
    write_idx("train-labels-idx1-ubyte", 2049, {3}, 5);
    REQUIRE_THROWS_WITH(data::FashionMNIST(dir.path.string()),
                        Catch::Contains("train-labels-idx1-ubyte: the header announces 3 bytes of data, the file holds 5"));
    write_idx("train-labels-idx1-ubyte", 2051, {3}, 3);
    REQUIRE_THROWS_WITH(data::FashionMNIST(dir.path.string()), Catch::Contains("magic number 2051, expected 2049"));
    REQUIRE_THROWS_AS(data::FashionMNIST(dir.path.string(), {.train = false}), IOError);
    REQUIRE_THROWS_WITH(data::FashionMNIST(dir.path.string(), {.train = false}),
                        Catch::Contains("t10k-images-idx3-ubyte.gz not found: the Fashion-MNIST files come from "
                                        "Debian's dataset-fashion-mnist"));
}

TEST_CASE("FashionMNIST reads Debian's dataset-fashion-mnist files", "[data]") {
    if (!std::filesystem::exists(std::string(data::FashionMNIST::kDefaultRoot) + "/t10k-images-idx3-ubyte.gz")) {
        WARN("dataset-fashion-mnist is not installed; skipped");
        return;
    }
    data::FashionMNIST test(data::FashionMNIST::kDefaultRoot, {.train = false});
    CHECK(test.size() == 10000);
    data::DataLoader loader(test, {.batch_size = 1000, .workers = 1});
    int64_t n = 0;
    double lo = 1, hi = 0;
    std::vector<int64_t> per_class(10, 0);
    for (data::Batch& b : loader) {
        n += b.batch_size();
        lo = std::min(lo, b[0].min().item());
        hi = std::max(hi, b[0].max().item());
        for (int64_t label : b[1].to_vector<int64_t>()) ++per_class[static_cast<std::size_t>(label)];
    }
    CHECK(n == 10000);
    CHECK(lo == 0.0);
    CHECK(hi == 1.0);
    CHECK(per_class == std::vector<int64_t>(10, 1000));  // the test set is balanced
    CHECK(test.get(0)[1].item<int64_t>() == 9);            // its first image is an ankle boot
    CHECK(std::string(data::FashionMNIST::kClasses[9]) == "Ankle boot");
}
