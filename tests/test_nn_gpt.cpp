// The GPT against PyTorch: reference checkpoints and numbers written by
// tests/data/make_gpt_reference.py (plain PyTorch ops, nanoGPT layout).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <tuple>

#include "helpers.hpp"

using namespace tg;
using Catch::Contains;

namespace {
const std::string kData = TG_TEST_DATA_DIR;

nn::GPTConfig reference_config(const std::string& name) {
    if (name == "gpt_pre_tied")
        return {.vocab_size = 11, .context_length = 8, .d_model = 8, .n_layer = 2, .n_head = 2,
                .norm = nn::Norm::pre, .tie_embeddings = true, .dtype = Dtype::f64};
    return {.vocab_size = 7, .context_length = 6, .d_model = 8, .n_layer = 2, .n_head = 4,
            .norm = nn::Norm::post, .tie_embeddings = false, .dtype = Dtype::f64};
}

Tensor find(const nn::SafetensorsFile& f, const std::string& name) {
    for (const auto& [n, t] : f.tensors)
        if (n == name) return t;
    FAIL("no tensor " << name);
    return {};
}
}  // namespace

TEST_CASE("a GPT checkpoint written with PyTorch loads and gives PyTorch's loss and gradients", "[nn][gpt]") {
    for (const std::string name : {"gpt_pre_tied", "gpt_post_untied"}) {
        INFO(name);
        nn::GPT model(reference_config(name));
        model.load(kData + "/" + name + ".safetensors");
        const nn::SafetensorsFile expected = nn::load_safetensors(kData + "/" + name + "_expected.safetensors");
        Tensor loss = model.loss(find(expected, "tokens"), find(expected, "targets"));
        CHECK(loss.item<double>() == Approx(find(expected, "loss").item<double>()).epsilon(1e-12));
        loss.backward();
        for (const auto& [pname, p] : model.named_parameters()) {
            INFO(pname);
            const auto want = find(expected, "grad." + pname).to_vector<double>();
            const auto got = p.grad().to_vector<double>();
            REQUIRE(got.size() == want.size());
            double worst = 0, scale = 0;
            for (std::size_t i = 0; i < got.size(); ++i) {
                worst = std::max(worst, std::abs(got[i] - want[i]));
                scale = std::max(scale, std::abs(want[i]));
            }
            CHECK(worst <= 1e-12 * std::max(scale, 1.0));
        }
    }
}

TEST_CASE("GPT parameter names follow the nanoGPT layout", "[nn][gpt]") {
    nn::GPT tied(nn::GPTConfig{.vocab_size = 11, .context_length = 8, .d_model = 8, .n_layer = 1, .n_head = 2});
    std::vector<std::string> names;
    for (const auto& [n, p] : tied.named_parameters()) names.push_back(n);
    CHECK(names == std::vector<std::string>{
                       "wte.weight", "wpe.weight", "h.0.ln_1.weight", "h.0.ln_1.bias", "h.0.attn.c_attn.weight",
                       "h.0.attn.c_attn.bias", "h.0.attn.c_proj.weight", "h.0.attn.c_proj.bias", "h.0.ln_2.weight",
                       "h.0.ln_2.bias", "h.0.mlp.c_fc.weight", "h.0.mlp.c_fc.bias", "h.0.mlp.c_proj.weight",
                       "h.0.mlp.c_proj.bias", "ln_f.weight", "ln_f.bias"});
    CHECK(tied.lm_head.weight.is_same(tied.wte.weight));
    const auto aliases = tied.named_parameters_with_aliases();
    CHECK(aliases.back().first == "lm_head.weight");
    CHECK(tied.block(0).attn.c_attn.weight.shape() == Shape{24, 8});
    CHECK(tied.block(0).mlp.c_fc.weight.shape() == Shape{32, 8});

    nn::GPT untied(nn::GPTConfig{.vocab_size = 11, .context_length = 8, .d_model = 8, .n_layer = 1, .n_head = 2,
                                 .norm = nn::Norm::post, .tie_embeddings = false});
    CHECK(untied.named_parameters().back().first == "lm_head.weight");
    CHECK(untied.num_parameters() == tied.num_parameters() + 11 * 8 - 16);  // no ln_f, own lm_head
}

