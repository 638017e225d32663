#!/usr/bin/env python3
"""Generate reference fixtures for hlab's models, losses and curvature.

An independent reference implementation (JAX, float64) of the MLPs, losses
and curvature quantities defined in API.md ("Models", "Loss, gradient,
training", "Curvature"). For each configuration it writes
tests/fixtures/<name>/*.npy plus meta.json, and tests/fixtures/index.json.

Run from the repository root:

    python tools/make_fixtures.py

Deterministic: every array is drawn from numpy.random.default_rng(seed)
with a fixed per-fixture seed; JAX only differentiates.

Conventions (identical to hlab / PyTorch `parameters_to_vector` on
`nn.Sequential(Linear, act, Linear, ...)`):
  * sizes = [d, h1, ..., k]; the activation is applied after every layer
    except the last (the last layer is affine).
  * flat params: layer by layer, weight W (out x in, row-major), then bias b
    (out) if bias; layer output = W @ x + b.
  * cross_entropy: L = (1/N) sum_i -log softmax(f(x_i))[y_i]
    mse:           L = (1/N) sum_i 1/2 ||f(x_i) - onehot(y_i)||^2
  * G = (1/N) sum_i J_i^T H_l,i J_i, J_i = d f(x_i) / d params (k x P),
    H_l,i = diag(p_i) - p_i p_i^T (softmax CE) or I_k (mse).
"""

import json
import os
import sys

import numpy as np

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures")

# name, sizes, act, loss, bias, n, seed
CONFIGS = [
    ("relu_ce", [4, 6, 3], "relu", "cross_entropy", True, 24, 101),
    ("relu_mse", [4, 6, 3], "relu", "mse", True, 24, 102),
    ("tanh_ce", [4, 6, 3], "tanh", "cross_entropy", True, 24, 103),
    ("tanh_mse", [4, 6, 3], "tanh", "mse", True, 24, 104),
    ("sigmoid_ce", [4, 6, 3], "sigmoid", "cross_entropy", True, 24, 105),
    ("sigmoid_mse", [4, 6, 3], "sigmoid", "mse", True, 24, 106),
    ("relu_ce_nobias", [5, 7, 3], "relu", "cross_entropy", False, 20, 107),
    ("tanh_ce_nobias", [5, 7, 3], "tanh", "cross_entropy", False, 20, 108),
    ("relu_mse_nobias", [5, 7, 3], "relu", "mse", False, 20, 109),
    ("deep_relu_ce", [6, 5, 4, 3], "relu", "cross_entropy", True, 32, 110),
    ("deep_tanh_mse", [6, 5, 4, 3], "tanh", "mse", True, 32, 111),
    ("linear1_mse", [5, 3], "linear", "mse", True, 16, 112),
    ("linear1_ce", [5, 3], "linear", "cross_entropy", True, 16, 113),
    ("linear_ce", [4, 5, 3], "linear", "cross_entropy", True, 20, 114),
    ("wide_relu_ce", [8, 10, 4], "relu", "cross_entropy", True, 32, 115),
]

ACTS = {
    "relu": lambda z: jnp.maximum(z, 0.0),
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "linear": lambda z: z,
}


def num_params(sizes, bias):
    return sum(o * i + (o if bias else 0) for i, o in zip(sizes[:-1], sizes[1:]))


def unflatten(p, sizes, bias):
    """Split the flat vector into [(W, b|None), ...] in PyTorch order."""
    layers, off = [], 0
    for i, o in zip(sizes[:-1], sizes[1:]):
        w = p[off:off + o * i].reshape(o, i)  # row-major out x in
        off += o * i
        b = None
        if bias:
            b = p[off:off + o]
            off += o
        layers.append((w, b))
    assert off == p.shape[0]
    return layers


