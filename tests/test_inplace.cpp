// In-place safety (issue 8, item 4): version counters make backward() refuse values an op saved
// that were changed since, and leaves that require grad cannot be changed in place under grad mode.
#include "helpers.hpp"

using namespace tg;
using namespace tg::test;
using Catch::Contains;

TEST_CASE("modifying a saved input in place makes backward throw, naming the op", "[inplace]") {
    Tensor w = tensor({1.0, 2.0, 3.0}, {3}).requires_grad_();
    Tensor x = tensor({4.0, 5.0, 6.0}, {3});
    Tensor y = sum(mul(w, x));  // mul saves x for dw = dy * x
    x.add_(tensor({1.0, 1.0, 1.0}, {3}));
    REQUIRE_THROWS_AS(y.backward(), ValueError);
    REQUIRE_THROWS_WITH(y.backward(), Contains("backward: input 1 of 'mul' ((3,) f64) was modified in place after "
                                               "'mul' recorded it (version 0, now 1)"));
    CHECK_FALSE(w.grad().defined());  // nothing was accumulated
}

TEST_CASE("modifying a saved output in place makes backward throw", "[inplace]") {
    Tensor x = tensor({0.5, -1.0}, {2}).requires_grad_();
    Tensor e = exp(x);  // exp's backward reads its output
    Tensor loss = sum(e);  // sum reads no values, so only exp's check can fire
    e.mul_(3.0);
    REQUIRE_THROWS_WITH(loss.backward(), Contains("the output of 'exp' ((2,) f64) was modified in place"));
}

TEST_CASE("a write through an alias (detach, reshape) counts as a write to the tensor", "[inplace]") {
    // The version belongs to the values, not to one handle: detach() and the views share them.
    Tensor x = tensor({0.5, -1.0, 2.0, 0.25}, {4}).requires_grad_();
    Tensor e = exp(x);  // exp's backward reads its output
    Tensor loss = sum(e);
    const uint64_t before = e.version();
    e.detach().mul_(3.0);
    CHECK(e.version() == before + 1);
    REQUIRE_THROWS_WITH(loss.backward(), Contains("the output of 'exp' ((4,) f64) was modified in place"));

    Tensor w = tensor({1.0, 2.0, 3.0, 4.0}, {4}).requires_grad_();
    Tensor a = tensor({1.0, 1.0, 1.0, 1.0}, {4});
    Tensor y = sum(mul(w, a));  // mul saves a for dw
    a.reshape({2, 2}).fill_(7.0);
    REQUIRE_THROWS_WITH(y.backward(), Contains("input 1 of 'mul' ((4,) f64) was modified in place"));
    CHECK_FALSE(w.grad().defined());
}

TEST_CASE("set_data leaves a version no recorded op saw, whatever the source's count", "[inplace]") {
    Tensor w = tensor({1.0, 2.0}, {2}).requires_grad_();
    Tensor x = tensor({3.0, 4.0}, {2});
    {
        NoGradGuard ng;
        for (int i = 0; i < 3; ++i) x.mul_(1.0);  // x's count: 3
    }
    Tensor y = sum(mul(x, w));  // saves x at version 3
    Tensor fresh = tensor({5.0, 6.0}, {2});
    fresh.mul_(1.0);
    fresh.mul_(1.0);  // fresh's count: 2, so a plain bump would give 3 again
    x.set_data(fresh);
    CHECK(x.version() > 3);
    REQUIRE_THROWS_WITH(y.backward(), Contains("input 0 of 'mul' ((2,) f64) was modified in place"));
}

TEST_CASE("in-place changes an op's backward does not read are allowed", "[inplace]") {
    Tensor w = tensor({1.0, 2.0}, {2}).requires_grad_();
    Tensor x = tensor({4.0, 5.0}, {2});
    Tensor y = sum(add(w, x));  // add's backward reads no values
    x.fill_(100.0);
    REQUIRE_NOTHROW(y.backward());
    require_values(w.grad(), {2}, {1, 1});
}

TEST_CASE("a leaf that requires grad cannot be modified in place while grad mode is on", "[inplace]") {
    Tensor w = tensor({1.0, 2.0}, {2}).requires_grad_();
    REQUIRE_THROWS_AS(w.add_(tensor({1.0, 1.0}, {2})), ValueError);
    REQUIRE_THROWS_WITH(w.fill_(0.0), Contains("fill_: a leaf tensor that requires grad ((2,) f64) cannot be "
                                               "modified in place while grad mode is on"));
    REQUIRE_THROWS_WITH(w.zero_(), Contains("zero_:"));
    REQUIRE_THROWS_WITH(w.mul_(2.0), Contains("mul_:"));
    REQUIRE_THROWS_WITH(w.copy_(tensor({0.0, 0.0}, {2})), Contains("copy_:"));
    require_values(w, {2}, {1, 2});  // unchanged
    {
        NoGradGuard ng;  // how optimizers and initialisers do it
        w.add_(tensor({1.0, 1.0}, {2}));
    }
    require_values(w, {2}, {2, 3});
}

TEST_CASE("an optimizer step between forward and backward is caught", "[inplace]") {
    Tensor w = tensor({1.0, 2.0}, {2}).requires_grad_();
    Tensor x = tensor({3.0, 4.0}, {2});
    Tensor y = sum(mul(w, w));
    y.backward(true);  // keep the graph
    optim::SGD opt({w}, {.lr = 0.1});
    opt.step();        // changes w (version bump)
    REQUIRE_THROWS_WITH(y.backward(), Contains("of 'mul' ((2,) f64) was modified in place"));
    (void)x;
}
