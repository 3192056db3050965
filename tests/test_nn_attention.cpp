// Attention layers that are not always causal (issue 27, item 1): nn::MultiheadAttention against
// PyTorch's (tests/data/make_attention_reference.py: outputs, weights and gradients in float64),
// SelfAttention and TransformerBlock with and without the causal mask and with PyTorch-style
// masks, and the mask conventions themselves.
#include <cmath>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "op_inputs.hpp"

using namespace tg;
using namespace tg::test;
using Catch::Contains;

namespace {

const std::map<std::string, Tensor>& reference() {
    static const std::map<std::string, Tensor> r = read_reference(std::string(TG_TEST_DATA_DIR) +
                                                                  "/attention_reference.safetensors");
    return r;
}

const Tensor& reference_tensor(const std::string& name) {
    const auto& r = reference();
    const auto it = r.find(name);
    INFO("reference tensor " << name);
    REQUIRE(it != r.end());
    return it->second;
}

bool has(const std::string& name) { return reference().count(name) > 0; }

Tensor leaf64(const Shape& s, uint64_t seed) { return randn64(s, seed).requires_grad_(); }

struct MhaCase {
    const char* name;
    int64_t E, H, kdim, vdim;
    bool batch_first, self, need_weights, average;
};

}  // namespace

TEST_CASE("MultiheadAttention loads PyTorch's state_dict and matches its outputs, weights and gradients",
          "[nn][attention]") {
    const std::vector<MhaCase> cases = {
        {"cross_masks", 8, 2, 0, 0, false, false, true, true},
        {"self_float_mask", 8, 4, 0, 0, true, true, false, true},
        {"kv_dims", 6, 3, 4, 5, false, false, true, false},
        {"unbatched", 4, 2, 0, 0, false, true, true, true},
    };
    for (const MhaCase& c : cases) {
        INFO(c.name);
        const std::string p = std::string(c.name) + ".";
        nn::MultiheadAttention mha(c.E, c.H,
                                   {.batch_first = c.batch_first, .kdim = c.kdim, .vdim = c.vdim, .dtype = Dtype::f64,
                                    .seed = 1});
        // PyTorch's names, written to a file and loaded as a user would load a converted checkpoint.
        nn::NamedTensors sd;
        for (const auto& [name, t] : mha.state_dict()) sd.emplace_back(name, reference_tensor(p + name));
        const TempDir dir;
        nn::save_safetensors(dir.file("mha.safetensors"), sd);
        mha.load(dir.file("mha.safetensors"));

        Tensor q = clone(reference_tensor(p + "query")).requires_grad_();
        Tensor k = c.self ? q : clone(reference_tensor(p + "key")).requires_grad_();
        Tensor v = c.self ? q : clone(reference_tensor(p + "value")).requires_grad_();
        nn::MultiheadAttentionArgs args{.need_weights = c.need_weights, .average_attn_weights = c.average};
        if (has(p + "key_padding_mask")) args.key_padding_mask = reference_tensor(p + "key_padding_mask");
        if (has(p + "attn_mask")) args.attn_mask = reference_tensor(p + "attn_mask");
        const nn::AttentionOutput out = mha.forward(q, k, v, args);
        require_close(out.output, reference_tensor(p + "output"), 1e-10);
        if (c.need_weights) require_close(out.weights, reference_tensor(p + "weights"), 1e-10);
        else CHECK_FALSE(out.weights.defined());
        sum(out.output * reference_tensor(p + "r")).backward();
        for (const auto& [name, param] : mha.named_parameters()) {
            INFO("gradient of " << name);
            require_close(param.grad(), reference_tensor(p + "grad." + name), 1e-10);
        }
        require_close(q.grad(), reference_tensor(p + "grad.query"), 1e-10);
        if (!c.self) {
            require_close(k.grad(), reference_tensor(p + "grad.key"), 1e-10);
            require_close(v.grad(), reference_tensor(p + "grad.value"), 1e-10);
        }
        // Without asking for the weights the fused kernels run, and give the same output.
        if (c.need_weights) {
            nn::MultiheadAttentionArgs fused = args;
            fused.need_weights = false;
            require_close(mha.forward(q, k, v, fused).output, reference_tensor(p + "output"), 1e-10);
        }
    }
}

