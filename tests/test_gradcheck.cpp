#include "helpers.hpp"

using namespace tg;
using Catch::Contains;

namespace {
// y = x^2 recorded with a deliberately wrong backward (3x instead of 2x).
Tensor wrong_square(const Tensor& x) {
    Tensor y;
    {
        NoGradGuard ng;
        y = x * x;
    }
    return record("wrong_square", y, {x}, [x](const Tensor& dy, const Tensor&) { return Grads{dy * x * 3.0}; });
}
}  // namespace

TEST_CASE("gradcheck passes a correct function and reports tiny errors", "[gradcheck]") {
    Tensor x = test::randn64({3, 4}, 1);
    Tensor w = test::randn64({4, 2}, 2);
    GradcheckResult r = gradcheck([](const std::vector<Tensor>& in) { return tanh(matmul(in[0], in[1])); }, {x, w});
    INFO(r.message());
    CHECK(r.ok);
    CHECK(r.checked == 12 + 8);  // no input requires grad, so every floating input is checked
    CHECK(r.max_rel_error < 1e-7);
    CHECK(r.max_abs_error < 1e-8);
}

TEST_CASE("gradcheck catches a wrong backward and points at it", "[gradcheck]") {
    Tensor x = tensor({1.0, 2.0, -3.0}, {3});
    GradcheckResult r = gradcheck([](const std::vector<Tensor>& in) { return wrong_square(in[0]); }, {x});
    CHECK_FALSE(r.ok);
    CHECK(r.input == 0);
    CHECK(r.max_rel_error == Approx(1.0 / 3.0).epsilon(1e-6));  // |3x - 2x| / |3x|
    CHECK(r.analytic == Approx(1.5 * r.numeric).epsilon(1e-6));
    CHECK_THAT(r.message(), Contains("gradcheck FAILED: 3 elements"));
}

TEST_CASE("gradcheck differentiates only inputs that require grad when some do", "[gradcheck]") {
    Tensor x = test::randn64({2, 3}, 3);
    Tensor w = test::randn64({3, 3}, 4).requires_grad_();
    GradcheckResult r = gradcheck([](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); }, {x, w});
    CHECK(r.ok);
    CHECK(r.checked == 9);
}

TEST_CASE("gradcheck converts float32 inputs and passes integer inputs through", "[gradcheck]") {
    Tensor table = Tensor::randn({5, 3}, Dtype::f32, 5);
    Tensor ids = tensor(std::vector<int64_t>{4, 0, 4}, {3});
    GradcheckResult r = gradcheck(
        [](const std::vector<Tensor>& in) {
            REQUIRE(in[0].dtype() == Dtype::f64);
            REQUIRE(in[1].dtype() == Dtype::i64);
            return embedding(in[0], in[1]);
        },
        {table, ids});
    CHECK(r.ok);
    CHECK(r.checked == 15);
    // gradcheck works on copies: the caller's tensors are untouched.
    CHECK(table.dtype() == Dtype::f32);
    CHECK_FALSE(table.grad().defined());
}

TEST_CASE("gradcheck rejects bad arguments", "[gradcheck]") {
    Tensor x = test::randn64({2}, 6);
    auto id = [](const std::vector<Tensor>& in) { return in[0] * 1.0; };
    REQUIRE_THROWS_WITH(gradcheck(id, {x}, GradcheckOptions{.eps = 0}), Contains("gradcheck: eps must be positive"));
    REQUIRE_THROWS_AS(gradcheck([](const std::vector<Tensor>& in) { return in[0].to(Dtype::f32); }, {x}), DtypeError);
    REQUIRE_THROWS_WITH(gradcheck(id, {Tensor()}), Contains("gradcheck: an input is an undefined tensor"));
    // gradcheck_tensors differentiates the tensors as given: float32 parameters get a hint.
    nn::Linear lin(2, 2, {.seed = 1});
    REQUIRE_THROWS_WITH(gradcheck_tensors([&] { return sum(lin.forward(Tensor::ones({1, 2}))); }, lin.parameters()),
                        Contains("must be f64 leaves that require grad, got (2, 2) f32; convert a module's parameters "
                                 "with module.to(Dtype::f64) first"));
}

TEST_CASE("the positional gradcheck overload uses the given tolerances", "[gradcheck]") {
    Tensor x = tensor({1.0, 2.0}, {2});
    auto f = [](const std::vector<Tensor>& in) { return wrong_square(in[0]); };
    CHECK_FALSE(gradcheck(f, {x}, 1e-6, 1e-5, 1e-3).ok);
    CHECK(gradcheck(f, {x}, 1e-6, 10.0, 0.0).ok);  // an absolute tolerance of 10 hides the error
}