TEST_CASE("GPT initialisation follows GPT-2 and is seeded", "[nn][gpt]") {
    const nn::GPTConfig cfg{.vocab_size = 50, .context_length = 16, .d_model = 32, .n_layer = 4, .n_head = 4};
    nn::GPT a(cfg), b(cfg);
    auto stddev = [](const Tensor& t) {
        double s = 0;
        for (float v : t.to_vector<float>()) s += static_cast<double>(v) * v;
        return std::sqrt(s / static_cast<double>(t.numel()));
    };
    CHECK(stddev(a.wte.weight) == Approx(0.02).epsilon(0.05));
    CHECK(stddev(a.block(0).mlp.c_fc.weight) == Approx(0.02).epsilon(0.05));
    CHECK(stddev(a.block(0).mlp.c_proj.weight) == Approx(0.02 / std::sqrt(8.0)).epsilon(0.05));
    CHECK(stddev(a.block(0).attn.c_proj.weight) == Approx(0.02 / std::sqrt(8.0)).epsilon(0.1));
    for (float v : a.block(2).attn.c_attn.bias.to_vector<float>()) CHECK(v == 0.f);
    const auto pa = a.named_parameters(), pb = b.named_parameters();
    for (std::size_t i = 0; i < pa.size(); ++i) {
        INFO(pa[i].first);
        CHECK(pa[i].second.to_vector<float>() == pb[i].second.to_vector<float>());
    }
}

TEST_CASE("GPT with Init::xavier: Xavier-uniform linear weights, embeddings as GPT-2", "[nn][gpt]") {
    const int64_t C = 48;
    nn::GPTConfig cfg{.vocab_size = 50, .context_length = 16, .d_model = C, .n_layer = 4, .n_head = 4,
                      .init = nn::Init::xavier, .tie_embeddings = false, .seed = 5};
    nn::GPT a(cfg), b(cfg);
    auto stats = [](const Tensor& t) {
        double s = 0, m = 0;
        for (float v : t.to_vector<float>()) s += static_cast<double>(v) * v, m = std::max(m, std::abs(double(v)));
        return std::pair{std::sqrt(s / static_cast<double>(t.numel())), m};
    };
    // U(-a, a) has standard deviation a / sqrt(3); every value lies inside the bound.
    auto check_xavier = [&](const Tensor& w, double fan_in, double fan_out) {
        const double bound = std::sqrt(6.0 / (fan_in + fan_out));
        const auto [sd, largest] = stats(w);
        CHECK(sd == Approx(bound / std::sqrt(3.0)).epsilon(0.05));
        CHECK(largest <= bound);
        CHECK(largest > 0.95 * bound);
    };
    for (std::size_t i = 0; i < a.num_blocks(); ++i) {
        check_xavier(a.block(i).attn.c_attn.weight, C, 3 * C);
        check_xavier(a.block(i).attn.c_proj.weight, C, C);   // no 1/sqrt(2 L) scaling
        check_xavier(a.block(i).mlp.c_fc.weight, C, 4 * C);
        check_xavier(a.block(i).mlp.c_proj.weight, 4 * C, C);
        for (float v : a.block(i).mlp.c_fc.bias.to_vector<float>()) CHECK(v == 0.f);
    }
    check_xavier(a.lm_head.weight, C, 50);  // untied: a linear layer
    CHECK(stats(a.wte.weight).first == Approx(0.02).epsilon(0.05));
    CHECK(stats(a.wpe.weight).first == Approx(0.02).epsilon(0.1));
    const auto pa = a.named_parameters(), pb = b.named_parameters();
    for (std::size_t i = 0; i < pa.size(); ++i) CHECK(pa[i].second.to_vector<float>() == pb[i].second.to_vector<float>());
    CHECK(a.summary().find("init=xavier") != std::string::npos);

    // Tied, lm_head is wte: an embedding, N(0, 0.02).
    cfg.tie_embeddings = true;
    nn::GPT tied(cfg);
    CHECK(stats(tied.lm_head.weight).first == Approx(0.02).epsilon(0.05));
    CHECK(nn::GPT(nn::GPTConfig{}).summary().find("init=gpt2") != std::string::npos);
}

TEST_CASE("a whole tiny GPT's loss has correct gradients for every parameter", "[nn][gpt]") {
    for (nn::Norm norm : {nn::Norm::pre, nn::Norm::post, nn::Norm::none}) {
        INFO(nn::norm_name(norm));
        nn::GPT model(nn::GPTConfig{.vocab_size = 5, .context_length = 4, .d_model = 4, .n_layer = 2, .n_head = 2,
                                    .norm = norm, .tie_embeddings = norm != nn::Norm::post, .seed = 3,
                                    .dtype = Dtype::f64});
        // Larger weights than GPT-2's 0.02, so the check is not dominated by near-zero gradients.
        Generator gen(9);
        for (Tensor& p : model.parameters())
            if (p.dim() == 2) nn::init::normal_(p, 0.0, 0.4, gen);
        Tensor tokens = tensor(std::vector<int64_t>{0, 3, 1, 4, 2, 2, 0, 1}, {2, 4});
        Tensor targets = tensor(std::vector<int64_t>{3, 1, 4, 0, 2, 0, 1, 3}, {2, 4});
        test::check_module_grad(model, [&] { return model.loss(tokens, targets); });
    }
}