def make_model(sizes, act, bias):
    f_act = ACTS[act]

    def forward(p, x):
        """x: (N, d) -> outputs (N, k). Also works for a single x of shape (d,)."""
        layers = unflatten(p, sizes, bias)
        h = x
        for li, (w, b) in enumerate(layers):
            h = h @ w.T
            if b is not None:
                h = h + b
            if li < len(layers) - 1:
                h = f_act(h)
        return h

    def preacts(p, x):
        layers = unflatten(p, sizes, bias)
        out, h = [], x
        for li, (w, b) in enumerate(layers[:-1]):
            z = h @ w.T + (b if b is not None else 0.0)
            out.append(z)
            h = f_act(z)
        return out

    return forward, preacts


def make_loss(forward, loss, k):
    def loss_fn(p, x, y):
        f = forward(p, x)
        if loss == "cross_entropy":
            logp = jax.nn.log_softmax(f, axis=1)
            return -jnp.mean(logp[jnp.arange(f.shape[0]), y])
        elif loss == "mse":
            t = jax.nn.one_hot(y, k, dtype=f.dtype)
            return jnp.mean(0.5 * jnp.sum((f - t) ** 2, axis=1))
        raise ValueError(loss)

    return loss_fn


def gauss_newton(forward, loss, p, x, k):
    """G = (1/N) sum_i J_i^T H_l,i J_i, from the per-example output Jacobian."""
    n = x.shape[0]
    # J[i] = d forward(p, x_i) / d p  : (N, k, P)
    J = jax.vmap(lambda xi: jax.jacobian(lambda q: forward(q, xi))(p))(x)
    f = forward(p, x)
    if loss == "cross_entropy":
        pr = jax.nn.softmax(f, axis=1)
        Hl = jax.vmap(lambda q: jnp.diag(q) - jnp.outer(q, q))(pr)  # (N, k, k)
    else:
        Hl = jnp.broadcast_to(jnp.eye(k), (n, k, k))
    G = jnp.einsum("iap,iab,ibq->pq", J, Hl, J) / n
    return np.asarray(G)


def linear1_mse_hessian(x, k):
    """Closed form H for the one-layer linear model with mse, weights then bias.

    With W (k x d) row-major then b (k): H_WW = I_k (x) X^T X / N,
    H_Wb[r*d + j, d*k + r] = mean_i x_ij, H_bb = I_k.
    """
    n, d = x.shape
    P = k * d + k
    H = np.zeros((P, P))
    H[:k * d, :k * d] = np.kron(np.eye(k), x.T @ x / n)
    m = x.mean(axis=0)
    for r in range(k):
        H[r * d:(r + 1) * d, k * d + r] = m
        H[k * d + r, r * d:(r + 1) * d] = m
        H[k * d + r, k * d + r] = 1.0
    return H


def numpy_forward_loss(params, x, y, sizes, act, loss, bias):
    """Plain-NumPy forward pass and loss (no JAX), reading the flat vector
    in the documented order; cross-checks the layout used above."""
    acts = {"relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh,
            "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)), "linear": lambda z: z}
    h, off = x, 0
    nl = len(sizes) - 1
    for li in range(nl):
        i, o = sizes[li], sizes[li + 1]
        w = params[off:off + o * i].reshape(o, i)
        off += o * i
        h = h @ w.T
        if bias:
            h = h + params[off:off + o]
            off += o
        if li < nl - 1:
            h = acts[act](h)
    n, k = h.shape
    if loss == "cross_entropy":
        m = h.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(h - m).sum(axis=1))
        L = np.mean(lse - h[np.arange(n), y])
    else:
        t = np.eye(k)[y]
        L = np.mean(0.5 * ((h - t) ** 2).sum(axis=1))
    return h, L


def save(dirname, name, arr):
    arr = np.ascontiguousarray(np.asarray(arr, dtype=np.float64))
    np.save(os.path.join(dirname, name + ".npy"), arr)


