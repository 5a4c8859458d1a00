# torchfde's adjoint on the block examples/bench times, for a side-by-side
# figure: x0 (batch 128 x 64) -> D^0.5 x = W2 tanh(W1 x + b1) + b2 (hidden
# 64) on [0, 1], loss = sum(x(T)^2), product rectangle ("predictor"), forward
# + backward through torchfde's fdeint_adjoint (method "predictor-f").
# Needs Debian's python3-torch and a checkout of torchfde on PYTHONPATH:
#   PYTHONPATH=/path/to/torchfde /usr/bin/python3 examples/bench/torchfde_block.py STEPS [dtype=float32] [threads=1]
# Prints ms per forward+backward iteration (after a warm-up).
import sys, time
import torch
from torchfde import fdeint_adjoint

arg = lambda i, d: sys.argv[i] if len(sys.argv) > i else d
steps, dtype = int(sys.argv[1]), getattr(torch, arg(2, "float32"))
torch.set_num_threads(int(arg(3, 1)))
torch.manual_seed(0)
B, D, H = 128, 64, 64


class Field(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(D, H), torch.nn.Tanh(), torch.nn.Linear(H, D))

    def forward(self, t, x):
        return self.net(x)


f = Field().to(dtype)
x0 = torch.randn(B, D, dtype=dtype)
beta = torch.tensor(0.5, dtype=dtype)
T, h = torch.tensor(1.0, dtype=dtype), torch.tensor(1.0 / steps, dtype=dtype)


def once():
    f.zero_grad()
    x = x0.clone().requires_grad_(True)
    y = fdeint_adjoint(f, x, beta, t=T, step_size=h, method="predictor-f")
    (y ** 2).sum().backward()


once()
reps = 5 if steps <= 100 else 2
t0 = time.perf_counter()
for _ in range(reps):
    once()
ms = 1000 * (time.perf_counter() - t0) / reps
print(f"torchfde adjoint steps={steps} dtype={arg(2, 'float32')} threads={torch.get_num_threads()} ms_per_iter={ms:.1f}")
