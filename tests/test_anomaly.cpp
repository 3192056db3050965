// Anomaly detection: NaN and Inf in op outputs and in gradients, reported with the op, its
// input shapes, its tape entry and its label; off by default.
#include <cmath>
#include <limits>
#include <thread>

#include "helpers.hpp"

using namespace tg;
using namespace tg::test;
using Catch::Contains;

TEST_CASE("anomaly detection is off by default: NaN and Inf pass silently", "[anomaly]") {
    REQUIRE_FALSE(is_anomaly_enabled());
    Tensor x = tensor({1.0, 0.0, 4.0}, {3}).requires_grad_();
    const Tensor y = log(x);
    CHECK(std::isinf(y.to_vector<double>()[1]));
    Tensor z = tensor({1.0, 0.0}, {2}).requires_grad_();
    sum(sqrt(z)).backward();
    CHECK(std::isinf(z.grad().to_vector<double>()[1]));
}

TEST_CASE("an op whose output holds NaN or Inf throws, naming the op, shapes, tape entry and label",
          "[anomaly]") {
    AnomalyGuard guard;
    Tensor x = tensor({1.0, 0.0, 4.0}, {3}).requires_grad_();
    {
        TapeLabel label("loss head");
        REQUIRE_THROWS_AS(log(x), AnomalyError);
        REQUIRE_THROWS_WITH(log(x), Contains("anomaly: 'log' produced -inf at flat index 1 of its output (3,) f64; "
                                             "inputs: (3,) f64; tape entry #") &&
                                        Contains(", label 'loss head'"));
    }
    // Outside the label, and for an op nothing records (no input requires grad).
    REQUIRE_THROWS_WITH(div(tensor({1.0, 2.0}, {2}), tensor({1.0, 0.0}, {2})),
                        Contains("anomaly: 'div' produced inf at flat index 1 of its output (2,) f64; inputs: (2,) "
                                 "f64, (2,) f64; not recorded (no input requires grad)"));
    // A NaN in f32.
    REQUIRE_THROWS_WITH(sqrt(tensor({-1.f, 4.f}, {2})), Contains("'sqrt' produced nan at flat index 0"));
    // Nothing was left on the tape by the failed ops, and ordinary ops still run.
    const int64_t entries = tape_size();
    CHECK_NOTHROW(exp(x));
    CHECK(tape_size() == entries);
}

TEST_CASE("a gradient holding NaN or Inf throws during backward, naming the op that made it", "[anomaly]") {
    AnomalyGuard guard;
    Tensor z = tensor({1.0, 0.0, 9.0}, {3}).requires_grad_();
    Tensor w = tensor({1.0, 2.0, 3.0}, {3}).requires_grad_();
    Tensor loss;
    {
        TapeLabel label("layer 2");
        loss = sum(mul(sqrt(z), w));  // sqrt(0) = 0 is finite; its derivative 1 / (2 sqrt 0) is not
    }
    REQUIRE_THROWS_AS(loss.backward(true), AnomalyError);
    REQUIRE_THROWS_WITH(loss.backward(true),
                        Contains("anomaly: backward of 'sqrt' produced inf at flat index 1 of the gradient for "
                                 "input 0 (3,) f64; inputs: (3,) f64; tape entry #") &&
                            Contains("label 'layer 2'"));
    // The failed backward left no gradient in flight: with the guard off the same graph still
    // runs and gives the (infinite) gradient.
    set_detect_anomaly(false);
    loss.backward();
    CHECK(std::isinf(z.grad().to_vector<double>()[1]));
    set_detect_anomaly(true);
    // A gradient handed to backward() is checked too.
    Tensor a = tensor({1.0, 2.0}, {2}).requires_grad_();
    const Tensor b = mul(a, 2.0);
    REQUIRE_THROWS_WITH(b.backward(tensor({1.0, std::nan("")}, {2})),
                        Contains("anomaly: backward was given a gradient with nan at flat index 1"));
}

TEST_CASE("the anomaly setting is per thread and the guard restores it", "[anomaly]") {
    {
        AnomalyGuard on;
        CHECK(is_anomaly_enabled());
        bool other = true;
        std::thread([&] { other = is_anomaly_enabled(); }).join();
        CHECK_FALSE(other);
        {
            AnomalyGuard off(false);
            CHECK_FALSE(is_anomaly_enabled());
            CHECK_NOTHROW(log(tensor({0.0}, {1})));
        }
        CHECK(is_anomaly_enabled());
    }
    CHECK_FALSE(is_anomaly_enabled());
}

TEST_CASE("a finite training step runs unchanged under anomaly detection", "[anomaly]") {
    auto run = [](bool anomaly) {
        AnomalyGuard guard(anomaly);
        Tensor w = Tensor::randn({8, 4}, Dtype::f64, 3).requires_grad_();
        const Tensor x = Tensor::randn({5, 8}, Dtype::f64, 4);
        Generator gen(5);
        const Tensor t = Tensor::randint(0, 4, {5}, gen);
        Tensor loss = cross_entropy(gelu(matmul(x, w)), t);
        loss.backward();
        return w.grad().to_vector<double>();
    };
    CHECK(run(true) == run(false));
}
