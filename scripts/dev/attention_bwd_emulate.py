"""CPU emulation of csrc/backends/cuda/attention_bwd.cu, for checking changes without a GPU:
1. the lane addressing of the main kernel's ldmatrix / mma.sync fragments (one step of every
   product, D 64/128/256, exact on small integers) and that every ldmatrix phase and P^T / dS^T
   store is free of bank conflicts;
2. the control flow (preprocess, causal start block, GQA steps, masks, padding rows, key
   blocks no query sees) at block level in float64 against reference gradients.
It mirrors the kernel by hand: change both together.

    python scripts/dev/attention_bwd_emulate.py
"""
import math
import sys

import numpy as np

BM = BN = 64; PCH = 8

def store_tile(mat, CH):  # load_tile's layout: element (r, col) -> byte offset
    mem = {}
    R = mat.shape[0]
    for r in range(R):
        for c in range(CH):
            for e in range(8):
                mem[(r * CH + (c ^ (r & 7))) * 16 + e * 2] = mat[r, c * 8 + e]
    return mem

def ldsm(mem, addrs, trans):  # addrs[lane] -> regs[lane][4] of (lo, hi) pairs
    regs = [[None]*4 for _ in range(32)]
    for m in range(4):
        assert len({(addrs[8*m + r] // 16) % 8 for r in range(8)}) == 8, "bank conflict"

        rows = [[mem[addrs[8*m + r] + 2*e] for e in range(8)] for r in range(8)]
        for lane in range(32):
            g, t = lane // 4, lane % 4
            if not trans:
                regs[lane][m] = (rows[g][2*t], rows[g][2*t+1])
            else:
                regs[lane][m] = (rows[2*t][g], rows[2*t+1][g])
    return regs

def mma(c, a, b0, b1):  # c[lane][4], a[lane][4] pairs, b0/b1[lane] pairs
    A = np.zeros((16, 16)); B = np.zeros((16, 8))
    for lane in range(32):
        g, t = lane // 4, lane % 4
        A[g, 2*t:2*t+2] = a[lane][0]; A[g+8, 2*t:2*t+2] = a[lane][1]
        A[g, 2*t+8:2*t+10] = a[lane][2]; A[g+8, 2*t+8:2*t+10] = a[lane][3]
        B[2*t:2*t+2, g] = b0[lane]; B[2*t+8:2*t+10, g] = b1[lane]
    C = A @ B
    for lane in range(32):
        g, t = lane // 4, lane % 4
        c[lane][0] += C[g, 2*t]; c[lane][1] += C[g, 2*t+1]; c[lane][2] += C[g+8, 2*t]; c[lane][3] += C[g+8, 2*t+1]

def fragments(D):
    rng = np.random.default_rng(D)
    CH = D // 8; KD = D // 16; DT = D // 32; QC = min(D // 4, 32)
    K, V, Q, dO = (rng.integers(-3, 4, (64, D)).astype(float) for _ in range(4))
    Pt, dSt = (rng.integers(-3, 4, (64, 64)).astype(float) for _ in range(2))
    mK, mV, mQ, mO = (store_tile(x, CH) for x in (K, V, Q, dO))
    mPt, mSt = store_tile(Pt, PCH), store_tile(dSt, PCH)
    St, dPt = np.full((64, 64), np.nan), np.full((64, 64), np.nan)  # NaN: never written
    dV, dK, dQ = (np.full((64, D), np.nan) for _ in range(3))
    for warp in range(8):
        wk, wh = warp % 4, warp // 4
        kr, qc, r32, dc = 16 * wk, 32 * wh, 32 * (warp % 2), (warp // 2) * (D // 4)
        L = {}
        for lane in range(32):
            x, mat = lane % 8, lane // 8
            r1 = (mat % 2) * 8 + x; r2 = (mat // 2) * 8 + x
            dcb = dc // 8
            lo1 = [((2*j + mat//2) ^ x) * 16 for j in range(4)]
            lo2 = [((2*j + mat%2) ^ x) * 16 for j in range(4)]
            lo1c = [(((dcb % 8) + 2*j + mat//2) ^ x) * 16 for j in range(4)]
            L[lane] = dict(r1=r1, r2=r2, lo1=lo1, lo2=lo2, lo1c=lo1c, col_base=(dcb // 8) * 128,
                           lo_q=[((r32 // 8 + 2 * mt + mat % 2) ^ x) * 16 for mt in range(2)])
        at = lambda ch, row, c, lo: row * ch * 16 + (c // 8) * 128 + lo[(c % 8) // 2]
        at_col = lambda l, row, c: row * CH * 16 + L[l]['col_base'] + (c // 8) * 128 + L[l]['lo1c'][(c % 8) // 2]
        # phase 1
        s_t = [[[0.0]*4 for _ in range(32)] for _ in range(4)]
        d_t = [[[0.0]*4 for _ in range(32)] for _ in range(4)]
        for kk in range(KD):
            a = ldsm(mK, [at(CH, kr + L[l]['r1'], 2*kk, L[l]['lo1']) for l in range(32)], False)
            for nt in (0, 2):
                bb = ldsm(mQ, [at(CH, qc + nt*8 + L[l]['r2'], 2*kk, L[l]['lo2']) for l in range(32)], False)
                mma(s_t[nt], a, [r[0] for r in bb], [r[1] for r in bb]); mma(s_t[nt+1], a, [r[2] for r in bb], [r[3] for r in bb])
            a = ldsm(mV, [at(CH, kr + L[l]['r1'], 2*kk, L[l]['lo1']) for l in range(32)], False)
            for nt in (0, 2):
                bb = ldsm(mO, [at(CH, qc + nt*8 + L[l]['r2'], 2*kk, L[l]['lo2']) for l in range(32)], False)
                mma(d_t[nt], a, [r[0] for r in bb], [r[1] for r in bb]); mma(d_t[nt+1], a, [r[2] for r in bb], [r[3] for r in bb])
        for nt in range(4):
            for lane in range(32):
                g, t = lane // 4, lane % 4
                c = qc + nt*8 + 2*t
                for e in range(4):
                    St[kr + g + (e//2)*8, c + (e & 1)] = s_t[nt][lane][e]
                    dPt[kr + g + (e//2)*8, c + (e & 1)] = d_t[nt][lane][e]
                pass
            for h in range(2):
                banks = set()
                for lane in range(32):
                    g, t = lane // 4, lane % 4
                    c = qc + nt*8 + 2*t; r = kr + g + h*8
                    banks.add(((r * PCH * 16 + (((c // 8) ^ (r & 7)) * 16) + (c % 8) * 2) // 4) % 32)
                assert len(banks) == 32, "store bank conflict"
            for lane in range(32):
                g, t = lane // 4, lane % 4
                c = qc + nt*8 + 2*t
                for h in range(2):  # the P^T store layout against store_tile's
                    r = kr + g + h*8
                    off = r * PCH * 16 + (((c // 8) ^ (r & 7)) * 16) + (c % 8) * 2
                    assert off == (r * PCH + ((c // 8) ^ (r & 7))) * 16 + (c % 8) * 2
        # phase 2
        dv = [[[[0.0]*4 for _ in range(32)] for _ in range(DT)] for _ in range(2)]
        dk = [[[[0.0]*4 for _ in range(32)] for _ in range(DT)] for _ in range(2)]
        for kk in range(BM // 16):
            for src, b_mem, accum in ((mPt, mO, dv), (mSt, mQ, dk)):
                a = [ldsm(src, [at(PCH, r32 + 16 * mt + L[l]['r1'], 2*kk, L[l]['lo1']) for l in range(32)], False)
                     for mt in range(2)]
                for dt in range(0, DT, 2):
                    bb = ldsm(b_mem, [at_col(l, kk*16 + L[l]['r1'], dt) for l in range(32)], True)
                    for mt in range(2):
                        mma(accum[mt][dt], a[mt], [r[0] for r in bb], [r[1] for r in bb])
                        mma(accum[mt][dt+1], a[mt], [r[2] for r in bb], [r[3] for r in bb])
        for mt in range(2):
            for dt in range(DT):
                for lane in range(32):
                    g, t = lane // 4, lane % 4
                    for e in range(4):
                        dV[r32 + 16*mt + g + (e//2)*8, dc + dt*8 + 2*t + (e&1)] = dv[mt][dt][lane][e]
                        dK[r32 + 16*mt + g + (e//2)*8, dc + dt*8 + 2*t + (e&1)] = dk[mt][dt][lane][e]
        # phase 3
        for p in range((D // 4) // QC):
            c0 = dc + p * QC
            acc = [[[[0.0]*4 for _ in range(32)] for _ in range(QC // 8)] for _ in range(2)]
            for kk in range(BN // 16):
                a = [ldsm(mSt, [(kk*16 + L[l]['r2']) * PCH * 16 + L[l]['lo_q'][mt] for l in range(32)], True)
                     for mt in range(2)]
                for dt in range(0, QC // 8, 2):
                    bb = ldsm(mK, [at_col(l, kk*16 + L[l]['r1'], p * (QC // 8) + dt) for l in range(32)], True)
                    for mt in range(2):
                        mma(acc[mt][dt], a[mt], [r[0] for r in bb], [r[1] for r in bb])
                        mma(acc[mt][dt+1], a[mt], [r[2] for r in bb], [r[3] for r in bb])
            for mt in range(2):
                for dt in range(QC // 8):
                    for lane in range(32):
                        g, t = lane // 4, lane % 4
                        for e in range(4):
                            dQ[r32 + 16*mt + g + (e//2)*8, c0 + dt*8 + 2*t + (e&1)] = acc[mt][dt][lane][e]
    ok = [np.array_equal(St, K @ Q.T), np.array_equal(dPt, V @ dO.T), np.array_equal(dV, Pt @ dO),
          np.array_equal(dK, dSt @ Q), np.array_equal(dQ, dSt.T @ K)]
    print(D, "S^T dP^T dV dK dQ:", ok)
    return all(ok)


LOG2E = 1.4426950408889634

def reference(q, k, v, do, causal, off, scale):
    B, Hq, Sq, D = q.shape; Hk = k.shape[1]; r = Hq // Hk
    kk = np.repeat(k, r, 1); vv = np.repeat(v, r, 1)
    s = q @ kk.transpose(0, 1, 3, 2) * scale
    if causal:
        i = np.arange(Sq)[:, None]; j = np.arange(k.shape[2])[None, :]
        s = np.where(j > i + off, -np.inf, s)
    m = s.max(-1, keepdims=True); m = np.where(np.isinf(m), 0, m)
    p = np.exp(s - m); l = p.sum(-1, keepdims=True)
    P = p / np.where(l > 0, l, 1)
    lse = np.where(l[..., 0] > 0, np.log(np.where(l[..., 0] > 0, l[..., 0], 1)) + m[..., 0], -np.inf)
    out = P @ vv
    dP = do @ vv.transpose(0, 1, 3, 2)
    Dd = (do * out).sum(-1, keepdims=True)
    dS = P * (dP - Dd)
    dq = dS @ kk * scale
    dk = (dS.transpose(0, 1, 3, 2) @ q * scale).reshape(B, Hk, r, k.shape[2], D).sum(2)
    dv = (P.transpose(0, 1, 3, 2) @ do).reshape(B, Hk, r, k.shape[2], D).sum(2)
    return out, lse, dq, dk, dv

def kernel(q, k, v, out, do, lse, causal, off, scale):
    B, Hq, Sq, D = q.shape; Hk, Sk = k.shape[1], k.shape[2]
    rows_padded = (Sq + BM - 1) // BM * BM
    stats = np.zeros((B, Hq, 2, rows_padded))
    for b in range(B):
        for h in range(Hq):
            for i in range(rows_padded):
                if i < Sq:
                    d = (out[b, h, i] * do[b, h, i]).sum(); l = lse[b, h, i]
                    l2 = math.inf if l == -math.inf else l * LOG2E
                else:
                    d, l2 = 0.0, math.inf
                stats[b, h, 0, i] = l2; stats[b, h, 1, i] = d
    dq_acc = np.zeros((B, Hq, Sq, D)); dk = np.full(k.shape, np.nan); dv = np.full(v.shape, np.nan)
    group = Hq // Hk; num_m = (Sq + BM - 1) // BM; slog2 = scale * LOG2E
    pad = lambda x, R, start: np.pad(x[start:start + R], ((0, R - len(x[start:start + R])), (0, 0)))
    for b in range(B):
        for hk in range(Hk):
            for nb in range((Sk + BN - 1) // BN):
                n0 = nb * BN
                m_start = 0
                if causal:
                    first = n0 - off
                    m_start = 0 if first <= 0 else min(first // BM, num_m)
                per_head = num_m - m_start; steps = group * per_head
                K = pad(k[b, hk], BN, n0); V = pad(v[b, hk], BN, n0)
                dK = np.zeros((BN, D)); dV = np.zeros((BN, D))
                for s in range(steps):
                    hq = hk * group + s // per_head; m0 = (m_start + s % per_head) * BM
                    Q = pad(q[b, hq], BM, m0); dO = pad(do[b, hq], BM, m0)
                    l2 = stats[b, hq, 0, m0:m0 + BM]; Dd = stats[b, hq, 1, m0:m0 + BM]
                    St = K @ Q.T; dPt = V @ dO.T
                    with np.errstate(invalid='ignore', over='ignore'):
                        Pt = np.exp2(St * slog2 - l2[None, :])
                    masked = n0 + BN > Sk or (causal and n0 + BN - 1 > m0 + off)
                    if masked:
                        key = n0 + np.arange(BN)[:, None]; query = m0 + np.arange(BM)[None, :]
                        hide = (key >= Sk) | ((key > query + off) if causal else False)
                        Pt = np.where(hide, 0.0, Pt)
                    dSt = Pt * (dPt - Dd[None, :])
                    dV += Pt @ dO; dK += dSt @ Q
                    dQ = dSt.T @ K
                    rows = min(BM, Sq - m0)
                    dq_acc[b, hq, m0:m0 + rows] += dQ[:rows]
                rows = min(BN, Sk - n0)
                dk[b, hk, n0:n0 + rows] = dK[:rows] * scale; dv[b, hk, n0:n0 + rows] = dV[:rows]
    return dq_acc * scale, dk, dv

def control_flow():
    rng = np.random.default_rng(0)
    bad = 0
    for (B, Hq, Hk, Sq, Sk, causal, off, D) in [
            (1, 2, 2, 1, 1, False, 0, 8), (1, 2, 2, 17, 17, True, 0, 16), (1, 2, 2, 100, 77, False, 0, 8),
            (1, 4, 1, 77, 300, True, 0, 8), (1, 8, 2, 257, 130, True, -127, 8), (1, 8, 1, 130, 257, True, 127, 8),
            (1, 4, 4, 64, 128, True, -32, 8), (2, 4, 2, 200, 200, True, 0, 16), (1, 2, 1, 70, 300, True, 230, 8),
            (1, 2, 2, 300, 70, True, -250, 8)]:
        q = rng.standard_normal((B, Hq, Sq, D)); k = rng.standard_normal((B, Hk, Sk, D))
        v = rng.standard_normal((B, Hk, Sk, D)); do = rng.standard_normal((B, Hq, Sq, D))
        scale = D ** -0.5
        out, lse, rq, rk, rv = reference(q, k, v, do, causal, off, scale)
        gq, gk, gv = kernel(q, k, v, out, do, lse, causal, off, scale)
        errs = [np.abs(a - r).max() for a, r in ((gq, rq), (gk, rk), (gv, rv))]
        ok = all(e < 1e-9 for e in errs)
        bad += not ok
        print("ok " if ok else "BAD", B, Hq, Hk, Sq, Sk, causal, off, D, ["%.2g" % e for e in errs])
    return bad == 0


if __name__ == "__main__":
    ok = all([fragments(D) for D in (64, 128, 256)])
    ok = control_flow() and ok
    sys.exit(0 if ok else 1)
