"""Which value torch's cuda mode picks among equally frequent values, against its cpu kernel."""
import torch

torch.manual_seed(0)
for n in (5, 7, 33, 100, 3000):
    x = torch.randint(-9, 10, (400, n), device="cuda")
    cuda = torch.mode(x, -1).values.cpu()
    cpu = torch.mode(x.cpu(), -1).values
    small, large = [], []
    for row in x.cpu():
        vals, counts = row.unique(return_counts=True)
        top = vals[counts == counts.max()]
        small.append(top.min()); large.append(top.max())
    small, large = torch.stack(small), torch.stack(large)
    print(f"n={n}: cuda==cpu {(cuda == cpu).float().mean():.3f}, cuda==smallest {(cuda == small).float().mean():.3f}, "
          f"cuda==largest {(cuda == large).float().mean():.3f}, cpu==smallest {(cpu == small).float().mean():.3f}")
    bad = (cuda != small).nonzero()[:2, 0]
    for r in bad.tolist():
        print("  row", x[r].tolist(), "cuda", cuda[r].item(), "cpu", cpu[r].item())
x = torch.randint(-9, 10, (5, 5, 5), device="cuda")
for dim in (0, 1, 2):
    print("5x5x5 dim", dim, "cuda==cpu", torch.equal(torch.mode(x, dim).values.cpu(), torch.mode(x.cpu(), dim).values))
