#!/usr/bin/env python3
"""Writes optimizer trajectories computed by torch.optim, for tests/test_optim.cpp.

Run with Debian's python3-torch (apt-get install python3-torch):
    /usr/bin/python3 tests/data/make_optim_reference.py tests/data
Two float64 parameters get a fixed sequence of gradients (stored in the file); after every
step the parameters are recorded, for each optimizer configuration below.
"""
import sys

import torch

from safetensors_writer import write_safetensors


STEPS = 6
CONFIGS = {
    "sgd": (torch.optim.SGD, dict(lr=0.1)),
    "sgd_momentum": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    "sgd_nesterov": (torch.optim.SGD, dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.02)),
    "adam": (torch.optim.Adam, dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)),
    "adam_amsgrad": (torch.optim.Adam, dict(lr=0.02, betas=(0.8, 0.9), eps=1e-6, amsgrad=True)),
    "adamw": (torch.optim.AdamW, dict(lr=0.01, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)),
    "adamw_amsgrad": (torch.optim.AdamW, dict(lr=0.03, betas=(0.85, 0.99), eps=1e-7, weight_decay=0.05,
                                              amsgrad=True)),
}


def main(out):
    gen = torch.Generator().manual_seed(7)
    init = [torch.randn(3, 4, generator=gen, dtype=torch.float64), torch.randn(4, generator=gen, dtype=torch.float64)]
    grads = [[torch.randn(p.shape, generator=gen, dtype=torch.float64) for p in init] for _ in range(STEPS)]
    grads[3][1][2] = 0.0  # a zero gradient element along the way
    tensors = {}
    for i, p in enumerate(init):
        tensors[f"init.{i}"] = p
    for k in range(STEPS):
        for i, g in enumerate(grads[k]):
            tensors[f"grad.{k}.{i}"] = g
    for name, (cls, kwargs) in CONFIGS.items():
        params = [p.clone().requires_grad_() for p in init]
        opt = cls(params, **kwargs)
        for k in range(STEPS):
            for p, g in zip(params, grads[k]):
                p.grad = g.clone()
            opt.step()
            for i, p in enumerate(params):
                tensors[f"{name}.{k}.{i}"] = p.detach().clone()
    write_safetensors(f"{out}/optim_reference.safetensors", tensors, {"torch": torch.__version__})
    print("wrote", len(tensors), "tensors")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