TEST_CASE("GPT checks its inputs", "[nn][gpt]") {
    nn::GPT model(nn::GPTConfig{.vocab_size = 5, .context_length = 4, .d_model = 4, .n_layer = 1, .n_head = 2});
    REQUIRE_THROWS_WITH(model.logits(Tensor::zeros({1, 3})), Contains("GPT: tokens must be i64 of shape (B, T)"));
    REQUIRE_THROWS_WITH(model.logits(tensor(std::vector<int64_t>(5, 0), {1, 5})),
                        Contains("GPT: sequence length 5 must be in [1, context_length 4]"));
    REQUIRE_THROWS_WITH(model.logits(tensor(std::vector<int64_t>{0, 7}, {1, 2})),
                        Contains("embedding: id 7 at position 1 is out of range for a table of 5 rows"));
    REQUIRE_THROWS_AS(model.loss(tensor(std::vector<int64_t>{0, 1}, {1, 2}), tensor(std::vector<int64_t>{0}, {1, 1})), ShapeError);
    REQUIRE_THROWS_WITH(nn::GPT(nn::GPTConfig{.d_model = 10, .n_head = 4}), Contains("GPTConfig: d_model 10 must be a positive multiple of n_head 4"));
}

TEST_CASE("generate extends the prompt, greedily or by seeded sampling", "[nn][gpt]") {
    nn::GPT model(nn::GPTConfig{.vocab_size = 7, .context_length = 4, .d_model = 8, .n_layer = 1, .n_head = 2, .seed = 1});
    Tensor prompt = tensor(std::vector<int64_t>{1, 2, 3, 4}, {2, 2});
    const int64_t tape_before = tape_size();
    Tensor greedy = model.generate(prompt, 5, /*temperature=*/0.0);
    CHECK(greedy.shape() == Shape{2, 7});  // longer than the context: the window slides
    const auto g = greedy.to_vector<int64_t>();
    CHECK(g[0] == 1);
    CHECK(g[1] == 2);
    // Greedy picks the arg max of the last position's logits.
    Tensor lg;
    {
        NoGradGuard ng;
        lg = model.logits(prompt);
    }
    const auto l = lg.to_vector<float>();
    const auto first_row = std::vector<float>(l.begin() + 7, l.begin() + 14);
    CHECK(g[2] == std::max_element(first_row.begin(), first_row.end()) - first_row.begin());
    CHECK(model.generate(prompt, 6, 1.0, 3, 42).to_vector<int64_t>() == model.generate(prompt, 6, 1.0, 3, 42).to_vector<int64_t>());
    for (int64_t v : model.generate(prompt, 20, 1.5, 0, 7).to_vector<int64_t>()) CHECK((v >= 0 && v < 7));
    CHECK(tape_size() == tape_before);  // generate records nothing
    REQUIRE_THROWS_AS(model.generate(prompt, -1), ValueError);
}

TEST_CASE("generate with the key/value cache gives the tokens of a full recomputation", "[nn][gpt][cache]") {
    for (const nn::Norm norm : {nn::Norm::pre, nn::Norm::post, nn::Norm::none})
        for (const Dtype dtype : {Dtype::f64, Dtype::f32}) {
            CAPTURE(nn::norm_name(norm), dtype_name(dtype));
            nn::GPT model(nn::GPTConfig{.vocab_size = 11, .context_length = 12, .d_model = 16, .n_layer = 3, .n_head = 4,
                                        .norm = norm, .dropout = 0.1, .seed = 3, .dtype = dtype});
            model.eval();
            const Tensor prompt = tensor(std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9}, {3, 3});
            // 15 new tokens: the cache runs positions 3..11, then the window slides past 12.
            for (const auto& [temperature, top_k, seed] : std::vector<std::tuple<double, int64_t, uint64_t>>{
                     {0.0, 0, 0}, {1.0, 0, 5}, {0.8, 4, 9}, {2.0, 2, 1}}) {
                CAPTURE(temperature, top_k, seed);
                const auto full = model.generate(prompt, 15, temperature, top_k, seed, /*use_cache=*/false).to_vector<int64_t>();
                const auto cached = model.generate(prompt, 15, temperature, top_k, seed).to_vector<int64_t>();
                CHECK(cached == full);
            }
        }
}

