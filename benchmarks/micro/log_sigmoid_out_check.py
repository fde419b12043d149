import torch, gemforge
aten = torch.ops.aten
x = torch.randn(6, 5, device="cuda")
o = torch.empty(0, device="cuda"); b = torch.empty(0, device="cuda")
aten.log_sigmoid_forward.output(x, output=o, buffer=b)
print("torch:", o.shape, b.shape)
gemforge.enable()
o = torch.empty(0, device="cuda"); b = torch.empty(0, device="cuda")
r = aten.log_sigmoid_forward.output(x, output=o, buffer=b)
print("gemforge:", o.shape, b.shape, r[0].shape, r[0].data_ptr() == o.data_ptr(), gemforge.stats() if hasattr(gemforge, "stats") else "")
