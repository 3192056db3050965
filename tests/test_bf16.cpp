// bf16 as a storage dtype: the rounding of tg::bfloat16 and of the conversion kernels, to() and
// copy_ in every direction, printing, the no-gradient rule, and every compute op refusing it.
#include <bit>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include "core/kernels/bf16.hpp"
#include "helpers.hpp"

using namespace tg;
using Catch::Contains;

namespace {

uint16_t bits_of(float f) { return bfloat16(f).bits(); }
float from_float_bits(uint32_t u) { return std::bit_cast<float>(u); }
float bf(uint16_t bits) { return bfloat16::from_bits(bits).to_float(); }

Tensor bf16s(const std::vector<float>& values, const Shape& shape) { return tensor(values, shape).to(Dtype::bf16); }

const char* const kStorage = "bf16 is a storage dtype; convert with .to(Dtype::f32)";

}  // namespace

TEST_CASE("bf16 is a 2-byte storage dtype", "[bf16]") {
    STATIC_REQUIRE(dtype_of<bfloat16>() == Dtype::bf16);
    STATIC_REQUIRE(dtype_size(Dtype::bf16) == 2);
    STATIC_REQUIRE(dtype_name(Dtype::bf16) == "bf16");
    STATIC_REQUIRE_FALSE(is_floating(Dtype::bf16));  // ops compute in f32 and f64 only
    STATIC_REQUIRE(bfloat16(1.0f).bits() == 0x3f80);  // the conversions are constexpr
    // The existing dtypes keep their values (they are saved in dist fingerprints and files).
    STATIC_REQUIRE(static_cast<int>(Dtype::f32) == 0 && static_cast<int>(Dtype::f64) == 1 &&
                   static_cast<int>(Dtype::i64) == 2 && static_cast<int>(Dtype::bf16) == 3);
}

TEST_CASE("bfloat16 rounds floats to nearest, ties to even", "[bf16]") {
    CHECK(bits_of(1.0f) == 0x3f80);
    CHECK(bits_of(-2.0f) == 0xc000);
    CHECK(bits_of(1.0f + 0x1p-8f) == 0x3f80);        // halfway between 1 and 1 + 2^-7: to the even 1
    CHECK(bits_of(1.0f + 3 * 0x1p-8f) == 0x3f82);    // halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even)
    CHECK(bits_of(1.0f + 3 * 0x1p-9f) == 0x3f81);    // past halfway: up
    CHECK(bits_of(1.0f + 0x1p-8f + 0x1p-20f) == 0x3f81);
    CHECK(bits_of(1.0f + 0x1p-9f) == 0x3f80);        // below halfway: down
    CHECK(bf(0x3f81) == 1.0078125f);                 // widening is exact
    CHECK(bfloat16::from_bits(0x4049).bits() == 0x4049);
    CHECK(static_cast<float>(bfloat16(3.14159f)) == 3.140625f);
}

