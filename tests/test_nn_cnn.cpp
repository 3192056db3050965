// Module buffers, the CNN and normalisation layers, and xtensor interop.
#include <cmath>
#include <map>
#include <tapegrad/core/xtensor.hpp>

#include "helpers.hpp"

using namespace tg;
using tg::test::require_close;
using tg::test::require_values;

namespace {

const std::string kData = TG_TEST_DATA_DIR;

// The model make_batchnorm_checkpoint.py writes, built the same way.
std::shared_ptr<nn::Sequential> reference_cnn() {
    return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
        std::make_shared<nn::Conv2d>(2, 4, 3, nn::Conv2dOptions{.padding = {1, 1}}),
        std::make_shared<nn::BatchNorm2d>(4), std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2),
        std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(36, 5), std::make_shared<nn::BatchNorm1d>(5)});
}

struct WithBuffers : nn::Module {
    WithBuffers() {
        w = register_parameter("w", Tensor::ones({2}));
        stat = register_buffer("stat", Tensor::full({3}, 2.5));
        count = register_buffer("count", Tensor::zeros({}, Dtype::i64));
    }
    Tensor w, stat, count;
};

}  // namespace

TEST_CASE("buffers are state, not parameters", "[nn][buffers]") {
    nn::Sequential outer;
    auto inner = std::make_shared<WithBuffers>();
    outer.push_back(inner);
    CHECK(outer.parameters().size() == 1);
    const nn::NamedTensors b = outer.named_buffers();
    REQUIRE(b.size() == 2);
    CHECK(b[0].first == "0.stat");
    CHECK(b[1].first == "0.count");
    CHECK_FALSE(b[0].second.requires_grad());
    const nn::NamedTensors sd = outer.state_dict();
    REQUIRE(sd.size() == 3);
    CHECK(sd[0].first == "0.w");
    CHECK(sd[2].first == "0.count");
    CHECK(outer.summary().find("stat (3,) f32 (buffer)") != std::string::npos);
    CHECK_THROWS_AS(inner->register_buffer("w", Tensor::ones({1})), ValueError);
    CHECK_THROWS_AS(inner->register_parameter("stat", Tensor::ones({1})), ValueError);
    CHECK_THROWS_AS(inner->register_buffer("x", Tensor()), ValueError);

    // to() converts the floating buffer in every handle, and leaves the integer one alone.
    outer.to(Dtype::f64);
    CHECK(inner->stat.dtype() == Dtype::f64);
    CHECK(inner->count.dtype() == Dtype::i64);
    require_values(inner->stat, {3}, {2.5, 2.5, 2.5});
}

TEST_CASE("buffers are saved and loaded, and checked like parameters", "[nn][buffers]") {
    const tg::test::TempDir dir;
    const std::string path = dir.file("m.safetensors");
    WithBuffers a;
    {
        NoGradGuard ng;
        a.stat.fill_(-1.0);
        a.count.fill_(7);
    }
    a.save(path);
    WithBuffers b;
    b.load(path);
    require_values(b.stat, {3}, {-1, -1, -1});
    CHECK(b.count.item<int64_t>() == 7);
    CHECK(b.count.dtype() == Dtype::i64);

    // A file without the buffers is refused by name, and the module is unchanged.
    nn::save_safetensors(path, {{"w", Tensor::ones({2})}, {"stat", Tensor::ones({3})}});
    try {
        b.load(path);
        FAIL("load accepted a file without 'count'");
    } catch (const IOError& e) {
        CHECK(std::string(e.what()).find("\n  missing (1): count") != std::string::npos);
    }
    CHECK(b.count.item<int64_t>() == 7);
    // An integer buffer does not load from floating data.
    nn::save_safetensors(path, {{"w", Tensor::ones({2})}, {"stat", Tensor::ones({3})}, {"count", Tensor::ones({})}});
    CHECK_THROWS_WITH(b.load(path), Catch::Contains("'count' has dtype f32 in the file; i64 buffers load from i64"));
}

TEST_CASE("a BatchNorm checkpoint written by PyTorch loads and gives PyTorch's outputs", "[nn][batchnorm]") {
    auto model = reference_cnn();
    model->load(kData + "/batchnorm_checkpoint.safetensors");
    auto& bn = dynamic_cast<nn::BatchNorm2d&>(*model->children()[1].second);
    CHECK(bn.num_batches_tracked.item<int64_t>() == 3);
    auto expected = tg::test::read_reference(kData + "/batchnorm_checkpoint_expected.safetensors");

    model->eval();
    require_close(model->forward(expected["x"]), expected["eval_out"], 1e-5);
    // Eval mode leaves the running statistics alone.
    CHECK(bn.num_batches_tracked.item<int64_t>() == 3);

    // One training forward: batch statistics, and running statistics updated as PyTorch does.
    model->train();
    require_close(model->forward(expected["x"]), expected["train_out"], 1e-4);
    require_close(bn.running_mean, expected["running_mean_after"], 1e-6);
    require_close(bn.running_var, expected["running_var_after"], 1e-6);
    CHECK(bn.num_batches_tracked.item<int64_t>() == 4);

    // The model's own checkpoint round-trips with its buffers.
    const tg::test::TempDir dir;
    const std::string path = dir.file("bn.safetensors");
    model->save(path);
    auto again = reference_cnn();
    again->load(path);
    auto& bn2 = dynamic_cast<nn::BatchNorm2d&>(*again->children()[1].second);
    require_close(bn2.running_var, bn.running_var, 0);
    CHECK(bn2.num_batches_tracked.item<int64_t>() == 4);
}