def build(name, sizes, act, loss, bias, n, seed, summary):
    rng = np.random.default_rng(seed)
    d, k = sizes[0], sizes[-1]
    P = num_params(sizes, bias)
    x = rng.standard_normal((n, d))
    y = np.arange(n) % k           # every class present
    rng.shuffle(y)
    params = 0.5 * rng.standard_normal(P)
    v = rng.standard_normal(P)

    forward, preacts = make_model(sizes, act, bias)
    loss_fn = make_loss(forward, loss, k)
    xj, yj, pj, vj = jnp.asarray(x), jnp.asarray(y), jnp.asarray(params), jnp.asarray(v)

    L = float(loss_fn(pj, xj, yj))
    g = np.asarray(jax.grad(loss_fn)(pj, xj, yj))
    hv = np.asarray(jax.jvp(lambda q: jax.grad(loss_fn)(q, xj, yj), (pj,), (vj,))[1])
    H_raw = np.asarray(jax.hessian(loss_fn)(pj, xj, yj))
    G_raw = gauss_newton(forward, loss, pj, xj, k)
    # saved symmetrised (the asymmetry of the raw autodiff result is ~1e-16)
    H = 0.5 * (H_raw + H_raw.T)
    G = 0.5 * (G_raw + G_raw.T)
    out = np.asarray(forward(pj, xj))
    acc = float(np.mean(np.argmax(out, axis=1) == y))
    eig_h = np.linalg.eigvalsh(H)
    eig_g = np.linalg.eigvalsh(G)

    # ---------------------------------------------------------------- checks
    checks = {}
    # pre-activations safely away from the relu kink (and relu units mixed)
    z = np.concatenate([np.asarray(a).ravel() for a in preacts(pj, xj)]) if len(sizes) > 2 else np.array([1.0])
    checks["min_abs_preact"] = float(np.min(np.abs(z)))
    if act == "relu":
        assert checks["min_abs_preact"] > 1e-4, (name, checks["min_abs_preact"])
        for a in preacts(pj, xj):
            a = np.asarray(a)
            frac = float(np.mean(a > 0))
            assert 0.1 < frac < 0.9, (name, "relu active fraction", frac)
    checks["sym"] = float(np.max(np.abs(H_raw - H_raw.T)))
    assert checks["sym"] <= 1e-12 * max(1.0, np.max(np.abs(H))), (name, checks["sym"])
    checks["sym_g"] = float(np.max(np.abs(G_raw - G_raw.T)))
    assert checks["sym_g"] <= 1e-12 * max(1.0, np.max(np.abs(G)))
    checks["min_eig_g"] = float(eig_g[0])
    assert eig_g[0] >= -1e-12, (name, eig_g[0])
    checks["hvp_vs_Hv"] = float(np.max(np.abs(hv - H @ v)) / max(1e-300, np.max(np.abs(hv))))
    assert checks["hvp_vs_Hv"] < 1e-12, (name, checks["hvp_vs_Hv"])
    out_np, L_np = numpy_forward_loss(params, x, y, sizes, act, loss, bias)
    checks["numpy_forward"] = float(max(np.max(np.abs(out_np - out)), abs(L_np - L)))
    assert checks["numpy_forward"] < 1e-13, (name, checks["numpy_forward"])
    # central finite difference of the loss, coordinate by coordinate
    loss_b = jax.jit(jax.vmap(lambda q: loss_fn(q, xj, yj)))
    h = 1e-6
    E = h * np.eye(P)
    fd = (np.asarray(loss_b(params + E)) - np.asarray(loss_b(params - E))) / (2 * h)
    checks["grad_vs_fd"] = float(np.max(np.abs(fd - g)) / max(1e-300, np.max(np.abs(g))))
    assert checks["grad_vs_fd"] < 1e-7, (name, checks["grad_vs_fd"])
    # central finite difference of the gradient along v vs the HVP
    gfun = jax.jit(lambda q: jax.grad(loss_fn)(q, xj, yj))
    eps = 1e-5
    fd_hv = (np.asarray(gfun(params + eps * v)) - np.asarray(gfun(params - eps * v))) / (2 * eps)
    checks["hvp_vs_fd"] = float(np.max(np.abs(fd_hv - hv)) / max(1e-300, np.max(np.abs(hv))))
    assert checks["hvp_vs_fd"] < 1e-6, (name, checks["hvp_vs_fd"])
    # mse + linear hidden act: no curvature of f in the params from the act
    if loss == "mse" and len(sizes) == 2:
        Hc = linear1_mse_hessian(x, k)
        checks["closed_form"] = float(np.max(np.abs(H - Hc)))
        assert checks["closed_form"] < 1e-12, (name, checks["closed_form"])
        checks["H_minus_G"] = float(np.max(np.abs(H - G)))
        assert checks["H_minus_G"] < 1e-12
    if len(sizes) == 2 and loss == "cross_entropy":
        # one-layer model: f is linear in params, so R = 0 and H == G
        checks["H_minus_G"] = float(np.max(np.abs(H - G)))
        assert checks["H_minus_G"] < 1e-12
    # G rank bound: rank G <= N*(k-1) for CE, N*k for mse
    checks["neg_eigs_h"] = int(np.sum(eig_h < -1e-10))

    # ----------------------------------------------------------------- write
    dirname = os.path.join(OUT, name)
    os.makedirs(dirname, exist_ok=True)
    save(dirname, "x", x)
    save(dirname, "y", y.astype(np.float64))
    save(dirname, "params", params)
    save(dirname, "v", v)
    save(dirname, "loss", np.array([L]))
    save(dirname, "grad", g)
    save(dirname, "hvp", hv)
    save(dirname, "hessian", H)
    save(dirname, "gauss_newton", G)
    save(dirname, "eig_h", eig_h)
    save(dirname, "eig_g", eig_g)
    save(dirname, "acc", np.array([acc]))
    save(dirname, "outputs", out)
    meta = {"sizes": sizes, "act": act, "loss": loss, "bias": bias, "n": n,
            "num_params": P, "seed": seed}
    with open(os.path.join(dirname, "meta.json"), "w") as fh:
        json.dump(meta, fh, indent=1)
        fh.write("\n")
    summary.append((name, sizes, act, loss, bias, n, P, L, acc, eig_h[0], eig_h[-1], eig_g[-1], checks))


