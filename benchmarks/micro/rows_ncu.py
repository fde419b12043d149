"""Runs the row kernels once each under gemforge so that ncu can profile them:
    ncu --clock-control none --kernel-name regex:'softmax|norm_fwd' python benchmarks/micro/rows_ncu.py"""
import torch
import gemforge

gemforge.enable()
aten = torch.ops.aten
x = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
w = torch.randn(4096, device="cuda", dtype=torch.bfloat16)
for _ in range(3):
    y = aten._softmax(x, -1, False)
    aten.native_layer_norm(x, [4096], w, w, 1e-5)
    aten._fused_rms_norm(x, [4096], w, 1e-5)
    aten.sum.dim_IntList(x, [-1])
torch.cuda.synchronize()
