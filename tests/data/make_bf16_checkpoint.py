#!/usr/bin/env python3
"""bf16 data as PyTorch rounds and stores it, for tests/test_checkpoint.cpp.

Run from this folder: /usr/bin/python3 make_bf16_checkpoint.py
Writes two files:
  bf16_values.safetensors  float32 values (ties, denormals, overflow, NaN, random), the same
                           values converted by PyTorch to bfloat16 (BF16), and those bf16 values
                           converted back to float32; plus an nn.Linear's weights in float32.
  bf16_linear.safetensors  that nn.Linear's state_dict converted to bfloat16, as a published bf16
                           checkpoint stores it (names weight and bias).
"""
import torch

from safetensors_writer import write_safetensors

torch.manual_seed(18)
specials = torch.tensor([
    0.0, -0.0, 1.0, 1 + 2**-8, 1 + 3 * 2**-8, 1 + 3 * 2**-9, -(1 + 2**-8),
    3.3895313892515355e38,           # largest finite bf16
    (2 - 2**-8) * 2**127,            # halfway to inf: to the even one, inf
    3.4028234663852886e38,           # largest float: rounds to inf
    float("inf"), float("-inf"), float("nan"),
    2**-133, 2**-134, 2**-149, 1e-40, -1e-40, 1.1754942e-38,  # denormals
], dtype=torch.float32)
values = torch.cat([specials, torch.randn(1000) * 10, torch.randn(23) * 1e-30])
bf16 = values.to(torch.bfloat16)

linear = torch.nn.Linear(4, 3)
write_safetensors("bf16_values.safetensors", {
    "values": values,
    "values_bf16": bf16,
    "values_bf16_as_f32": bf16.to(torch.float32),
    "linear.weight_bf16_as_f32": linear.weight.to(torch.bfloat16).to(torch.float32),
    "linear.bias_bf16_as_f32": linear.bias.to(torch.bfloat16).to(torch.float32),
}, {"torch": torch.__version__})
write_safetensors("bf16_linear.safetensors",
                  {name: t.to(torch.bfloat16) for name, t in linear.state_dict().items()},
                  {"format": "pt", "torch": torch.__version__})
print("wrote bf16_values.safetensors and bf16_linear.safetensors")