TEST_CASE("bfloat16 keeps the edges of the float range", "[bf16]") {
    const float inf = std::numeric_limits<float>::infinity();
    SECTION("the largest values and overflow") {
        CHECK(bf(0x7f7f) == 0x1.fep127f);                                // largest finite bf16
        CHECK(bits_of(0x1.fep127f) == 0x7f7f);
        CHECK(bits_of(from_float_bits(0x7f7f7fff)) == 0x7f7f);          // just below halfway to inf
        CHECK(bits_of(from_float_bits(0x7f7f8000)) == 0x7f80);          // halfway: to the even, inf
        CHECK(bits_of(std::numeric_limits<float>::max()) == 0x7f80);    // FLT_MAX rounds up to inf
        CHECK(bits_of(-std::numeric_limits<float>::max()) == 0xff80);
        CHECK(bits_of(inf) == 0x7f80);
        CHECK(bits_of(-inf) == 0xff80);
    }
    SECTION("zeros and denormals") {
        CHECK(bits_of(0.0f) == 0x0000);
        CHECK(bits_of(-0.0f) == 0x8000);
        CHECK(std::signbit(bf(0x8000)));
        CHECK(bf(0x0001) == 0x1p-133f);                                  // smallest bf16 denormal
        CHECK(bits_of(0x1p-133f) == 0x0001);
        CHECK(bits_of(from_float_bits(0x00000001)) == 0x0000);          // 2^-149: far below half a step
        CHECK(bits_of(from_float_bits(0x80000001)) == 0x8000);          // keeps its sign
        CHECK(bits_of(from_float_bits(0x00008000)) == 0x0000);          // halfway between 0 and 2^-133
        CHECK(bits_of(from_float_bits(0x00008001)) == 0x0001);
        CHECK(bits_of(from_float_bits(0x00018000)) == 0x0002);          // halfway, to the even
        CHECK(bits_of(from_float_bits(0x007fffff)) == 0x0080);          // largest denormal carries to 2^-126
    }
    SECTION("NaN stays a quiet NaN of the same sign") {
        CHECK(bits_of(std::numeric_limits<float>::quiet_NaN()) == 0x7fc0);
        CHECK(bits_of(from_float_bits(0x7f800001)) == 0x7fc0);  // payload in the dropped half: not inf
        CHECK(bits_of(from_float_bits(0xff800001)) == 0xffc0);
        CHECK(bits_of(from_float_bits(0x7fa00000)) == 0x7fe0);  // the kept payload bits stay
        CHECK(std::isnan(bf(bits_of(std::numeric_limits<float>::signaling_NaN()))));
    }
}

TEST_CASE("bfloat16 from double and int64 rounds once, not through float", "[bf16]") {
    // Through float, 1 + 2^-8 + 2^-30 would first become the tie 1 + 2^-8 and then go down to 1.
    const double above_tie = 1.0 + 0x1p-8 + 0x1p-30;
    CHECK(bits_of(static_cast<float>(above_tie)) == 0x3f80);
    CHECK(bfloat16(above_tie).bits() == 0x3f81);
    CHECK(bfloat16(1.0 + 0x1p-8).bits() == 0x3f80);
    CHECK(bfloat16(1e300).bits() == 0x7f80);
    CHECK(bfloat16(-1e300).bits() == 0xff80);
    CHECK(bfloat16(1e-300).bits() == 0x0000);
    CHECK(bfloat16(-1e-300).bits() == 0x8000);
    CHECK(bfloat16(0x1p-134 + 0x1p-180).bits() == 0x0001);  // just past halfway to the smallest denormal
    CHECK(bfloat16(0x1p-134).bits() == 0x0000);
    CHECK(std::isnan(bfloat16(std::nan("")).to_float()));

    auto from_int = [](int64_t v) {
        uint16_t b = 0;
        kernels::to_bf16(&v, &b, 1);
        return b;
    };
    CHECK(from_int(0) == 0x0000);
    CHECK(from_int(-1) == 0xbf80);
    CHECK(from_int(257) == 0x4380);                  // tie between 256 and 258: to 256 (even)
    CHECK(from_int(259) == 0x4382);                  // tie between 258 and 260: to 260 (even)
    CHECK(from_int((int64_t{1} << 24) + 1) == 0x4b80);
    CHECK(from_int(std::numeric_limits<int64_t>::min()) == 0xdf00);  // -2^63
    CHECK(from_int(std::numeric_limits<int64_t>::max()) == 0x5f00);  // rounds to 2^63
    // 2^60 + 2^52 + 1 is just past a tie; a double would drop the 1 and round down to 2^60.
    CHECK(from_int((int64_t{1} << 60) + (int64_t{1} << 52) + 1) == 0x5d81);
    CHECK(from_int((int64_t{1} << 60) + (int64_t{1} << 52)) == 0x5d80);
}