TEST_CASE("MultiheadAttention: PyTorch's parameter names, initialisation and a gradcheck", "[nn][attention]") {
    nn::MultiheadAttention mha(8, 2, {.dtype = Dtype::f64, .seed = 3});
    std::vector<std::string> names;
    for (const auto& [name, t] : mha.named_parameters()) names.push_back(name);
    CHECK(names == std::vector<std::string>{"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"});
    CHECK(mha.in_proj_weight.shape() == Shape{24, 8});
    CHECK(all(mha.in_proj_bias == 0.0).item<bool>());
    CHECK(all(mha.out_proj.bias == 0.0).item<bool>());
    const double xavier = std::sqrt(6.0 / (24 + 8));
    CHECK(all(abs(mha.in_proj_weight) <= xavier).item<bool>());
    nn::MultiheadAttention kv(6, 3, {.bias = false, .kdim = 4, .vdim = 5, .seed = 3});
    names.clear();
    for (const auto& [name, t] : kv.named_parameters()) names.push_back(name);
    CHECK(names == std::vector<std::string>{"q_proj_weight", "k_proj_weight", "v_proj_weight", "out_proj.weight"});
    CHECK(kv.k_proj_weight.shape() == Shape{6, 4});
    CHECK(mha.summary().find("MultiheadAttention(embed_dim=8, num_heads=2)") != std::string::npos);

    // Through the inputs and every parameter, with both masks, in float64.
    nn::MultiheadAttention small(4, 2, {.batch_first = true, .dtype = Dtype::f64, .seed = 5});
    Tensor q = leaf64({2, 4, 4}, 6), kv_in = leaf64({2, 3, 4}, 7);
    const nn::MultiheadAttentionArgs args{
        .key_padding_mask = tensor({false, false, true, false, false, false}, {2, 3}),
        .attn_mask = tensor({false, true, false, false, false, false, false, false, true, false, false, false}, {4, 3})};
    check_module_grad(small, [&] { return small.forward(q, kv_in, kv_in, args).output; }, {q, kv_in});
    nn::MultiheadAttentionArgs weights = args;
    weights.need_weights = true;
    check_module_grad(small, [&] { return small.forward(q, kv_in, kv_in, weights).weights; }, {q, kv_in});
    check_module_grad(small, [&] { return small.forward(q); }, {q});
}

TEST_CASE("MultiheadAttention refuses inputs and masks that do not fit, naming them", "[nn][attention]") {
    nn::MultiheadAttention mha(8, 2, {.seed = 1});
    const Tensor x = Tensor::randn({5, 2, 8}, Dtype::f32, 1);
    REQUIRE_THROWS_WITH(nn::MultiheadAttention(8, 3), Contains("MultiheadAttention: embed_dim 8 is not divisible into num_heads 3"));
    REQUIRE_THROWS_WITH(mha.forward(x, x, Tensor::randn({5, 2, 4}, Dtype::f32, 2)),
                        Contains("MultiheadAttention: expected query, key and value features 8, 8 and 8, got (5, 2, 8), "
                                 "(5, 2, 8) and (5, 2, 4)"));
    REQUIRE_THROWS_WITH(mha.forward(x, Tensor::randn({4, 3, 8}, Dtype::f32, 3), Tensor::randn({4, 3, 8}, Dtype::f32, 4)),
                        Contains("key and value must have the query's batch"));
    REQUIRE_THROWS_WITH(mha.forward(Tensor::randn({2, 5, 3, 8}, Dtype::f32, 5), x, x),
                        Contains("query, key and value must be 3-d (T, B, E) or all 2-d (T, E)"));
    REQUIRE_THROWS_WITH(mha.forward(x, x, x, {.key_padding_mask = Tensor::zeros({5, 2}, Dtype::b8)}),
                        Contains("MultiheadAttention: key_padding_mask must be (B, S) = (2, 5), got (5, 2)"));
    REQUIRE_THROWS_WITH(mha.forward(x, x, x, {.attn_mask = Tensor::zeros({2, 5, 5}, Dtype::b8)}),
                        Contains("attn_mask must be (T, S) = (5, 5) or (B * num_heads, T, S) = (4, 5, 5), got (2, 5, 5)"));
    REQUIRE_THROWS_WITH(mha.forward(x, x, x, {.attn_mask = Tensor::zeros({5, 5}, Dtype::i64)}),
                        Contains("MultiheadAttention: attn_mask must be b8 or floating (f32, f64), got i64"));
    REQUIRE_THROWS_WITH(mha.forward(x, Tensor::randn({3, 2, 8}, Dtype::f32, 6), Tensor::randn({3, 2, 8}, Dtype::f32, 7),
                                    {.is_causal = true}),
                        Contains("is_causal needs as many queries as keys, got 5 and 3"));
}