def main():
    os.makedirs(OUT, exist_ok=True)
    summary = []
    for cfg in CONFIGS:
        build(*cfg, summary)
    with open(os.path.join(OUT, "index.json"), "w") as fh:
        json.dump([c[0] for c in CONFIGS], fh, indent=1)
        fh.write("\n")

    print(f"jax {jax.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}")
    print(f"{'name':16} {'sizes':12} {'act':8} {'loss':14} {'bias':5} {'N':>3} {'P':>4} "
          f"{'loss':>9} {'acc':>6} {'min eig H':>11} {'max eig H':>10} {'max eig G':>10} "
          f"{'sym':>8} {'hvp-Hv':>8} {'g-fd':>8} {'hv-fd':>8} {'minG':>9} {'|z|min':>7}")
    for (name, sizes, act, loss, bias, n, P, L, acc, lo, hi, ghi, c) in summary:
        print(f"{name:16} {'-'.join(map(str, sizes)):12} {act:8} {loss:14} {str(bias):5} {n:3d} {P:4d} "
              f"{L:9.5f} {acc:6.3f} {lo:11.3e} {hi:10.4f} {ghi:10.4f} "
              f"{c['sym']:8.1e} {c['hvp_vs_Hv']:8.1e} {c['grad_vs_fd']:8.1e} {c['hvp_vs_fd']:8.1e} "
              f"{c['min_eig_g']:9.1e} {c['min_abs_preact']:7.1e}"
              + (f"  closed-form {c['closed_form']:.1e}" if "closed_form" in c else ""))
    worst = {key: max(abs(c[-1][key]) for c in summary)
             for key in ("numpy_forward", "sym", "sym_g", "hvp_vs_Hv", "grad_vs_fd", "hvp_vs_fd")}
    print("worst over fixtures: " + ", ".join(f"{k_} {v_:.1e}" for k_, v_ in worst.items())
          + f", min eig G {min(c[-1]['min_eig_g'] for c in summary):.1e}")
    total = 0
    for dp, _, fs in os.walk(OUT):
        total += sum(os.path.getsize(os.path.join(dp, f)) for f in fs)
    print(f"{len(summary)} fixtures written to {os.path.relpath(OUT, ROOT)} ({total / 1024:.0f} KiB); all checks passed")


if __name__ == "__main__":
    main()