TEST_CASE("the bf16 conversion kernels equal the scalar rounding at every length", "[bf16]") {
    std::mt19937 rng(18);
    for (int64_t n : {0, 1, 7, 33, 1000003}) {  // the last runs on the OpenMP threads
        INFO("n = " << n);
        // Every bit pattern is equally likely: NaNs, infinities, denormals and ties included.
        std::vector<float> x(static_cast<std::size_t>(n));
        for (float& v : x) v = from_float_bits(static_cast<uint32_t>(rng()));
        if (n > 6) {
            x[0] = 1.0f + 0x1p-8f;
            x[1] = -0.0f;
            x[2] = std::numeric_limits<float>::max();
            x[3] = from_float_bits(0x7f800001);
            x[n - 1] = 0x1p-149f;
        }
        std::vector<uint16_t> b(x.size());
        std::vector<float> back(x.size()), rounded(x.size()), in_place = x;
        kernels::to_bf16(x.data(), b.data(), n);
        kernels::from_bf16(b.data(), back.data(), n);
        kernels::round_to_bf16(x.data(), rounded.data(), n);
        kernels::round_to_bf16(in_place.data(), in_place.data(), n);
        int64_t wrong = 0;
        for (int64_t i = 0; i < n; ++i) {
            const uint16_t want = bfloat16(x[i]).bits();
            wrong += b[i] != want;
            wrong += std::bit_cast<uint32_t>(back[i]) != static_cast<uint32_t>(want) << 16;
            wrong += std::bit_cast<uint32_t>(rounded[i]) != static_cast<uint32_t>(want) << 16;
            wrong += std::bit_cast<uint32_t>(in_place[i]) != static_cast<uint32_t>(want) << 16;
        }
        CHECK(wrong == 0);
    }
}

TEST_CASE("to converts f32, f64 and i64 to bf16 and back", "[bf16]") {
    SECTION("f32 round trips within half a bf16 step") {
        const Tensor x = Tensor::randn({1001}, Dtype::f32, 3) * 100.0;
        const Tensor b = x.to(Dtype::bf16);
        CHECK(b.dtype() == Dtype::bf16);
        CHECK(b.shape() == x.shape());
        CHECK(b.nbytes() == 2002);
        const std::vector<float> xs = x.to_vector<float>(), back = b.to(Dtype::f32).to_vector<float>();
        for (std::size_t i = 0; i < xs.size(); ++i) {
            CHECK(std::abs(back[i] - xs[i]) <= 0x1p-8f * std::abs(xs[i]));
            CHECK(back[i] == bfloat16(xs[i]).to_float());
        }
        CHECK(b.to(Dtype::bf16).is_same(b));
        CHECK(b.to(Dtype::f64).to_vector<double>() == b.to_vector<double>());
    }
    SECTION("f64 rounds once") {
        const Tensor x = tensor({1.0 + 0x1p-8 + 0x1p-30, -3.0, 1e300}, {3});
        const Tensor b = x.to(Dtype::bf16);
        CHECK(b.data<bfloat16>()[0].bits() == 0x3f81);
        CHECK(b.to(Dtype::f64).to_vector<double>() == std::vector<double>{1.0078125, -3.0, INFINITY});
    }
    SECTION("i64 in both directions") {
        const Tensor ids = tensor(std::vector<int64_t>{0, -5, 256, 257, 1000}, {5});
        const Tensor b = ids.to(Dtype::bf16);
        CHECK(b.to(Dtype::i64).to_vector<int64_t>() == std::vector<int64_t>{0, -5, 256, 256, 1000});
        Tensor nan = Tensor::full({2}, std::nan(""), Dtype::bf16);
        REQUIRE_THROWS_WITH(nan.to(Dtype::i64), Contains("to(i64): bf16 value nan at flat position 0 has no i64 value"));
        REQUIRE_THROWS_AS(Tensor::full({1}, 1e30, Dtype::bf16).item<int64_t>(), ValueError);
        CHECK(tensor({-2.75f}).to(Dtype::bf16).item<int64_t>() == -2);  // truncated, as a float converts
    }
    SECTION("element access, factories and copy_") {
        Tensor b = Tensor::zeros({2, 3}, Dtype::bf16);
        bfloat16* p = b.data<bfloat16>();
        p[4] = bfloat16(2.5f);
        CHECK(b.to_vector<float>() == std::vector<float>{0, 0, 0, 0, 2.5f, 0});
        REQUIRE_THROWS_WITH(b.data<float>(), Contains("data: tensor has dtype bf16, accessed as f32"));
        CHECK(Tensor::full({2}, 1.0 + 0x1p-8 + 0x1p-30, Dtype::bf16).to_vector<double>() ==
              std::vector<double>{1.0078125, 1.0078125});
        CHECK(Tensor::arange(4, Dtype::bf16).to_vector<float>() == std::vector<float>{0, 1, 2, 3});
        CHECK(Tensor::ones({2}, Dtype::bf16).to_vector<bfloat16>()[1].bits() == 0x3f80);
        CHECK(tensor({1.5f}).to_vector<bfloat16>()[0].bits() == 0x3fc0);
        Tensor f = Tensor::zeros({2, 3});
        f.copy_(b);  // bf16 -> f32
        CHECK(f.to_vector<float>() == b.to_vector<float>());
        b.copy_(tensor({1.f, 2.f, 3.f, 4.f, 5.f, 1.0f + 0x1p-8f}, {2, 3}));  // f32 -> bf16, rounded
        CHECK(b.to_vector<float>() == std::vector<float>{1, 2, 3, 4, 5, 1});
        REQUIRE_THROWS_WITH(Tensor::randn({2}, Dtype::bf16, 1), Contains("randn: bf16 is a storage dtype"));
        REQUIRE_THROWS_WITH(Tensor::rand({2}, Dtype::bf16, 1), Contains("rand: bf16 is a storage dtype"));
    }
}

