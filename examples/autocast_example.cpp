// README's bf16 mixed precision: a small GPT trained with its products under tg::Autocast.
// On a CPU with bf16 units (AMX-BF16, AVX512_BF16) the products run in bf16 through oneDNN;
// elsewhere in float32, and the first line says which. TG_AUTOCAST_EMULATE=1 runs bf16's
// arithmetic on any CPU. Exits 1 unless the model learns to copy its input.
#include <fmt/format.h>

#include <tapegrad.hpp>

// One training step with bf16 products where the CPU has them.
double train_step(tg::nn::GPT& model, tg::optim::AdamW& opt, const tg::Tensor& x, const tg::Tensor& y) {
    opt.zero_grad();
    tg::Tensor loss;
    {
        tg::Autocast mixed(tg::Dtype::bf16);  // this thread's matmul and linear run in bf16
        loss = model.loss(x, y);
    }
    loss.backward();  // the products recorded under the guard also run in bf16
    opt.step();       // float32 master weights, float32 gradients and moments
    return loss.item<double>();
}

int main() {
    fmt::print("autocast: {}\n", tg::autocast_info());
    tg::nn::GPT model(tg::nn::GPTConfig{.vocab_size = 16, .context_length = 32, .d_model = 64, .n_layer = 2,
                                        .n_head = 2, .seed = 3});
    tg::optim::AdamW opt(model.parameters(), tg::optim::AdamWOptions{.lr = 3e-3});
    tg::Generator gen(4);
    double first = 0, last = 0;
    for (int step = 0; step < 40; ++step) {
        const tg::Tensor x = tg::Tensor::randint(0, 16, {16, 32}, gen);
        last = train_step(model, opt, x, x);  // learn to copy the input
        if (step == 0) first = last;
    }
    fmt::print("loss {:.4f} -> {:.4f}\n", first, last);
    return last < 0.5 * first ? 0 : 1;
}