TEST_CASE("PyTorch's nn mask conventions become scaled_dot_product_attention's", "[nn][attention]") {
    // attn_mask b8: true = may not attend; key padding b8: true = padding. The merged mask says
    // where a query may attend, broadcasting to (B, H, T, S).
    const Tensor attn = tensor({false, true, false, false}, {2, 2});
    const Tensor pad = tensor({false, false, true, false}, {2, 2});
    const Tensor both = nn::merge_attention_masks(attn, pad, 2, 3, 2, 2, Dtype::f64, "test");
    CHECK(both.dtype() == Dtype::b8);
    CHECK(both.shape() == Shape{2, 1, 2, 2});
    CHECK(both.to_vector<bool>() == std::vector<bool>{true, false, true, true, false, false, false, true});
    CHECK_FALSE(nn::merge_attention_masks(Tensor(), Tensor(), 2, 3, 2, 2, Dtype::f64, "test").defined());
    // A floating mask adds; a b8 one becomes 0 / -inf beside it.
    const Tensor bias = tensor({0.5, -1.0, 2.0, 0.0}, {2, 2});
    const std::vector<double> v = nn::merge_attention_masks(bias, pad, 2, 1, 2, 2, Dtype::f64, "test").to_vector<double>();
    const double inf = std::numeric_limits<double>::infinity();
    CHECK(v == std::vector<double>{0.5, -1.0, 2.0, 0.0, -inf, -1.0, -inf, 0.0});
    // (B * H, T, S) masks are per head.
    CHECK(nn::merge_attention_masks(Tensor::zeros({6, 2, 2}, Dtype::b8), Tensor(), 2, 3, 2, 2, Dtype::f64, "t").shape() ==
          Shape{2, 3, 2, 2});
}

TEST_CASE("TransformerBlock attends both ways unless causal; GPT's blocks are causal", "[nn][attention]") {
    // How much output position 0 moves when the last input position changes: 0 only if causal.
    auto first_moves = [](nn::Module& block) {
        const Tensor x = randn64({1, 5, 8}, 1);
        Tensor x2 = x.clone();
        x2.data<double>()[4 * 8 + 2] += 1.0;
        const auto a = block.forward(x).to_vector<double>(), b = block.forward(x2).to_vector<double>();
        double d = 0;
        for (int i = 0; i < 8; ++i) d = std::max(d, std::abs(a[static_cast<std::size_t>(i)] - b[static_cast<std::size_t>(i)]));
        return d;
    };
    nn::TransformerBlock encoder(8, 2, {.dtype = Dtype::f64, .seed = 2});
    nn::TransformerBlock decoder(8, 2, {.causal = true, .dtype = Dtype::f64, .seed = 2});
    CHECK_FALSE(encoder.attn.causal);
    CHECK(first_moves(encoder) > 1e-6);
    CHECK(first_moves(decoder) == 0.0);
    CHECK(encoder.summary().find("TransformerBlock(norm=pre)") != std::string::npos);
    CHECK(decoder.summary().find("TransformerBlock(norm=pre, causal)") != std::string::npos);
    nn::SelfAttention plain(8, 2, {.dtype = Dtype::f64, .seed = 2});
    CHECK(first_moves(plain) > 1e-6);
    nn::GPT gpt(nn::GPTConfig{.vocab_size = 11, .context_length = 8, .d_model = 8, .n_layer = 2, .n_head = 2});
    for (std::size_t i = 0; i < 2; ++i) CHECK(gpt.block(i).attn.causal);
    nn::CausalSelfAttention gpt2_attn(8, 2);
    CHECK(gpt2_attn.causal);
    CHECK(gpt2_attn.type_name() == "CausalSelfAttention");
}

TEST_CASE("a key padding mask keeps padded positions out of every other position's output", "[nn][attention]") {
    nn::TransformerBlock block(8, 2, {.dtype = Dtype::f64, .seed = 4});
    const Tensor pad = tensor({false, false, false, true, true, false, false, false, false, true}, {2, 5});
    const Tensor x = randn64({2, 5, 8}, 5);
    Tensor x2 = x.clone();
    double* p = x2.data<double>();
    for (int d = 0; d < 8; ++d) p[(0 * 5 + 4) * 8 + d] += 3.0, p[(1 * 5 + 4) * 8 + d] -= 2.0;  // padded positions
    const auto a = block.forward(x, Tensor(), pad).to_vector<double>();
    const auto b = block.forward(x2, Tensor(), pad).to_vector<double>();
    for (int bb = 0; bb < 2; ++bb)
        for (int t = 0; t < 5; ++t) {
            const bool padded = t == 4 || (bb == 0 && t == 3);
            if (padded) continue;
            for (int d = 0; d < 8; ++d) {
                const std::size_t i = static_cast<std::size_t>((bb * 5 + t) * 8 + d);
                CHECK(a[i] == Approx(b[i]).margin(1e-13));
            }
        }
    // A b8 attn_mask with true above the diagonal is the causal mask.
    std::vector<bool> future(25);
    for (int t = 0; t < 5; ++t)
        for (int s = 0; s < 5; ++s) future[static_cast<std::size_t>(t * 5 + s)] = s > t;
    nn::TransformerBlock causal(8, 2, {.causal = true, .dtype = Dtype::f64, .seed = 4});
    require_close(block.forward(x, tensor(future, {5, 5})), causal.forward(x), 1e-12);
    Tensor xl = leaf64({2, 5, 8}, 6);
    check_module_grad(block, [&] { return block.forward(xl, Tensor(), pad); }, {xl});
}
