// Every public op, called with a wrong dtype, a wrong rank, mismatched shapes and an undefined
// (empty) tensor: each call throws a tg::Error whose message names the op (issue 8, item 9).
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "helpers.hpp"

using namespace tg;

namespace {

struct BadCall {
    const char* op;    // the name the message must contain
    const char* kind;  // dtype, bf16, rank, shape, value, empty or undefined
    std::function<Tensor()> call;
};

Tensor f64(const Shape& s) { return Tensor::ones(s, Dtype::f64); }
Tensor i64(const Shape& s) { return Tensor::zeros(s, Dtype::i64); }
Tensor b16(const Shape& s) { return Tensor::ones(s, Dtype::bf16); }
const Tensor U;  // undefined

std::vector<BadCall> bad_calls() {
    Generator gen(1);
    return {
        {"add", "dtype", [] { return add(f64({2}), i64({2})); }},
        {"add", "shape", [] { return add(f64({2, 3}), f64({4})); }},
        {"add", "undefined", [] { return add(U, f64({2})); }},
        {"sub", "shape", [] { return sub(f64({3}), f64({2})); }},
        {"sub", "undefined", [] { return sub(f64({2}), U); }},
        {"mul", "dtype", [] { return mul(f64({2}), Tensor::ones({2}, Dtype::f32)); }},
        {"mul", "undefined", [] { return mul(U, 2.0); }},
        {"div", "shape", [] { return div(f64({2, 2}), f64({3, 1})); }},
        {"neg", "dtype", [] { return neg(i64({2})); }},
        {"neg", "undefined", [] { return neg(U); }},
        {"exp", "dtype", [] { return exp(i64({2})); }},
        {"exp", "undefined", [] { return exp(U); }},
        {"log", "dtype", [] { return log(i64({2})); }},
        {"tanh", "dtype", [] { return tanh(i64({2})); }},
        {"sqrt", "undefined", [] { return sqrt(U); }},
        {"pow", "dtype", [] { return pow(i64({2}), 2.0); }},
        {"relu", "dtype", [] { return relu(i64({2})); }},
        {"sigmoid", "undefined", [] { return sigmoid(U); }},
        {"gelu", "dtype", [] { return gelu(i64({2})); }},
        {"gelu", "undefined", [] { return gelu(U); }},
        {"to", "undefined", [] { return to(U, Dtype::f32); }},
        {"clone", "undefined", [] { return clone(U); }},
        {"matmul", "rank", [] { return matmul(f64({}), f64({2})); }},
        {"matmul", "shape", [] { return matmul(f64({2, 3}), f64({4, 5})); }},
        {"matmul", "dtype", [] { return matmul(i64({2, 2}), i64({2, 2})); }},
        {"matmul", "undefined", [] { return matmul(U, f64({2, 2})); }},
        {"linear", "shape", [] { return linear(f64({2, 3}), f64({4, 5}), U); }},
        {"linear", "rank", [] { return linear(f64({2, 3}), f64({3}), U); }},
        {"linear", "dtype", [] { return linear(f64({2, 3}), Tensor::ones({4, 3}), U); }},
        {"linear", "undefined", [] { return linear(U, f64({4, 3}), U); }},
        {"sum", "rank", [] { return sum(f64({2}), 3); }},
        {"mean", "dtype", [] { return mean(i64({2})); }},
        {"mean", "b8", [] { return mean(Tensor::ones({2}, Dtype::b8), 0); }},
        {"sum", "undefined", [] { return sum(U); }},
        {"mean", "rank", [] { return mean(f64({2}), -2); }},
        {"mean", "undefined", [] { return mean(U); }},
        {"max", "rank", [] { return max(f64({2, 2}), 2); }},
        {"max", "undefined", [] { return max(U); }},
        {"reshape", "shape", [] { return reshape(f64({2, 3}), {4, 2}); }},
        {"reshape", "undefined", [] { return reshape(U, {1}); }},
        {"transpose", "rank", [] { return transpose(f64({2, 3}), 0, 2); }},
        {"transpose", "undefined", [] { return transpose(U, 0, 1); }},
        {"permute", "rank", [] { return permute(f64({2, 3}), {0}); }},
        {"permute", "shape", [] { return permute(f64({2, 3}), {0, 0}); }},
        {"slice", "rank", [] { return slice(f64({2, 3}), 2, 0, 1); }},
        {"slice", "undefined", [] { return slice(U, 0, 0, 1); }},
        {"cat", "shape", [] { return cat({f64({2, 3}), f64({2, 4})}, 0); }},
        {"cat", "dtype", [] { return cat({f64({2}), Tensor::ones({2})}, 0); }},
        {"cat", "rank", [] { return cat({f64({2}), f64({2, 1})}, 0); }},
        {"cat", "undefined", [] { return cat({f64({2}), U}, 0); }},
        {"embedding", "dtype", [] { return embedding(f64({5, 3}), f64({2})); }},
        {"embedding", "rank", [] { return embedding(f64({5}), i64({2})); }},
        {"embedding", "undefined", [] { return embedding(f64({5, 3}), U); }},
        {"softmax", "dtype", [] { return softmax(i64({2, 2})); }},
        {"softmax", "rank", [] { return softmax(f64({2, 2}), 2); }},
        {"softmax", "undefined", [] { return softmax(U); }},
        {"log_softmax", "rank", [] { return log_softmax(f64({2}), 1); }},
        {"log_softmax", "undefined", [] { return log_softmax(U); }},
        {"cross_entropy", "rank", [] { return cross_entropy(f64({2, 3, 4}), i64({2})); }},
        {"cross_entropy", "shape", [] { return cross_entropy(f64({2, 3}), i64({3})); }},
        {"cross_entropy", "dtype", [] { return cross_entropy(f64({2, 3}), f64({2})); }},
        {"cross_entropy", "undefined", [] { return cross_entropy(f64({2, 3}), U); }},
        {"layer_norm", "shape", [] { return layer_norm(f64({2, 3}), f64({4}), f64({4})); }},
        {"layer_norm", "dtype", [] { return layer_norm(f64({2, 3}), Tensor::ones({3}), Tensor::ones({3})); }},
        {"layer_norm", "undefined", [] { return layer_norm(U, f64({3}), f64({3})); }},
        {"conv2d", "dtype", [] { return conv2d(f64({1, 2, 4, 4}), Tensor::ones({3, 2, 3, 3}), U); }},
        {"conv2d", "rank", [] { return conv2d(f64({1, 2, 4, 4}), f64({3, 2, 3}), U); }},
        {"conv2d", "groups mismatch", [] { return conv2d(f64({1, 4, 4, 4}), f64({3, 2, 3, 3}), U, {.groups = 2}); }},
        {"conv2d", "undefined", [] { return conv2d(U, f64({3, 2, 3, 3}), U); }},
        {"conv2d", "output size < 1", [] { return conv2d(f64({1, 2, 2, 4}), f64({3, 2, 3, 3}), U); }},
        {"conv2d", "stride 0", [] { return conv2d(f64({1, 2, 4, 4}), f64({3, 2, 3, 3}), U, {.stride = {1, 0}}); }},
        {"conv1d", "dtype", [] { return conv1d(i64({1, 2, 4}), i64({3, 2, 3}), U); }},
        {"conv1d", "rank", [] { return conv1d(f64({1, 2, 4, 4}), f64({3, 2, 3}), U); }},
        {"conv1d", "bias shape", [] { return conv1d(f64({1, 2, 4}), f64({3, 2, 3}), f64({2})); }},
        {"conv1d", "undefined", [] { return conv1d(f64({1, 2, 4}), U, U); }},
        {"conv1d", "output size < 1", [] { return conv1d(f64({1, 2, 4}), f64({3, 2, 3}), U, {.dilation = 2}); }},
        {"max_pool2d", "dtype", [] { return max_pool2d(i64({1, 1, 4, 4}), {}); }},
        {"max_pool2d", "rank", [] { return max_pool2d(f64({4, 4}), {}); }},
        {"max_pool2d", "undefined", [] { return max_pool2d(U, {}); }},
        {"max_pool2d", "padding > kernel / 2", [] { return max_pool2d(f64({1, 1, 4, 4}), {.padding = {2, 0}}); }},
        {"max_pool2d", "output size < 1", [] { return max_pool2d(f64({1, 1, 1, 4}), {}); }},
        {"avg_pool2d", "dtype", [] { return avg_pool2d(i64({1, 1, 4, 4}), {}); }},
        {"avg_pool2d", "rank", [] { return avg_pool2d(f64({1, 1, 1, 4, 4}), {}); }},
        {"avg_pool2d", "undefined", [] { return avg_pool2d(U, {}); }},
        {"avg_pool2d", "negative stride", [] { return avg_pool2d(f64({1, 1, 4, 4}), {.stride = {-1, 1}}); }},
        {"dropout", "dtype", [gen]() mutable { return dropout(i64({2}), 0.5, true, gen); }},
        {"dropout", "undefined", [gen]() mutable { return dropout(U, 0.5, true, gen); }},
        {"scaled_dot_product_attention", "rank", [] { return scaled_dot_product_attention(f64({2, 3}), f64({2, 3}), f64({2, 3})); }},
        {"scaled_dot_product_attention", "shape",
         [] { return scaled_dot_product_attention(f64({1, 1, 2, 3}), f64({1, 1, 2, 4}), f64({1, 1, 2, 3})); }},
        {"scaled_dot_product_attention", "dtype",
         [] { return scaled_dot_product_attention(i64({1, 1, 2, 3}), i64({1, 1, 2, 3}), i64({1, 1, 2, 3})); }},
        {"scaled_dot_product_attention", "undefined",
         [] { return scaled_dot_product_attention(U, f64({1, 1, 2, 3}), f64({1, 1, 2, 3})); }},
        {"attention_qkv", "rank", [] { return attention_qkv(f64({2, 6}), 1); }},
        {"attention_qkv", "shape", [] { return attention_qkv(f64({1, 2, 7}), 1); }},
        {"attention_qkv", "dtype", [] { return attention_qkv(i64({1, 2, 6}), 1); }},
        {"attention_qkv", "undefined", [] { return attention_qkv(U, 1); }},
        {"batch_norm", "rank", [] { return batch_norm(f64({3}), U, U, U, U, true); }},
        {"batch_norm", "shape", [] { return batch_norm(f64({2, 3}), f64({4}), f64({4}), U, U, true); }},
        {"batch_norm", "dtype", [] { return batch_norm(i64({2, 3}), U, U, U, U, true); }},
        {"batch_norm", "undefined", [] { return batch_norm(U, f64({3}), f64({3}), U, U, false); }},
        {"batch_norm", "value", [] { return batch_norm(f64({1, 3}), f64({3}), f64({3}), U, U, true); }},
        {"rms_norm", "shape", [] { return rms_norm(f64({2, 3}), f64({4}), 1e-5); }},
        {"rms_norm", "dtype", [] { return rms_norm(f64({2, 3}), Tensor::ones({3}), 1e-5); }},
        {"rms_norm", "undefined", [] { return rms_norm(U, f64({3}), 1e-5); }},
        {"mse_loss", "shape", [] { return mse_loss(f64({2, 3}), f64({3})); }},
        {"mse_loss", "dtype", [] { return mse_loss(f64({2}), i64({2})); }},
        {"mse_loss", "undefined", [] { return mse_loss(f64({2}), U); }},
        {"nll_loss", "rank", [] { return nll_loss(f64({2, 3, 4}), i64({2})); }},
        {"nll_loss", "shape", [] { return nll_loss(f64({2, 3}), i64({3})); }},
        {"nll_loss", "dtype", [] { return nll_loss(f64({2, 3}), f64({2})); }},
        {"nll_loss", "undefined", [] { return nll_loss(U, i64({2})); }},
        {"binary_cross_entropy_with_logits", "shape", [] { return binary_cross_entropy_with_logits(f64({2}), f64({3})); }},
        {"binary_cross_entropy_with_logits", "dtype", [] { return binary_cross_entropy_with_logits(i64({2}), i64({2})); }},
        {"binary_cross_entropy_with_logits", "undefined", [] { return binary_cross_entropy_with_logits(U, f64({2})); }},
        {"cross_entropy", "rank", [] { return cross_entropy(f64({2, 3, 4}), i64({2}), -100, 0.0); }},
        {"cross_entropy", "shape", [] { return cross_entropy(f64({2, 3}), i64({3}), -100, 0.0); }},
        {"cross_entropy", "dtype", [] { return cross_entropy(f64({2, 3}), f64({2}), -100, 0.0); }},
        {"cross_entropy", "undefined", [] { return cross_entropy(f64({2, 3}), U, -100, 0.1); }},
        {"cross_entropy", "value", [] { return cross_entropy(f64({2, 3}), i64({2}), -100, -0.1); }},
        {"silu", "dtype", [] { return silu(i64({2})); }},
        {"silu", "undefined", [] { return silu(U); }},
        {"leaky_relu", "dtype", [] { return leaky_relu(i64({2})); }},
        {"leaky_relu", "value", [] { return leaky_relu(f64({2}), std::nan("")); }},
        {"leaky_relu", "undefined", [] { return leaky_relu(U, 0.1); }},
        {"abs", "dtype", [] { return abs(i64({2})); }},
        {"abs", "undefined", [] { return abs(U); }},
        {"clamp", "dtype", [] { return clamp(i64({2}), 0.0, 1.0); }},
        {"clamp", "min > max", [] { return clamp(f64({2}), 1.0, 0.0); }},
        {"clamp", "NaN bound", [] { return clamp(f64({2}), std::nan(""), 1.0); }},
        {"clamp", "undefined", [] { return clamp(U, 0.0, 1.0); }},
        {"sin", "dtype", [] { return sin(i64({2})); }},
        {"sin", "undefined", [] { return sin(U); }},
        {"cos", "dtype", [] { return cos(i64({2})); }},
        {"cos", "undefined", [] { return cos(U); }},
        {"where", "dtype", [] { return where(i64({2}), f64({2}), Tensor::ones({2})); }},
        {"where", "integer values", [] { return where(i64({2}), i64({2}), i64({2})); }},
        {"where", "shape", [] { return where(i64({3}), f64({2, 1}), f64({2})); }},
        {"where", "undefined cond", [] { return where(U, f64({2}), f64({2})); }},
        {"where", "undefined value", [] { return where(i64({2}), f64({2}), U); }},
        {"masked_fill", "dtype", [] { return masked_fill(i64({2}), i64({2}), 1.0); }},
        {"masked_fill", "shape", [] { return masked_fill(f64({2, 3}), i64({2}), 1.0); }},
        {"masked_fill", "mask larger than x", [] { return masked_fill(f64({3}), i64({2, 3}), 1.0); }},
        {"masked_fill", "undefined", [] { return masked_fill(f64({2}), U, 1.0); }},
        {"eq", "shape", [] { return eq(f64({2, 3}), f64({4})); }},
        {"lt", "bf16", [] { return lt(b16({2}), 0.0); }},
        {"ge", "undefined", [] { return ge(U, f64({2})); }},
        {"logical_and", "shape", [] { return logical_and(f64({3}), f64({2})); }},
        {"logical_not", "undefined", [] { return logical_not(U); }},
        {"operator&", "dtype", [] { return f64({2}) & f64({2}); }},
        {"operator~", "dtype", [] { return ~i64({2}); }},
        {"any", "rank", [] { return any(f64({2}), 1); }},
        {"all", "bf16", [] { return all(b16({2})); }},
        {"nonzero", "undefined", [] { return nonzero(U); }},
        {"count_nonzero", "bf16", [] { return count_nonzero(b16({2})); }},
        {"isnan", "bf16", [] { return isnan(b16({2})); }},
        {"exp", "b8", [] { return exp(Tensor::ones({2}, Dtype::b8)); }},
        {"add", "b8", [] { return Tensor::ones({2}, Dtype::b8) + Tensor::ones({2}, Dtype::b8); }},
        {"gather", "dtype", [] { return gather(f64({2, 3}), 1, f64({2, 1})); }},
        {"gather", "rank", [] { return gather(f64({2, 3}), 1, i64({2})); }},
        {"gather", "dim", [] { return gather(f64({2, 3}), 2, i64({2, 1})); }},
        {"gather", "shape", [] { return gather(f64({2, 3}), 1, i64({3, 1})); }},
        {"gather", "index out of range", [] { return gather(f64({2, 3}), 1, tensor(std::vector<int64_t>{0, 3}, {2, 1})); }},
        {"gather", "negative index", [] { return gather(f64({2, 3}), 0, tensor(std::vector<int64_t>{-1}, {1, 1})); }},
        {"gather", "undefined", [] { return gather(f64({2, 3}), 0, U); }},
        {"index_select", "dtype", [] { return index_select(f64({2, 3}), 0, f64({1})); }},
        {"index_select", "rank", [] { return index_select(f64({2, 3}), 0, i64({1, 1})); }},
        {"index_select", "dim", [] { return index_select(f64({2, 3}), -3, i64({1})); }},
        {"index_select", "index out of range", [] { return index_select(f64({2, 3}), 1, tensor(std::vector<int64_t>{3}, {1})); }},
        {"index_select", "negative index", [] { return index_select(f64({2, 3}), 0, tensor(std::vector<int64_t>{-1}, {1})); }},
        {"index_select", "undefined", [] { return index_select(U, 0, i64({1})); }},
        {"stack", "shape", [] { return stack({f64({2, 3}), f64({3, 2})}, 0); }},
        {"stack", "dtype", [] { return stack({f64({2}), Tensor::ones({2})}, 0); }},
        {"stack", "rank", [] { return stack({f64({2}), f64({2})}, 2); }},
        {"stack", "undefined", [] { return stack({f64({2}), U}, 0); }},
        {"stack", "empty list", [] { return stack({}, 0); }},
        {"split", "rank", [] { return split(f64({2, 3}), 1, 2)[0]; }},
        {"split", "value", [] { return split(f64({2, 3}), 0, 0)[0]; }},
        {"split", "undefined", [] { return split(U, 1, 0)[0]; }},
        {"chunk", "rank", [] { return chunk(f64({}), 1, 0)[0]; }},
        {"chunk", "value", [] { return chunk(f64({4}), 0, 0)[0]; }},
        {"chunk", "undefined", [] { return chunk(U, 2, 0)[0]; }},
        {"squeeze", "rank", [] { return squeeze(f64({2, 1}), 2); }},
        {"squeeze", "undefined", [] { return squeeze(U, 0); }},
        {"unsqueeze", "rank", [] { return unsqueeze(f64({2, 1}), 3); }},
        {"unsqueeze", "undefined", [] { return unsqueeze(U, 0); }},
        {"flatten", "rank", [] { return flatten(f64({2, 3}), 0, 2); }},
        {"flatten", "value", [] { return flatten(f64({2, 3, 4}), 2, 1); }},
        {"flatten", "undefined", [] { return flatten(U); }},
        {"expand", "shape", [] { return expand(f64({2, 3}), {2, 4}); }},
        {"expand", "rank", [] { return expand(f64({2, 3}), {3}); }},
        {"expand", "value", [] { return expand(f64({2, 3}), {-1, 2, 3}); }},
        {"expand", "undefined", [] { return expand(U, {2}); }},
        {"var", "dtype", [] { return var(i64({2}), 0); }},
        {"var", "rank", [] { return var(f64({2, 3}), 2); }},
        {"var", "undefined", [] { return var(U, 0); }},
        {"min", "dtype", [] { return min(i64({2})); }},
        {"min", "rank", [] { return min(f64({2, 2}), -3); }},
        {"min", "empty", [] { return min(f64({0})); }},
        {"min", "undefined", [] { return min(U, 0); }},
        {"argmax", "rank", [] { return argmax(f64({2, 2}), 2); }},
        {"argmax", "empty", [] { return argmax(f64({3, 0}), 1); }},
        {"argmax", "undefined", [] { return argmax(U, 0); }},
        {"logsumexp", "dtype", [] { return logsumexp(i64({2}), 0); }},
        {"logsumexp", "rank", [] { return logsumexp(f64({}), 0); }},
        {"logsumexp", "undefined", [] { return logsumexp(U, 0); }},
        // bf16 is a storage dtype: one op of each family refuses it and says to convert.
        {"matmul", "bf16", [] { return matmul(b16({2, 2}), b16({2, 2})); }},
        {"add", "bf16", [] { return add(b16({2}), b16({2})); }},
        {"layer_norm", "bf16", [] { return layer_norm(b16({2, 3}), b16({3}), b16({3})); }},
        {"softmax", "bf16", [] { return softmax(b16({2, 2})); }},
        {"sum", "bf16", [] { return sum(b16({2})); }},
        {"requires_grad_", "bf16", [] { return b16({2}).requires_grad_(); }},
        {"to", "grad into bf16", [] { return to(f64({2}).requires_grad_(), Dtype::bf16); }},
    };
}

}  // namespace

TEST_CASE("every public op rejects bad input with a tg::Error that names the op", "[errors]") {
    int checked = 0;
    for (const BadCall& c : bad_calls()) {
        INFO(c.op << " with " << c.kind << " input");
        bool threw = false;
        try {
            c.call();
        } catch (const Error& e) {
            threw = true;
            const std::string msg = e.what();
            INFO("message: " << msg);
            CHECK(msg.find(c.op) != std::string::npos);
            if (std::string(c.kind) == "bf16") CHECK(msg.find("bf16 is a storage dtype") != std::string::npos);
            if (std::string(c.kind) == "b8") CHECK(msg.find("b8") != std::string::npos);
        }
        CHECK(threw);
        ++checked;
    }
    CHECK(checked == 211);
}
