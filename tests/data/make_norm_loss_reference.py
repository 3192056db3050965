#!/usr/bin/env python3
"""Writes batch_norm, rms_norm and loss values and gradients computed by PyTorch, for
tests/test_ops_loss_norm.cpp.

Run with Debian's python3-torch (apt-get install python3-torch):
    /usr/bin/python3 tests/data/make_norm_loss_reference.py tests/data
Everything is float64. For an op with a tensor output y the gradients are those of
sum(r * y) for the stored r; for a loss they are those of the loss itself. Training-mode
batch_norm cases also store the running statistics after the call (torch updates them in
place); evaluation cases store them to show they are unchanged. rms_norm is written out in
plain ops (torch 1.13 has no F.rms_norm).
"""
import sys

import torch
import torch.nn.functional as F

from safetensors_writer import write_safetensors


def main(out):
    gen = torch.Generator().manual_seed(16)

    def rnd(*shape, scale=1.0, shift=0.0):
        return torch.randn(*shape, generator=gen, dtype=torch.float64) * scale + shift

    T = {}

    def put(prefix, **tensors):
        for k, v in tensors.items():
            T[f"{prefix}.{k}"] = v.detach().clone()

    # batch_norm: (N, C, H, W) training with affine; (N, C, L) training without; (N, C) eval.
    for name, shape, affine, training, momentum, eps in [
        ("bn_train_4d", (2, 3, 2, 2), True, True, 0.2, 1e-5),
        ("bn_train_3d", (3, 2, 4), False, True, 0.1, 1e-3),
        ("bn_train_2d", (5, 3), True, True, 0.1, 1e-5),
        ("bn_eval_2d", (5, 3), True, False, 0.1, 1e-5),
        ("bn_eval_3d", (2, 3, 4), False, False, 0.3, 1e-4),
    ]:
        C = shape[1]
        x = rnd(*shape, scale=2.0, shift=0.5).requires_grad_()
        w = (1 + rnd(C, scale=0.3)).requires_grad_() if affine else None
        b = rnd(C, scale=0.3).requires_grad_() if affine else None
        rm0, rv0 = rnd(C, scale=0.5), 0.5 + torch.rand(C, generator=gen, dtype=torch.float64)
        rm, rv = rm0.clone(), rv0.clone()
        y = F.batch_norm(x, rm, rv, w, b, training=training, momentum=momentum, eps=eps)
        r = rnd(*shape)
        (y * r).sum().backward()
        put(name, x=x, running_mean=rm0, running_var=rv0, y=y, r=r, dx=x.grad,
            running_mean_after=rm, running_var_after=rv)
        if affine:
            put(name, weight=w, bias=b, dw=w.grad, db=b.grad)

    # rms_norm over the last dim, with and without weight.
    for name, shape, with_weight, eps in [("rms_w", (2, 3, 5), True, 1e-6), ("rms_nw", (4, 3), False, 1e-5)]:
        x = rnd(*shape, scale=1.5, shift=0.3).requires_grad_()
        w = (1 + rnd(shape[-1], scale=0.3)).requires_grad_() if with_weight else None
        y = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps)
        if with_weight:
            y = y * w
        r = rnd(*shape)
        (y * r).sum().backward()
        put(name, x=x, y=y, r=r, dx=x.grad)
        if with_weight:
            put(name, weight=w, dw=w.grad)

    # mse_loss: gradient to both arguments.
    a, t = rnd(3, 4).requires_grad_(), rnd(3, 4).requires_grad_()
    loss = F.mse_loss(a, t)
    loss.backward()
    put("mse", input=a, target=t, loss=loss, dinput=a.grad, dtarget=t.grad)

    # nll_loss on log-probabilities.
    lp = F.log_softmax(rnd(5, 4), dim=1).requires_grad_()
    tgt = torch.tensor([3, 0, 1, 3, 2])
    loss = F.nll_loss(lp, tgt)
    loss.backward()
    put("nll", log_probs=lp, targets=tgt, loss=loss, dlog_probs=lp.grad)

    # binary_cross_entropy_with_logits, with logits far out on both sides.
    z = rnd(4, 3, scale=4.0)
    z[0, 0], z[1, 2], z[3, 1] = 40.0, -60.0, 0.0
    z.requires_grad_()
    tt = torch.rand(4, 3, generator=gen, dtype=torch.float64)
    tt[2, 2] = 1.0
    tt.requires_grad_()
    loss = F.binary_cross_entropy_with_logits(z, tt)
    loss.backward()
    put("bce", logits=z, targets=tt, loss=loss, dlogits=z.grad, dtargets=tt.grad)

    # cross_entropy with ignored rows and label smoothing.
    for name, targets, ignore_index, ls in [
        ("ce_plain", [2, 0, 3, 1, 3, 2], -100, 0.0),
        ("ce_ignore", [2, -100, 3, 1, -100, 0], -100, 0.0),
        ("ce_smooth", [2, 0, 3, 1, 3, 2], -100, 0.1),
        ("ce_ignore_smooth", [2, 3, 0, 3, 0, 1], 3, 0.25),
        ("ce_all_ignored", [-100, -100, -100, -100, -100, -100], -100, 0.3),
    ]:
        x = rnd(6, 4, scale=2.0).requires_grad_()
        tgt = torch.tensor(targets)
        loss = F.cross_entropy(x, tgt, ignore_index=ignore_index, label_smoothing=ls)
        loss.backward()
        put(name, logits=x, targets=tgt, loss=loss, dlogits=x.grad)

    write_safetensors(f"{out}/norm_loss_reference.safetensors", T, {"torch": torch.__version__})
    print("wrote", len(T), "tensors")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