TEST_CASE("BatchNorm layers: shapes, options and errors", "[nn][batchnorm]") {
    nn::BatchNorm1d bn(3);
    CHECK(bn.parameters().size() == 2);
    CHECK(bn.named_buffers().size() == 3);
    CHECK(bn.summary().find("BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=true, track_running_stats=true)") !=
          std::string::npos);
    CHECK_THROWS_AS(bn.forward(Tensor::ones({4, 2})), ShapeError);       // channels
    CHECK_THROWS_AS(bn.forward(Tensor::ones({2, 3, 2, 2})), ShapeError);  // rank
    CHECK_THROWS_AS(bn.forward(Tensor::ones({1, 3})), ValueError);        // one value per channel
    CHECK(bn.num_batches_tracked.item<int64_t>() == 0);                  // a refused batch is not counted
    CHECK_THROWS_AS(nn::BatchNorm2d(0), ValueError);
    CHECK_THROWS_AS(nn::BatchNorm2d(2, {.momentum = 1.5}), ValueError);

    // Without running statistics: no buffers, batch statistics in eval mode too.
    nn::BatchNorm1d plain(2, {.affine = false, .track_running_stats = false, .dtype = Dtype::f64});
    CHECK(plain.parameters().empty());
    CHECK(plain.named_buffers().empty());
    plain.eval();
    Tensor x = tg::tensor({1.0, 10.0, 3.0, 30.0}, {2, 2});
    require_values(plain.forward(x), {2, 2}, {-1, -1, 1, 1}, 1e-4);
}

TEST_CASE("Conv and pooling layers: PyTorch's shapes, initialisation bounds and summary", "[nn][conv]") {
    nn::Conv2d conv(4, 6, 3, {.padding = {1, 1}, .groups = 2, .seed = 3});
    CHECK(conv.weight.shape() == Shape{6, 2, 3, 3});
    CHECK(conv.bias.shape() == Shape{6});
    const double bound = 1.0 / std::sqrt(2.0 * 9.0);
    const auto w = conv.weight.to_vector<double>();
    CHECK(*std::max_element(w.begin(), w.end()) <= bound);
    CHECK(*std::min_element(w.begin(), w.end()) >= -bound);
    CHECK(*std::max_element(w.begin(), w.end()) > 0.8 * bound);  // spread over the interval
    CHECK(conv.forward(Tensor::randn({2, 4, 5, 7}, Dtype::f32, 1)).shape() == Shape{2, 6, 5, 7});
    CHECK(conv.summary().find("Conv2d(4, 6, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), groups=2)") !=
          std::string::npos);
    CHECK_THROWS_AS(nn::Conv2d(3, 4, 3, {.groups = 2}), ValueError);

    nn::Conv1d c1(2, 3, 5, {.stride = 2, .bias = false, .seed = 1});
    CHECK_FALSE(c1.bias.defined());
    CHECK(c1.forward(Tensor::randn({1, 2, 11}, Dtype::f32, 2)).shape() == Shape{1, 3, 4});

    nn::MaxPool2d mp(2);
    nn::AvgPool2d ap(3, 1, 1);
    Tensor x = Tensor::randn({2, 3, 6, 5}, Dtype::f32, 4);
    CHECK(mp.forward(x).shape() == Shape{2, 3, 3, 2});
    CHECK(ap.forward(x).shape() == Shape{2, 3, 6, 5});
    CHECK(mp.summary().find("MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))") != std::string::npos);
    nn::Flatten fl;
    CHECK(fl.forward(x).shape() == Shape{2, 90});
}

TEST_CASE("activation layers and RMSNorm match their ops", "[nn][layers]") {
    Tensor x = tg::tensor({-2.0, -0.5, 0.0, 1.5}, {2, 2});
    require_values(nn::ReLU().forward(x), {2, 2}, {0, 0, 0, 1.5});
    require_values(nn::LeakyReLU(0.1).forward(x), {2, 2}, {-0.2, -0.05, 0, 1.5});
    require_values(nn::SiLU().forward(x), {2, 2},
                   {-2.0 / (1 + std::exp(2.0)), -0.5 / (1 + std::exp(0.5)), 0, 1.5 / (1 + std::exp(-1.5))});
    nn::RMSNorm rms(2, {.eps = 0.0, .dtype = Dtype::f64});
    const double r0 = std::sqrt((4 + 0.25) / 2), r1 = std::sqrt((0 + 2.25) / 2);
    require_values(rms.forward(x), {2, 2}, {-2 / r0, -0.5 / r0, 0, 1.5 / r1});
    CHECK_THROWS_AS(rms.forward(Tensor::ones({2, 3}, Dtype::f64)), ShapeError);
    CHECK(nn::RMSNorm(8).summary().find("RMSNorm(8, eps=1e-06, elementwise_affine=true)") != std::string::npos);
}