TEST_CASE("a bf16 tensor carries no gradient", "[bf16]") {
    Tensor x = Tensor::randn({2, 3}, Dtype::f32, 1).requires_grad_();
    REQUIRE_THROWS_WITH(x.to(Dtype::bf16),
                        Contains("to: this (2, 3) f32 tensor requires grad, and bf16 tensors cannot carry gradients; "
                                 "convert it under NoGradGuard or convert x.detach()"));
    REQUIRE_THROWS_AS((x * 2.0).to(Dtype::bf16), DtypeError);  // a result that requires grad too
    CHECK(x.detach().to(Dtype::bf16).dtype() == Dtype::bf16);
    Tensor b;
    {
        NoGradGuard ng;
        b = x.to(Dtype::bf16);
    }
    CHECK(b.is_leaf());
    CHECK_FALSE(b.requires_grad());
    REQUIRE_THROWS_WITH(b.requires_grad_(), Contains("requires_grad_: bf16 is a storage dtype and cannot require grad"));
    b.requires_grad_(false);  // turning it off is fine

    // Back in f32 the values start a new graph: the result is a leaf without history.
    Tensor y = b.to(Dtype::f32);
    CHECK(y.is_leaf());
    CHECK_FALSE(y.requires_grad());
    y.requires_grad_();
    sum(y * y).backward();
    CHECK(y.grad().defined());
    CHECK_FALSE(x.grad().defined());

    Tensor w = Tensor::zeros({2, 3}).requires_grad_();
    REQUIRE_THROWS_WITH(w.set_data(b), Contains("set_data: a tensor that requires grad cannot hold bf16 values"));
}

