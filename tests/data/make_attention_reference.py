#!/usr/bin/env python3
"""Writes nn.MultiheadAttention outputs, attention weights and gradients computed by PyTorch,
for tests/test_nn_attention.cpp.

Run with Debian's python3-torch (apt-get install python3-torch):
    /usr/bin/python3 tests/data/make_attention_reference.py tests/data
Everything is float64. Each case stores the module's state_dict under "<case>.<name>" (the
names tapegrad's MultiheadAttention must load), its inputs, masks, the output, the averaged or
per-head weights, and the gradients of sum(r * output) for the stored r with respect to every
parameter and input.
"""
import sys

import torch

from safetensors_writer import write_safetensors


def main(out):
    torch.manual_seed(27)
    gen = torch.Generator().manual_seed(27)

    def rnd(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    T = {}
    cases = [
        # name, E, H, kdim, vdim, batch_first, T, S, B, self-attention, masks, need_weights, average
        ("cross_masks", 8, 2, None, None, False, 4, 5, 2, False, "bool", True, True),
        ("self_float_mask", 8, 4, None, None, True, 6, 6, 3, True, "float3d", False, True),
        ("kv_dims", 6, 3, 4, 5, False, 3, 7, 2, False, "padding", True, False),
        ("unbatched", 4, 2, None, None, False, 5, 5, None, True, "none", True, True),
    ]
    for name, E, H, kdim, vdim, bf, Tq, S, B, self_attn, masks, need_weights, average in cases:
        m = torch.nn.MultiheadAttention(E, H, kdim=kdim, vdim=vdim, batch_first=bf, dtype=torch.float64)
        with torch.no_grad():
            for p in m.parameters():
                p.copy_(rnd(*p.shape) * 0.5)  # nonzero biases too
        kd, vd = kdim or E, vdim or E

        def shaped(L, d):
            if B is None:
                return (L, d)
            return (B, L, d) if bf else (L, B, d)

        q = rnd(*shaped(Tq, E)).requires_grad_()
        if self_attn:
            k = v = q
        else:
            k = rnd(*shaped(S, kd)).requires_grad_()
            v = rnd(*shaped(S, vd)).requires_grad_()
        kpm = attn = None
        if masks in ("bool", "padding"):
            kpm = torch.zeros(B, S, dtype=torch.bool)
            kpm[0, -1] = True
            kpm[1, 1] = True
        if masks == "bool":
            attn = torch.zeros(Tq, S, dtype=torch.bool)
            attn[0, 2] = True
            attn[3, 0] = True
        if masks == "float3d":
            attn = rnd(B * H, Tq, S)
        y, w = m(q, k, v, key_padding_mask=kpm, attn_mask=attn, need_weights=need_weights,
                 average_attn_weights=average)
        r = rnd(*y.shape)
        (y * r).sum().backward()
        for pname, p in m.state_dict().items():
            T[f"{name}.{pname}"] = p.detach().clone()
        for pname, p in m.named_parameters():
            T[f"{name}.grad.{pname}"] = p.grad.detach().clone()
        T[f"{name}.query"] = q.detach().clone()
        T[f"{name}.grad.query"] = q.grad.detach().clone()
        if not self_attn:
            T[f"{name}.key"], T[f"{name}.value"] = k.detach().clone(), v.detach().clone()
            T[f"{name}.grad.key"], T[f"{name}.grad.value"] = k.grad.detach().clone(), v.grad.detach().clone()
        if kpm is not None:
            T[f"{name}.key_padding_mask"] = kpm
        if attn is not None:
            T[f"{name}.attn_mask"] = attn
        T[f"{name}.r"] = r
        T[f"{name}.output"] = y.detach().clone()
        if need_weights:
            T[f"{name}.weights"] = w.detach().clone()
    write_safetensors(f"{out}/attention_reference.safetensors", T, {"source": "make_attention_reference.py",
                                                                   "torch": torch.__version__})


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
