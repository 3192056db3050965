"""A PyTorch-written checkpoint of a small CNN with BatchNorm, for tests/test_nn_cnn.cpp.

The model is trained for a few steps in train mode so that its running statistics and
num_batches_tracked are not their initial values, then its state_dict is saved as PyTorch names
it (float32, num_batches_tracked int64), together with an input and the model's eval-mode and
train-mode outputs on it. Run from this folder: /usr/bin/python3 make_batchnorm_checkpoint.py
"""
import torch
from torch import nn

from safetensors_writer import write_safetensors

torch.manual_seed(7)
model = nn.Sequential(
    nn.Conv2d(2, 4, 3, padding=1),
    nn.BatchNorm2d(4),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Flatten(),
    nn.Linear(4 * 3 * 3, 5),
    nn.BatchNorm1d(5),
)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for _ in range(3):
    x = torch.randn(6, 2, 6, 6) * 2 + 0.5
    loss = model(x).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()

x = torch.randn(3, 2, 6, 6)
model.eval()
with torch.no_grad():
    eval_out = model(x)
write_safetensors("batchnorm_checkpoint.safetensors", model.state_dict(), {"format": "pt"})
model.train()
train_out = model(x)
write_safetensors("batchnorm_checkpoint_expected.safetensors",
                  {"x": x, "eval_out": eval_out, "train_out": train_out.detach(),
                   # the running statistics after that one more training forward
                   "running_mean_after": model[1].running_mean,
                   "running_var_after": model[1].running_var},
                  {"format": "pt"})
print({k: tuple(v.shape) for k, v in model.state_dict().items()})