TEST_CASE("from_xtensor copies any expression with its dtype and shape", "[xtensor]") {
    xt::xarray<double> a = {{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}};
    Tensor t = from_xtensor(a * 2.0 + 1.0);
    CHECK(t.dtype() == Dtype::f64);
    require_values(t, {2, 3}, {3, 5, 7, 9, 11, 13});
    a(0, 0) = 100;  // a copy: the tensor does not follow
    CHECK(t.to_vector<double>()[0] == 3);

    xt::xarray<float> f = xt::transpose(xt::xarray<float>{{1.f, 2.f}, {3.f, 4.f}});
    Tensor tf = from_xtensor(f);
    CHECK(tf.dtype() == Dtype::f32);
    require_values(tf, {2, 2}, {1, 3, 2, 4});

    xt::xarray<int> ids = {3, 1, 2};
    Tensor ti = from_xtensor(ids);
    CHECK(ti.dtype() == Dtype::i64);
    CHECK(ti.to_vector<int64_t>() == std::vector<int64_t>{3, 1, 2});
}

TEST_CASE("as_xtensor views a tensor's data without a copy", "[xtensor]") {
    Tensor t = tg::tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3});
    const uint64_t v0 = t.version();
    {
        auto view = as_xtensor<double>(t);
        CHECK(view.shape()[0] == 2);
        CHECK(view(1, 2) == 6.0);
        view(0, 1) = -2.0;  // writes through
        CHECK(double(xt::sum(view)()) == 1 - 2 + 3 + 4 + 5 + 6);
    }
    CHECK(t.to_vector<double>()[1] == -2.0);
    CHECK(t.version() > v0);  // a writable view counts as an in-place modification

    auto read = as_xtensor<const double>(t);
    const uint64_t v1 = t.version();
    CHECK(read(0, 0) == 1.0);
    CHECK(t.version() == v1);  // a const view does not

    // The view keeps the data alive after the tensor is gone.
    auto survivor = as_xtensor<const double>(Tensor::full({2}, 9.0, Dtype::f64));
    CHECK(survivor(1) == 9.0);

    CHECK_THROWS_AS(as_xtensor<float>(t), DtypeError);
    CHECK_THROWS_AS(as_xtensor<double>(Tensor()), ValueError);

    // A backward that saved the old values refuses after a write through a view.
    Tensor x = tg::tensor({1.0, 2.0}, {2});
    Tensor p = x.clone().requires_grad_();
    Tensor y = (p * x).sum();
    as_xtensor<double>(x)(0) = 5.0;
    CHECK_THROWS_AS(y.backward(), Error);
    CHECK_THROWS_AS(as_xtensor<double>(p), ValueError);  // a leaf that requires grad
    {
        NoGradGuard ng;
        as_xtensor<double>(p)(1) = 0.0;
    }
    CHECK(p.to_vector<double>()[1] == 0.0);
}

namespace {

// README's LLaMA-style block ("Writing your own model"), written as a user would.
struct LlamaBlock : nn::Module {
    nn::RMSNorm norm;
    nn::Linear gate, up, down;  // SwiGLU: down(silu(gate(x)) * up(x))

    LlamaBlock(int64_t dim, int64_t hidden, Dtype dtype)
        : norm(dim, {.dtype = dtype}),
          gate(dim, hidden, {.bias = false, .dtype = dtype}),
          up(dim, hidden, {.bias = false, .dtype = dtype}),
          down(hidden, dim, {.bias = false, .dtype = dtype}) {
        register_module("norm", norm);
        register_module("gate", gate);
        register_module("up", up);
        register_module("down", down);
    }
    Tensor forward(const Tensor& x) override {
        Tensor h = norm.forward(x);
        return x + down.forward(silu(gate.forward(h)) * up.forward(h));
    }
};

}  // namespace

TEST_CASE("a LLaMA-style block (RMSNorm, SwiGLU) as README writes it: shapes and gradients", "[nn][layers]") {
    manual_seed(3);
    LlamaBlock block(8, 16, Dtype::f64);
    CHECK(block.named_parameters().size() == 4);
    Tensor x = tg::test::randn64({2, 3, 8}, 5);
    CHECK(block.forward(x).shape() == Shape{2, 3, 8});
    tg::test::check_module_grad(block, [&] { return block.forward(x); });
}