TEST_CASE("bf16 tensors print their values as f32 ones do", "[bf16]") {
    CHECK(fmt::format("{}", bf16s({1.5f, -2.25f, 3.14159f, 1000.7f}, {2, 2})) ==
          "tensor([[1.5000, -2.2500],\n        [3.1406, 1000.0000]], shape=(2, 2), dtype=bf16)");
    CHECK(fmt::format("{}", Tensor::scalar(0.1, Dtype::bf16)) == "tensor(0.1001, shape=(), dtype=bf16)");
    CHECK(fmt::format("{}", Tensor::arange(2000, Dtype::bf16)) ==
          "tensor([0.0000, 1.0000, 2.0000, ..., 2000.0000, 2000.0000, 2000.0000], shape=(2000,), dtype=bf16)");
    CHECK(fmt::format("{}", Dtype::bf16) == "bf16");
    CHECK(fmt::format("{:.3f}", bfloat16(3.14159f)) == "3.141");
}

TEST_CASE("shape ops move bf16 values as they are", "[bf16]") {
    const Tensor b = bf16s({1, 2, 3, 4, 5, 6}, {2, 3});
    auto values = [](const Tensor& t) {
        CHECK(t.dtype() == Dtype::bf16);
        return t.to_vector<float>();
    };
    CHECK(values(transpose(b, 0, 1)) == std::vector<float>{1, 4, 2, 5, 3, 6});
    CHECK(values(permute(b, {1, 0})) == std::vector<float>{1, 4, 2, 5, 3, 6});
    CHECK(values(reshape(b, {3, 2})) == std::vector<float>{1, 2, 3, 4, 5, 6});
    CHECK(values(slice(b, 1, 0, 3, 2)) == std::vector<float>{1, 3, 4, 6});
    CHECK(values(cat({b, b}, 0)).size() == 12);
    CHECK(values(stack({b, b}, 0)).size() == 12);
    CHECK(values(expand(unsqueeze(b, 0), {2, 2, 3})).size() == 12);
    CHECK(values(squeeze(unsqueeze(b, 0), 0)) == values(b));
    CHECK(values(flatten(b)) == values(b));
    CHECK(values(split(b, 1, 1)[2]) == std::vector<float>{3, 6});
    CHECK(values(clone(b)) == values(b));
    // Copies that compute nothing read a bf16 table, as PyTorch's do.
    CHECK(values(embedding(b, tensor(std::vector<int64_t>{1, 0}, {2}))) == std::vector<float>{4, 5, 6, 1, 2, 3});
    CHECK(values(index_select(b, 0, tensor(std::vector<int64_t>{1}, {1}))) == std::vector<float>{4, 5, 6});
    CHECK(values(gather(b, 1, tensor(std::vector<int64_t>{2, 0}, {2, 1}))) == std::vector<float>{3, 4});
    REQUIRE_THROWS_WITH(cat({b, tensor({1.f, 2.f, 3.f}, {1, 3})}, 0), Contains("cat: input 1 is f32, input 0 is bf16"));
}

