#!/usr/bin/env python3
"""Writes conv1d, conv2d, max_pool2d and avg_pool2d values and gradients computed by PyTorch,
for tests/test_ops_conv.cpp.

Run with Debian's python3-torch (apt-get install python3-torch):
    /usr/bin/python3 tests/data/make_conv_reference.py tests/data
Every configuration <name> stores, in float64:
  <name>.args  i64: conv: [stride, padding, dilation] per spatial dim (H then W; one each for
               conv1d) then groups; pool: [kH, kW, sH, sW, pH, pW]
  <name>.x, <name>.w, <name>.b (convs; b absent when the conv has no bias), <name>.r
  <name>.y     the op's output
  <name>.dx, <name>.dw, <name>.db   gradients of L = sum(r * y)
"""
import sys

import torch
import torch.nn.functional as F

from safetensors_writer import write_safetensors

# name: (x shape, w shape, bias, stride, padding, dilation, groups)
CONV2D = {
    "conv2d_pad": ((2, 3, 5, 6), (4, 3, 3, 3), True, (1, 1), (1, 1), (1, 1), 1),
    "conv2d_groups": ((2, 4, 7, 6), (6, 2, 3, 2), True, (2, 1), (1, 0), (1, 2), 2),
    "conv2d_depthwise": ((1, 3, 6, 5), (6, 1, 3, 3), False, (2, 2), (1, 1), (2, 2), 3),
    "conv2d_1x1": ((2, 3, 4, 4), (2, 3, 1, 1), True, (1, 1), (0, 0), (1, 1), 1),
}
CONV1D = {
    "conv1d_groups": ((2, 4, 9), (6, 2, 3), True, 2, 2, 2, 2),
    "conv1d_one_output": ((1, 2, 5), (3, 2, 5), False, 1, 0, 1, 1),
}
# name: (op, x shape, kernel, stride (None: torch's default, the kernel; stored as 0), padding)
POOL = {
    "max_pool_pad": ("max", (2, 3, 7, 6), (3, 3), (2, 2), (1, 1)),
    "max_pool_rect": ("max", (1, 2, 5, 5), (2, 3), (1, 2), (1, 0)),
    "avg_pool_pad": ("avg", (2, 3, 7, 6), (3, 3), (2, 2), (1, 1)),
    "avg_pool_default_stride": ("avg", (1, 2, 5, 4), (2, 2), None, (0, 0)),
}


def main(out):
    gen = torch.Generator().manual_seed(16)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    tensors = {}

    def conv(name, fn, xs, ws, bias, stride, padding, dilation, groups, args):
        x = randn(*xs).requires_grad_()
        w = randn(*ws).requires_grad_()
        b = randn(ws[0]).requires_grad_() if bias else None
        y = fn(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
        r = randn(*y.shape)
        (y * r).sum().backward()
        tensors[f"{name}.args"] = torch.tensor(args, dtype=torch.int64)
        tensors.update({f"{name}.x": x, f"{name}.w": w, f"{name}.r": r, f"{name}.y": y,
                        f"{name}.dx": x.grad, f"{name}.dw": w.grad})
        if bias:
            tensors.update({f"{name}.b": b, f"{name}.db": b.grad})

    for name, (xs, ws, bias, s, p, d, g) in CONV2D.items():
        conv(name, F.conv2d, xs, ws, bias, s, p, d, g, [s[0], s[1], p[0], p[1], d[0], d[1], g])
    for name, (xs, ws, bias, s, p, d, g) in CONV1D.items():
        conv(name, F.conv1d, xs, ws, bias, s, p, d, g, [s, p, d, g])
    for name, (op, xs, k, s, p) in POOL.items():
        x = randn(*xs).requires_grad_()
        fn = F.max_pool2d if op == "max" else F.avg_pool2d
        y = fn(x, kernel_size=k, stride=s, padding=p)
        r = randn(*y.shape)
        (y * r).sum().backward()
        s = s or (0, 0)
        tensors[f"{name}.args"] = torch.tensor([k[0], k[1], s[0], s[1], p[0], p[1]], dtype=torch.int64)
        tensors.update({f"{name}.x": x, f"{name}.r": r, f"{name}.y": y, f"{name}.dx": x.grad})
    write_safetensors(f"{out}/conv_reference.safetensors", tensors, {"torch": torch.__version__})
    print("wrote", len(tensors), "tensors")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
