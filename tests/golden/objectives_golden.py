#!/usr/bin/env python3
"""Golden values for distill's KD objective family, computed independently of distill.

Plain Python, float64, written from the papers' formulas one sample / one pair / one triple at
a time (no vectorised tricks shared with the Rust code). Gradients with respect to the
student's outputs are central finite differences. Run it to regenerate
`src/objective/golden_values.rs`:

    python3 tests/golden/objectives_golden.py > src/objective/golden_values.rs

Conventions that follow the authors' reference code:
- DKD (Zhao et al., CVPR 2022): the gold class is removed from the non-target distribution;
  both KL terms are batch means, multiplied by T^2.
- Logit standardisation (Sun et al., CVPR 2024): z -> (z - mean(z)) / (std(z) + 1e-7) per
  sample, with the unbiased (N - 1) standard deviation, as torch.std computes it.
- DIST (Huang et al., NeurIPS 2022): 1 - mean Pearson correlation of softmax(z / tau), rows
  (inter-class) and columns (intra-class), each times tau^2.
- RKD (Park et al., CVPR 2019): distances normalised by their mean over pairs i != j; Huber
  (smooth L1, beta = 1) averaged over all N^2 pairs (distance) or N^3 triples (angle).
- PKT (Passalis & Tefas, ECCV 2018): cosine similarities mapped to [0, 1], rows normalised to
  conditional probabilities, KL(teacher || student) averaged over N^2 entries, eps = 1e-7.
- SP (Tung & Mori, ICCV 2019): G = Q Q^T, rows L2-normalised, ||G_t - G_s||_F^2 / N^2.
"""
import math

# Student and teacher outputs: 4 samples, 5 classes.
Z_S = [
    [1.0, 2.0, 0.5, -0.3, 0.8],
    [0.3, -1.2, 2.2, 0.1, -0.5],
    [-0.7, 0.4, 0.0, 1.5, 0.9],
    [2.1, -0.2, -1.0, 0.6, 0.3],
]
Z_T = [
    [2.5, 0.1, -0.4, 0.3, 1.2],
    [0.0, -2.0, 3.0, 0.5, -1.0],
    [-1.5, 0.2, 0.4, 2.6, 1.1],
    [3.0, 0.5, -1.5, -0.2, 0.9],
]
# A second teacher, for the ensemble.
Z_T2 = [
    [1.5, 0.6, -0.2, 0.1, 0.4],
    [0.4, -1.0, 2.0, 1.0, -0.6],
    [-0.5, 1.2, 0.3, 1.9, 0.2],
    [2.2, 1.0, -0.4, -0.8, 0.0],
]
Y = [1, 2, 3, 0]


def softmax(z):
    m = max(z)
    e = [math.exp(v - m) for v in z]
    s = sum(e)
    return [v / s for v in e]


def kl(p, q):
    return sum(a * (math.log(a) - math.log(b)) for a, b in zip(p, q) if a > 0)


def standardize(z):
    n = len(z)
    mean = sum(z) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in z) / (n - 1))
    return [(v - mean) / (std + 1e-7) for v in z]


def kd(zs, zt, T, std=False):
    total = 0.0
    for s, t in zip(zs, zt):
        if std:
            s, t = standardize(s), standardize(t)
        total += kl(softmax([v / T for v in t]), softmax([v / T for v in s]))
    return T * T * total / len(zs)


def dkd(zs, zt, T, alpha, beta, std=False):
    tckd = nckd = 0.0
    for s, t, y in zip(zs, zt, Y):
        if std:
            s, t = standardize(s), standardize(t)
        ps = softmax([v / T for v in s])
        pt = softmax([v / T for v in t])
        tckd += kl([pt[y], 1 - pt[y]], [ps[y], 1 - ps[y]])
        others = [k for k in range(len(s)) if k != y]
        nckd += kl(softmax([t[k] / T for k in others]), softmax([s[k] / T for k in others]))
    n = len(zs)
    return T * T * (alpha * tckd + beta * nckd) / n


def pearson(a, b):
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    da, db = [v - ma for v in a], [v - mb for v in b]
    num = sum(x * y for x, y in zip(da, db))
    return num / max(math.sqrt(sum(x * x for x in da)) * math.sqrt(sum(y * y for y in db)), 1e-8)


def dist(zs, zt, tau, beta, gamma):
    ys = [softmax([v / tau for v in r]) for r in zs]
    yt = [softmax([v / tau for v in r]) for r in zt]
    n, c = len(ys), len(ys[0])
    inter = 1 - sum(pearson(ys[i], yt[i]) for i in range(n)) / n
    cols = lambda m, j: [m[i][j] for i in range(n)]
    intra = 1 - sum(pearson(cols(ys, j), cols(yt, j)) for j in range(c)) / c
    return tau * tau * (beta * inter + gamma * intra)


def huber(x):
    return 0.5 * x * x if abs(x) < 1 else abs(x) - 0.5


def norm(v):
    return math.sqrt(sum(x * x for x in v))


