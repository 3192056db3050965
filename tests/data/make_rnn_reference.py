#!/usr/bin/env python3
"""Writes nn.LSTM, nn.GRU, nn.LSTMCell and nn.GRUCell outputs and gradients computed by PyTorch,
for tests/test_nn_rnn.cpp.

Run with Debian's python3-torch (apt-get install python3-torch):
    /usr/bin/python3 tests/data/make_rnn_reference.py tests/data
Everything is float64. Each case stores the module's state_dict under "<case>.<name>" (the
names tapegrad's layer must load), its input and initial states, the outputs, and the
gradients of sum(r * output) + sum(r_h * h) (+ sum(r_c * c)) for the stored r, r_h, r_c with
respect to every parameter, the input and the initial states.
"""
import sys

import torch

from safetensors_writer import write_safetensors


def main(out):
    torch.manual_seed(28)
    gen = torch.Generator().manual_seed(28)

    def rnd(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    T = {}
    cases = [
        # name, kind, input_size, hidden_size, num_layers, bias, batch_first, steps, batch (None: unbatched), initial state
        ("lstm_two_layers", "LSTM", 3, 4, 2, True, False, 5, 2, True),
        ("lstm_batch_first_no_bias", "LSTM", 3, 5, 1, False, True, 4, 3, False),
        ("lstm_unbatched", "LSTM", 2, 3, 1, True, False, 3, None, True),
        ("gru_two_layers", "GRU", 3, 4, 2, True, False, 5, 2, True),
        ("gru_batch_first", "GRU", 4, 3, 1, True, True, 6, 3, False),
        ("gru_unbatched_no_bias", "GRU", 2, 3, 2, False, False, 4, None, True),
        ("lstm_cell", "LSTMCell", 3, 4, 1, True, False, 1, 2, True),
        ("gru_cell", "GRUCell", 3, 4, 1, True, False, 1, 2, True),
        ("gru_cell_unbatched", "GRUCell", 2, 3, 1, True, False, 1, None, True),
    ]
    for name, kind, n_in, H, L, bias, bf, steps, B, init in cases:
        cell = kind.endswith("Cell")
        if cell:
            m = getattr(torch.nn, kind)(n_in, H, bias=bias, dtype=torch.float64)
        else:
            m = getattr(torch.nn, kind)(n_in, H, num_layers=L, bias=bias, batch_first=bf, dtype=torch.float64)
        with torch.no_grad():
            for p in m.parameters():
                p.copy_(rnd(*p.shape) * 0.5)
        if cell:
            x_shape = (B, n_in) if B else (n_in,)
            s_shape = (B, H) if B else (H,)
        else:
            x_shape = ((B, steps, n_in) if bf else (steps, B, n_in)) if B else (steps, n_in)
            s_shape = (L, B, H) if B else (L, H)
        x = rnd(*x_shape).requires_grad_()
        h0 = rnd(*s_shape).requires_grad_() if init else None
        c0 = rnd(*s_shape).requires_grad_() if init and "LSTM" in kind else None
        if kind == "LSTMCell":
            h, c = m(x, (h0, c0))
            y = None
        elif kind == "GRUCell":
            h, c, y = m(x, h0), None, None
        elif kind == "LSTM":
            y, (h, c) = m(x, (h0, c0)) if init else m(x)
        else:
            y, h = m(x, h0) if init else m(x)
            c = None
        loss = 0
        for key, t in (("output", y), ("h", h), ("c", c)):
            if t is None:
                continue
            r = rnd(*t.shape)
            T[f"{name}.r_{key}"] = r
            T[f"{name}.{key}"] = t.detach().clone()
            loss = loss + (t * r).sum()
        loss.backward()
        for pname, p in m.state_dict().items():
            T[f"{name}.{pname}"] = p.detach().clone()
        for pname, p in m.named_parameters():
            T[f"{name}.grad.{pname}"] = p.grad.detach().clone()
        for key, t in (("x", x), ("h0", h0), ("c0", c0)):
            if t is not None:
                T[f"{name}.{key}"] = t.detach().clone()
                T[f"{name}.grad.{key}"] = t.grad.detach().clone()
    write_safetensors(f"{out}/rnn_reference.safetensors", T, {"source": "make_rnn_reference.py",
                                                             "torch": torch.__version__})


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
