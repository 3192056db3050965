// Every op run in float32 against the same op in float64 on the same (f32-representable) inputs.
// The per-op tests check the f64 values against closed forms; this sweep checks that the f32
// kernels compute the same thing to f32 precision.
#include <cmath>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "op_inputs.hpp"

using namespace tg;
using namespace tg::test;

namespace {

struct SweepCase {
    std::string name;
    GradcheckFn fn;
    std::vector<Tensor> inputs;  // floating inputs in f64; i64 inputs pass through
};

Tensor converted(const Tensor& t, Dtype d) { return is_floating(t.dtype()) ? to(t, d) : t; }

Tensor dropped(const Tensor& x) {
    Generator g(5);
    return dropout(x, 0.3, true, g);
}

std::vector<SweepCase> sweep_cases() {
    const Tensor a = randn64({3, 4}, 3000), b = randn64({4}, 3001), c = randn64({3, 1}, 3002);
    const Tensor pos = uniform64({3, 4}, 3003, 0.2, 3.0), nz = away_from_zero({4}, 3004, 0.5);
    const Tensor x3 = randn64({2, 3, 4}, 3005);
    const Tensor w = randn64({4}, 3006), bias = randn64({4}, 3007);
    return {
        {"add", [](const Xs& x) { return add(x[0], x[1]); }, {a, b}},
        {"sub", [](const Xs& x) { return sub(x[1], x[0]); }, {a, c}},
        {"mul", [](const Xs& x) { return mul(x[0], x[1]); }, {a, c}},
        {"div", [](const Xs& x) { return div(x[0], x[1]); }, {a, nz}},
        {"scalar operators", [](const Xs& x) { return (2.0 - x[0]) * 3.0 + 1.5 / x[1]; }, {a, pos}},
        {"neg", [](const Xs& x) { return neg(x[0]); }, {a}},
        {"exp", [](const Xs& x) { return exp(x[0]); }, {a}},
        {"log", [](const Xs& x) { return log(x[0]); }, {pos}},
        {"tanh", [](const Xs& x) { return tanh(x[0]); }, {a}},
        {"sqrt", [](const Xs& x) { return sqrt(x[0]); }, {pos}},
        {"pow", [](const Xs& x) { return pow(x[0], -1.5); }, {pos}},
        {"relu", [](const Xs& x) { return relu(x[0]); }, {a}},
        {"sigmoid", [](const Xs& x) { return sigmoid(x[0]); }, {mul(a, 4.0)}},
        {"gelu", [](const Xs& x) { return gelu(x[0]); }, {mul(a, 2.0)}},
        {"clone", [](const Xs& x) { return clone(x[0]); }, {a}},
        {"matmul", [](const Xs& x) { return matmul(x[0], x[1]); },
         {randn64({2, 3, 5}, 3008), randn64({5, 4}, 3009)}},
        {"batched matmul", [](const Xs& x) { return matmul(x[0], x[1]); },
         {randn64({2, 1, 3, 5}, 3010), randn64({3, 5, 2}, 3011)}},
        {"sum", [](const Xs& x) { return sum(x[0]); }, {x3}},
        {"sum over a dim", [](const Xs& x) { return sum(x[0], 1, true); }, {x3}},
        {"mean", [](const Xs& x) { return mean(x[0]); }, {x3}},
        {"mean over a dim", [](const Xs& x) { return mean(x[0], -1); }, {x3}},
        {"max", [](const Xs& x) { return max(x[0]); }, {x3}},
        {"max over a dim", [](const Xs& x) { return max(x[0], 0); }, {x3}},
        {"reshape", [](const Xs& x) { return reshape(x[0], {4, -1}); }, {x3}},
        {"transpose", [](const Xs& x) { return transpose(x[0], 0, 2); }, {x3}},
        {"permute", [](const Xs& x) { return permute(x[0], {1, 2, 0}); }, {x3}},
        {"slice", [](const Xs& x) { return slice(x[0], 2, -3, 4, 2); }, {x3}},
        {"cat", [](const Xs& x) { return cat({x[0], x[1]}, 0); }, {a, randn64({2, 4}, 3012)}},
        {"embedding", [](const Xs& x) { return embedding(x[0], x[1]); }, {a, i64s({2, 0, 2}, {3})}},
        {"softmax", [](const Xs& x) { return softmax(x[0], 1); }, {mul(x3, 3.0)}},
        {"log_softmax", [](const Xs& x) { return log_softmax(x[0], -1); }, {mul(x3, 3.0)}},
        {"cross_entropy", [](const Xs& x) { return cross_entropy(x[0], x[1]); },
         {mul(a, 3.0), i64s({3, 0, 1}, {3})}},
        {"layer_norm", [](const Xs& x) { return layer_norm(x[0], x[1], x[2]); }, {x3, w, bias}},
        {"dropout", [](const Xs& x) { return dropped(x[0]); }, {a}},
        {"attention", [](const Xs& x) { return scaled_dot_product_attention(x[0], x[1], x[2], false); },
         {randn64({1, 2, 3, 4}, 3013), randn64({1, 2, 5, 4}, 3014), randn64({1, 2, 5, 3}, 3015)}},
        {"causal attention", [](const Xs& x) { return scaled_dot_product_attention(x[0], x[1], x[2], true); },
         {randn64({2, 1, 3, 4}, 3016), randn64({2, 1, 4, 4}, 3017), randn64({2, 1, 4, 2}, 3018)}},
    };
}

}  // namespace

TEST_CASE("every op computed in float32 agrees with float64 to about 1e-5 relative", "[ops]") {
    for (const SweepCase& c : sweep_cases()) {
        INFO(c.name);
        // Round the inputs to f32 first, so both runs see exactly the same values.
        Xs in32, in64;
        for (const Tensor& t : c.inputs) {
            in32.push_back(converted(t, Dtype::f32));
            in64.push_back(converted(in32.back(), Dtype::f64));
        }
        const Tensor y32 = c.fn(in32), y64 = c.fn(in64);
        REQUIRE(y32.dtype() == Dtype::f32);
        REQUIRE(y64.dtype() == Dtype::f64);
        REQUIRE(y32.shape() == y64.shape());
        REQUIRE(y32.numel() > 0);
        const std::vector<double> got = y32.to_vector<double>(), want = y64.to_vector<double>();
        for (std::size_t i = 0; i < got.size(); ++i) {
            INFO("element " << i << ": f32 " << got[i] << ", f64 " << want[i]);
            CHECK(got[i] == Approx(want[i]).epsilon(1e-5).margin(1e-6));
        }
    }
}
