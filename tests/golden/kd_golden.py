#!/usr/bin/env python3
"""Golden values for Hinton's KD objective, computed independently of distill (pure Python,
float64, gradients by central finite differences).

L = alpha * CE(y, softmax(z_s)) + (1 - alpha) * T^2 * KL(softmax(z_t / T) || softmax(z_s / T)),
both terms averaged over the batch. Prints the numbers pasted into src/objective/kd.rs.
"""
import math

Z_S = [[1.0, 2.0, 0.5], [0.3, -1.2, 2.2]]
Z_T = [[2.5, 0.1, -0.4], [0.0, -2.0, 3.0]]
Y = [1, 2]


def log_softmax(z):
    m = max(z)
    s = sum(math.exp(v - m) for v in z)
    return [v - m - math.log(s) for v in z]


def loss(zs, zt, y, T, alpha):
    n = len(zs)
    ce = -sum(log_softmax(zs[i])[y[i]] for i in range(n)) / n
    kl = 0.0
    for i in range(n):
        lpt = log_softmax([v / T for v in zt[i]])
        lps = log_softmax([v / T for v in zs[i]])
        kl += sum(math.exp(a) * (a - b) for a, b in zip(lpt, lps))
    kl /= n
    return alpha * ce + (1 - alpha) * T * T * kl, ce, T * T * kl


def grad(zs, zt, y, T, alpha, h=1e-6):
    g = [[0.0] * len(zs[0]) for _ in zs]
    for i in range(len(zs)):
        for j in range(len(zs[0])):
            up = [r[:] for r in zs]
            dn = [r[:] for r in zs]
            up[i][j] += h
            dn[i][j] -= h
            g[i][j] = (loss(up, zt, y, T, alpha)[0] - loss(dn, zt, y, T, alpha)[0]) / (2 * h)
    return g


for T, alpha in [(1.0, 0.5), (2.0, 0.3), (4.0, 0.0)]:
    total, ce, kd = loss(Z_S, Z_T, Y, T, alpha)
    print(f"T={T} alpha={alpha}: loss={total:.9f} ce={ce:.9f} t2kl={kd:.9f}")
    print("  grad=", [[round(v, 9) for v in row] for row in grad(Z_S, Z_T, Y, T, alpha)])