TEST_CASE("every compute op refuses bf16 and says to convert", "[bf16]") {
    const Tensor v = bf16s({1, 2, 3, 4, 5, 6}, {2, 3});
    const Tensor sq = bf16s({1, 2, 3, 4}, {2, 2});
    const Tensor row = bf16s({1, 1, 1}, {3});
    const Tensor img = Tensor::ones({1, 1, 4, 4}, Dtype::bf16);
    const Tensor q = Tensor::ones({1, 1, 2, 4}, Dtype::bf16);
    const Tensor ids = tensor(std::vector<int64_t>{0, 1}, {2});
    const Tensor U;
    Generator gen(1);
    const std::vector<std::pair<const char*, std::function<Tensor()>>> calls = {
        {"add", [&] { return add(v, v); }},
        {"add", [&] { return v + 1.0; }},
        {"sub", [&] { return v - v; }},
        {"mul", [&] { return mul(v, 2.0); }},
        {"div", [&] { return v / v; }},
        {"neg", [&] { return -v; }},
        {"exp", [&] { return exp(v); }},
        {"log", [&] { return log(v); }},
        {"tanh", [&] { return tanh(v); }},
        {"sqrt", [&] { return sqrt(v); }},
        {"pow", [&] { return pow(v, 2.0); }},
        {"relu", [&] { return relu(v); }},
        {"sigmoid", [&] { return sigmoid(v); }},
        {"gelu", [&] { return gelu(v); }},
        {"silu", [&] { return silu(v); }},
        {"leaky_relu", [&] { return leaky_relu(v, 0.1); }},
        {"abs", [&] { return abs(v); }},
        {"clamp", [&] { return clamp(v, 0.0, 1.0); }},
        {"sin", [&] { return sin(v); }},
        {"cos", [&] { return cos(v); }},
        {"matmul", [&] { return matmul(sq, sq); }},
        {"matmul", [&] { return matmul(v, transpose(v, 0, 1)); }},
        {"linear", [&] { return linear(v, Tensor::ones({4, 3}, Dtype::bf16), U); }},
        {"sum", [&] { return sum(v); }},
        {"sum", [&] { return sum(v, 1); }},
        {"mean", [&] { return mean(v); }},
        {"mean", [&] { return mean(v, 0); }},
        {"max", [&] { return max(v); }},
        {"max", [&] { return max(v, 1); }},
        {"min", [&] { return min(v); }},
        {"min", [&] { return min(v, 0); }},
        {"argmax", [&] { return argmax(v, 1); }},
        {"var", [&] { return var(v, 1); }},
        {"logsumexp", [&] { return logsumexp(v, 1); }},
        {"softmax", [&] { return softmax(v); }},
        {"log_softmax", [&] { return log_softmax(v); }},
        {"cross_entropy", [&] { return cross_entropy(v, ids); }},
        {"cross_entropy", [&] { return cross_entropy(v, ids, -100, 0.1); }},
        {"nll_loss", [&] { return nll_loss(v, ids); }},
        {"mse_loss", [&] { return mse_loss(v, v); }},
        {"binary_cross_entropy_with_logits", [&] { return binary_cross_entropy_with_logits(v, v); }},
        {"layer_norm", [&] { return layer_norm(v, row, row); }},
        {"rms_norm", [&] { return rms_norm(v, row, 1e-5); }},
        {"batch_norm", [&] { return batch_norm(v, U, U, U, U, true); }},
        {"where", [&] { return where(tensor(std::vector<int64_t>{1, 0, 1}, {3}), v, v); }},
        {"where", [&] { return where(v, tensor({1.f}), tensor({2.f})); }},  // a bf16 condition
        {"masked_fill", [&] { return masked_fill(v, tensor(std::vector<int64_t>{1, 0, 1}, {3}), 0.0); }},
        {"masked_fill", [&] { return masked_fill(tensor({1.f, 2.f, 3.f}), row, 0.0); }},  // a bf16 mask
        {"dropout", [&] { return dropout(v, 0.5, true, gen); }},
        {"conv2d", [&] { return conv2d(img, Tensor::ones({1, 1, 3, 3}, Dtype::bf16), U); }},
        {"conv1d", [&] { return conv1d(reshape(img, {1, 1, 16}), Tensor::ones({1, 1, 3}, Dtype::bf16), U); }},
        {"max_pool2d", [&] { return max_pool2d(img, {}); }},
        {"avg_pool2d", [&] { return avg_pool2d(img, {}); }},
        {"scaled_dot_product_attention", [&] { return scaled_dot_product_attention(q, q, q); }},
        {"attention_qkv", [&] { return attention_qkv(Tensor::ones({1, 2, 6}, Dtype::bf16), 1); }},
        {"add_", [&] { return Tensor(v).add_(v); }},
        {"mul_", [&] { return Tensor(v).mul_(2.0); }},
    };
    for (const auto& [op, call] : calls) {
        INFO(op);
        REQUIRE_THROWS_AS(call(), DtypeError);
        REQUIRE_THROWS_WITH(call(), Contains(std::string(op) + ": " + kStorage));
    }
}
