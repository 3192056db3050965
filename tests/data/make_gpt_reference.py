#!/usr/bin/env python3
"""Writes GPT reference checkpoints and expected numbers with PyTorch, for tests/test_nn_gpt.cpp.

Run with Debian's python3-torch (apt-get install python3-torch):
    /usr/bin/python3 tests/data/make_gpt_reference.py tests/data
The model is written out here in plain PyTorch ops (nanoGPT's layout: nn.Linear weights are
out x in, q|k|v stacked in c_attn), so the test data does not come from tapegrad's own code.
The safetensors files are written by safetensors_writer.py, independently of tapegrad's writer.
"""
import math
import sys

import torch
import torch.nn.functional as F

from safetensors_writer import write_safetensors


def make_params(cfg, gen):
    V, T, C, L = cfg["vocab"], cfg["context"], cfg["d_model"], cfg["n_layer"]
    def rnd(*shape, std=0.3):
        return (torch.randn(*shape, generator=gen, dtype=torch.float64) * std).requires_grad_()
    P = {"wte.weight": rnd(V, C), "wpe.weight": rnd(T, C)}
    for i in range(L):
        p = f"h.{i}."
        if cfg["norm"] != "none":
            for ln in ("ln_1", "ln_2"):
                P[p + ln + ".weight"] = (1 + rnd(C, std=0.2)).detach().requires_grad_()
                P[p + ln + ".bias"] = rnd(C, std=0.2)
        P[p + "attn.c_attn.weight"] = rnd(3 * C, C)
        P[p + "attn.c_attn.bias"] = rnd(3 * C, std=0.1)
        P[p + "attn.c_proj.weight"] = rnd(C, C)
        P[p + "attn.c_proj.bias"] = rnd(C, std=0.1)
        P[p + "mlp.c_fc.weight"] = rnd(4 * C, C)
        P[p + "mlp.c_fc.bias"] = rnd(4 * C, std=0.1)
        P[p + "mlp.c_proj.weight"] = rnd(C, 4 * C)
        P[p + "mlp.c_proj.bias"] = rnd(C, std=0.1)
    if cfg["norm"] == "pre":
        P["ln_f.weight"] = (1 + rnd(C, std=0.2)).detach().requires_grad_()
        P["ln_f.bias"] = rnd(C, std=0.2)
    P["lm_head.weight"] = P["wte.weight"] if cfg["tied"] else rnd(V, C)
    return P


def gpt_loss(P, cfg, tokens, targets):
    B, T = tokens.shape
    C, H, V = cfg["d_model"], cfg["n_head"], cfg["vocab"]
    hs = C // H

    def ln(x, name):
        return F.layer_norm(x, (C,), P[name + ".weight"], P[name + ".bias"], 1e-5)

    def attn(x, p):
        q, k, v = (x @ P[p + "c_attn.weight"].T + P[p + "c_attn.bias"]).split(C, dim=2)
        q, k, v = (t.view(B, T, H, hs).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
        causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
        att = F.softmax(att.masked_fill(~causal, float("-inf")), dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return y @ P[p + "c_proj.weight"].T + P[p + "c_proj.bias"]

    def mlp(x, p):
        h = F.gelu(x @ P[p + "c_fc.weight"].T + P[p + "c_fc.bias"], approximate="tanh")
        return h @ P[p + "c_proj.weight"].T + P[p + "c_proj.bias"]

    x = P["wte.weight"][tokens] + P["wpe.weight"][:T]
    for i in range(cfg["n_layer"]):
        p = f"h.{i}."
        if cfg["norm"] == "pre":
            x = x + attn(ln(x, p + "ln_1"), p + "attn.")
            x = x + mlp(ln(x, p + "ln_2"), p + "mlp.")
        elif cfg["norm"] == "post":
            x = ln(x + attn(x, p + "attn."), p + "ln_1")
            x = ln(x + mlp(x, p + "mlp."), p + "ln_2")
        else:
            x = x + attn(x, p + "attn.")
            x = x + mlp(x, p + "mlp.")
    if cfg["norm"] == "pre":
        x = ln(x, "ln_f")
    logits = x @ P["lm_head.weight"].T
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))


def main(out):
    configs = {
        "gpt_pre_tied": dict(vocab=11, context=8, d_model=8, n_layer=2, n_head=2, norm="pre", tied=True),
        "gpt_post_untied": dict(vocab=7, context=6, d_model=8, n_layer=2, n_head=4, norm="post", tied=False),
    }
    for seed, (name, cfg) in enumerate(configs.items()):
        gen = torch.Generator().manual_seed(1000 + seed)
        P = make_params(cfg, gen)
        B, T = 3, cfg["context"]
        tokens = torch.randint(0, cfg["vocab"], (B, T), generator=gen)
        targets = torch.randint(0, cfg["vocab"], (B, T), generator=gen)
        loss = gpt_loss(P, cfg, tokens, targets)
        loss.backward()
        # The weights file holds every name, lm_head.weight too when it is tied (as a PyTorch
        # state_dict does).
        write_safetensors(f"{out}/{name}.safetensors", dict(P.items()), {"format": "pt"})
        expected = {"tokens": tokens, "targets": targets, "loss": loss.detach().reshape(())}
        seen = set()
        for k, v in P.items():
            if id(v) in seen:
                continue
            seen.add(id(v))
            expected["grad." + k] = v.grad
        write_safetensors(f"{out}/{name}_expected.safetensors", expected, {"format": "pt"})
        print(name, "loss", loss.item())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