TEST_CASE("the cached logits equal the whole sequence's, position by position", "[nn][gpt][cache]") {
    nn::GPT model(nn::GPTConfig{.vocab_size = 9, .context_length = 10, .d_model = 12, .n_layer = 2, .n_head = 3,
                                .seed = 4, .dtype = Dtype::f64});
    const std::vector<int64_t> ids{3, 1, 4, 1, 5, 8, 2, 6, 5, 3, 5, 7, 0, 8, 8, 4};  // B = 2, T = 8
    const Tensor tokens = tensor(ids, {2, 8});
    NoGradGuard ng;
    const std::vector<double> whole = model.logits(tokens).to_vector<double>();  // (2, 8, 9)
    nn::KVCache cache;
    std::vector<Tensor> parts{model.logits(slice(tokens, 1, 0, 3), cache)};  // a prompt of 3, then 2, then one at a time
    CHECK(cache.length() == 3);
    CHECK(cache.layers.size() == 2);
    CHECK(cache.layers[0].k.shape() == Shape{2, 3, 3, 4});
    parts.push_back(model.logits(slice(tokens, 1, 3, 5), cache));
    for (int64_t t = 5; t < 8; ++t) parts.push_back(model.logits(slice(tokens, 1, t, t + 1), cache));
    CHECK(cache.length() == 8);
    const std::vector<double> pieced = cat(parts, 1).to_vector<double>();
    REQUIRE(pieced.size() == whole.size());
    double worst = 0;
    for (std::size_t i = 0; i < whole.size(); ++i) worst = std::max(worst, std::abs(pieced[i] - whole[i]));
    CHECK(worst < 1e-12);
    CHECK(worst >= 0);

    // Misuse: past the context, another batch size, a non-causal block.
    REQUIRE_THROWS_WITH(model.logits(tensor(std::vector<int64_t>{1, 2, 3, 4, 5, 6}, {2, 3}), cache),
                        Contains("3 new positions after the 8 in the cache must be 1 to context_length 10 in all"));
    REQUIRE_THROWS_WITH(model.logits(tensor(std::vector<int64_t>{1}, {1, 1}), cache),
                        Contains("the cache holds keys (2, 3, 8, 4) f64 but the input (1, 1, 12) f64 needs (B = 1, 3, S, 4)"));
    nn::KVCache other;
    other.layers.resize(5);
    REQUIRE_THROWS_WITH(model.logits(tensor(std::vector<int64_t>{1}, {1, 1}), other),
                        Contains("the cache holds 5 layers, the model has 2"));
    nn::TransformerBlock encoder(8, 2, {.dtype = Dtype::f64});
    nn::AttentionCache c;
    REQUIRE_THROWS_WITH(encoder.forward_cached(Tensor::zeros({1, 2, 8}, Dtype::f64), c),
                        Contains("the attention is not causal"));
    REQUIRE_THROWS_WITH(model.generate(Tensor::zeros({1, 0}, Dtype::i64), 3), Contains("has no tokens"));
}

TEST_CASE("grad_norms reports each parameter's gradient norm and one figure per block", "[nn][gpt][diagnostics]") {
    nn::GPT model(nn::GPTConfig{.vocab_size = 7, .context_length = 4, .d_model = 8, .n_layer = 3, .n_head = 2, .dtype = Dtype::f64});
    for (const auto& [name, g] : nn::grad_norms(model)) CHECK(g == 0.0);  // no backward yet
    Tensor tokens = tensor(std::vector<int64_t>{0, 3, 1, 4, 2, 2, 0, 1}, {2, 4});
    model.loss(tokens, tokens).backward();
    const auto norms = nn::grad_norms(model);
    const auto params = model.named_parameters();
    REQUIRE(norms.size() == params.size());
    double total = 0;
    std::vector<double> blocks(3, 0.0);
    for (std::size_t i = 0; i < params.size(); ++i) {
        CHECK(norms[i].first == params[i].first);
        double s = 0;
        for (double v : params[i].second.grad().to_vector<double>()) s += v * v;
        CHECK(norms[i].second == Approx(std::sqrt(s)).epsilon(1e-12));
        total += s;
        if (params[i].first.starts_with("h.")) blocks[params[i].first[2] - '0'] += s;
    }
    CHECK(nn::global_grad_norm(model) == Approx(std::sqrt(total)).epsilon(1e-12));
    const auto per_block = nn::block_grad_norms(model);
    REQUIRE(per_block.size() == 3);
    for (int i = 0; i < 3; ++i) {
        CHECK(per_block[i] == Approx(std::sqrt(blocks[i])).epsilon(1e-12));
        CHECK(per_block[i] > 0);
    }
}