def rkd_distance(es, et):
    n = len(es)

    def dists(e):
        d = [[norm([a - b for a, b in zip(e[i], e[j])]) for j in range(n)] for i in range(n)]
        mu = sum(d[i][j] for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
        return [[x / mu for x in row] for row in d]

    ds, dt = dists(es), dists(et)
    return sum(huber(ds[i][j] - dt[i][j]) for i in range(n) for j in range(n)) / (n * n)


def rkd_angle(es, et):
    n = len(es)

    def unit(u):
        l = max(norm(u), 1e-12)
        return [x / l for x in u]

    def angles(e):
        # cos of the angle at i between e_j and e_k
        out = {}
        for i in range(n):
            for j in range(n):
                for k in range(n):
                    u = unit([a - b for a, b in zip(e[j], e[i])])
                    v = unit([a - b for a, b in zip(e[k], e[i])])
                    out[i, j, k] = sum(x * y for x, y in zip(u, v))
        return out

    a_s, a_t = angles(es), angles(et)
    return sum(huber(a_s[key] - a_t[key]) for key in a_s) / n**3


def pkt(es, et, eps=1e-7):
    n = len(es)

    def cond(e):
        u = [[x / (norm(r) + eps) for x in r] for r in e]
        sim = [[(sum(a * b for a, b in zip(u[i], u[j])) + 1) / 2 for j in range(n)] for i in range(n)]
        return [[x / sum(row) for x in row] for row in sim]

    ps, pt = cond(es), cond(et)
    total = sum(pt[i][j] * math.log((pt[i][j] + eps) / (ps[i][j] + eps)) for i in range(n) for j in range(n))
    return total / (n * n)


def sp(es, et):
    n = len(es)

    def gram(e):
        g = [[sum(a * b for a, b in zip(e[i], e[j])) for j in range(n)] for i in range(n)]
        return [[x / max(norm(row), 1e-12) for x in row] for row in g]

    gs, gt = gram(es), gram(et)
    return sum((gt[i][j] - gs[i][j]) ** 2 for i in range(n) for j in range(n)) / (n * n)


def ensemble(teachers, weights, T):
    """T * log(sum_k w_k softmax(z_k / T)): logits whose tempered softmax is the mixture."""
    out = []
    for rows in zip(*teachers):
        mix = [0.0] * len(rows[0])
        for w, r in zip(weights, rows):
            for c, p in enumerate(softmax([v / T for v in r])):
                mix[c] += w * p
        out.append([T * math.log(p) for p in mix])
    return out


def grad(f, zs, h=1e-6):
    g = []
    for i in range(len(zs)):
        row = []
        for j in range(len(zs[0])):
            up = [r[:] for r in zs]
            dn = [r[:] for r in zs]
            up[i][j] += h
            dn[i][j] -= h
            row.append((f(up) - f(dn)) / (2 * h))
        g.append(row)
    return g


CASES = [
    ("KD_STD_T2", lambda s: kd(s, Z_T, 2.0, std=True)),
    ("DKD_A1_B8_T4", lambda s: dkd(s, Z_T, 4.0, 1.0, 8.0)),
    ("DKD_A1_B2_T1", lambda s: dkd(s, Z_T, 1.0, 1.0, 2.0)),
    ("DKD_STD_A1_B8_T2", lambda s: dkd(s, Z_T, 2.0, 1.0, 8.0, std=True)),
    ("DIST_B1_G1_T1", lambda s: dist(s, Z_T, 1.0, 1.0, 1.0)),
    ("DIST_B1_G2_T4", lambda s: dist(s, Z_T, 4.0, 1.0, 2.0)),
    ("RKD_DISTANCE", lambda s: rkd_distance(s, Z_T)),
    ("RKD_ANGLE", lambda s: rkd_angle(s, Z_T)),
    ("PKT", lambda s: pkt(s, Z_T)),
    ("SP", lambda s: sp(s, Z_T)),
    ("KD_ENSEMBLE_T4", lambda s: kd(s, ensemble([Z_T, Z_T2], [0.7, 0.3], 4.0), 4.0)),
]


def rust_matrix(m):
    return "[" + ", ".join("[" + ", ".join(f"{v:.10e}" for v in row) + "]" for row in m) + "]"


print("// Generated by tests/golden/objectives_golden.py; do not edit by hand.")
print("//! Golden values of the objective family (see tests/golden/objectives_golden.py).")
print("#![allow(clippy::excessive_precision, clippy::unreadable_literal)]")
print()
print(f"pub const Z_S: [[f32; 5]; 4] = {rust_matrix(Z_S)};")
print(f"pub const Z_T: [[f32; 5]; 4] = {rust_matrix(Z_T)};")
print(f"pub const Z_T2: [[f32; 5]; 4] = {rust_matrix(Z_T2)};")
print(f"pub const Y: [i64; 4] = {Y};")
print(f"pub const ENSEMBLE_T4: [[f32; 5]; 4] = {rust_matrix(ensemble([Z_T, Z_T2], [0.7, 0.3], 4.0))};")
for name, f in CASES:
    print(f"pub const {name}: (f32, [[f32; 5]; 4]) = ({f(Z_S):.10e}, {rust_matrix(grad(f, Z_S))});")
