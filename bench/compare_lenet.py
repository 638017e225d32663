#!/usr/bin/env python3
"""Time JAX and PyTorch on the E4 LeNet, on the weights and data hlab used.

Conv2d(1, 4, 5), ReLU, MaxPool2d(2), Conv2d(4, 8, 5), ReLU, MaxPool2d(2),
Flatten, Linear(128, 10); softmax cross-entropy; N = 1,000 MNIST images;
float64; P = 2,202. Run `hlab run bench/lenet.rhai` first: it writes
bench/data/lenet_{params,x,y,v}.npy (params in parameters_to_vector order).

Weights and data are jit *arguments* (closed-over arrays are constants to
XLA, which can then fold the forward pass out of every HVP). Operations:
loss, gradient, one HVP (jvp of grad), the dense Hessian by the route that
fits in memory (HVPs vmapped over chunks of 64 unit vectors; jax.hessian
whole needs tens of GB for a conv net), and for PyTorch the same with
torch.func. Medians of --repeats (20) for the fast ops, 1 run of the dense
Hessian. Each side's HVP is checked against the other's.

    python bench/compare_lenet.py [--repeats R] [--skip-dense]
"""

import argparse
import os
import statistics
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CHUNK = 64


def timeit(fn, repeats, warmup=1, label=None):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    ms = statistics.median(ts)
    if label:
        print(f"  {label}: {ms:.2f} ms", flush=True)
    return ms


def unflatten(q, shapes, reshape):
    out, off = [], 0
    for s in shapes:
        n = int(np.prod(s))
        out.append(reshape(q[off:off + n], s))
        off += n
    return out


SHAPES = [(4, 1, 5, 5), (4,), (8, 4, 5, 5), (8,), (10, 128), (10,)]


def jax_side(x, y, p, v, repeats, dense):
    import jax
    import jax.numpy as jnp
    from jax import lax

    jax.config.update("jax_enable_x64", True)

    def pool(h):
        return lax.reduce_window(h, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def loss(q, xb, yb):
        w1, b1, w2, b2, w3, b3 = unflatten(q, SHAPES, lambda a, s: a.reshape(s))
        dn = ("NCHW", "OIHW", "NCHW")
        h = lax.conv_general_dilated(xb, w1, (1, 1), "VALID", dimension_numbers=dn) + b1[None, :, None, None]
        h = pool(jnp.maximum(h, 0.0))
        h = lax.conv_general_dilated(h, w2, (1, 1), "VALID", dimension_numbers=dn) + b2[None, :, None, None]
        h = pool(jnp.maximum(h, 0.0))
        f = h.reshape(h.shape[0], -1) @ w3.T + b3
        logp = jax.nn.log_softmax(f, axis=1)
        return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))

    g = jax.grad(loss)
    lossj = jax.jit(loss)
    gradj = jax.jit(g)
    hvp = lambda q, w, xb, yb: jax.jvp(lambda r: g(r, xb, yb), (q,), (w,))[1]
    hvpj = jax.jit(hvp)
    hvps = jax.jit(jax.vmap(hvp, in_axes=(None, 0, None, None)))
    xj = jnp.asarray(x.reshape(-1, 1, 28, 28))
    yj = jnp.asarray(y.astype(np.int64))
    pj, vj = jnp.asarray(p), jnp.asarray(v)
    out = {
        "loss": timeit(lambda: lossj(pj, xj, yj).block_until_ready(), repeats, label="jax loss"),
        "gradient": timeit(lambda: gradj(pj, xj, yj).block_until_ready(), repeats, label="jax gradient"),
        "hvp (one call)": timeit(lambda: hvpj(pj, vj, xj, yj).block_until_ready(), repeats, label="jax hvp"),
    }
    P = p.size
    if dense:
        eye = jnp.eye(P)

        def hessian():
            rows = [hvps(pj, eye[i:i + CHUNK], xj, yj) for i in range(0, P, CHUNK)]
            return jnp.concatenate(rows).block_until_ready()

        t0 = time.perf_counter()
        hvps(pj, eye[:CHUNK], xj, yj).block_until_ready()  # compile the full chunk
        print(f"  jax: first chunk of {CHUNK} HVPs (compile + run) {time.perf_counter() - t0:.1f} s", flush=True)
        t0 = time.perf_counter()
        hvps(pj, eye[:CHUNK], xj, yj).block_until_ready()
        print(f"  jax: one chunk of {CHUNK} HVPs {time.perf_counter() - t0:.1f} s", flush=True)
        hvps(pj, eye[P - P % CHUNK:], xj, yj).block_until_ready()  # and the last one
        out[f"hessian (dense, vmap of {CHUNK} HVPs)"] = timeit(hessian, 1, warmup=0, label="jax hessian")
    return out, float(lossj(pj, xj, yj)), np.asarray(hvpj(pj, vj, xj, yj))


def torch_side(x, y, p, v, repeats, dense):
    import torch
    from torch import nn
    from torch.func import functional_call, grad, jvp, vmap

    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(os.cpu_count() or 1)
    model = nn.Sequential(nn.Conv2d(1, 4, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 8, 5), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(128, 10))
    names = [n for n, _ in model.named_parameters()]
    xt = torch.as_tensor(x.reshape(-1, 1, 28, 28))
    yt = torch.as_tensor(y.astype(np.int64))

    def loss(q):
        ps = unflatten(q, SHAPES, lambda a, s: a.reshape(s))
        return nn.functional.cross_entropy(functional_call(model, dict(zip(names, ps)), (xt,)), yt)

    g = grad(loss)
    hvp = lambda q, w: jvp(g, (q,), (w,))[1]
    pt, vt = torch.as_tensor(p), torch.as_tensor(v)
    out = {
        "loss": timeit(lambda: loss(pt), repeats, label="torch loss"),
        "gradient": timeit(lambda: g(pt), repeats, label="torch gradient"),
        "hvp (one call)": timeit(lambda: hvp(pt, vt), repeats, label="torch hvp"),
    }
    if dense:
        P = p.size
        eye = torch.eye(P)
        hv = vmap(hvp, in_dims=(None, 0))

        def hessian():
            return torch.cat([hv(pt, eye[i:i + CHUNK]) for i in range(0, P, CHUNK)])

        t0 = time.perf_counter()
        hv(pt, eye[:CHUNK])
        print(f"  torch: one chunk of {CHUNK} HVPs {time.perf_counter() - t0:.1f} s", flush=True)
        out[f"hessian (dense, vmap of {CHUNK} HVPs)"] = timeit(hessian, 1, warmup=0, label="torch hessian")
    return out, float(loss(pt)), hvp(pt, vt).numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--skip-dense", action="store_true")
    ap.add_argument("--no-torch", action="store_true")
    args = ap.parse_args()
    d = os.path.join(HERE, "data")
    x, y, p, v = (np.load(os.path.join(d, f"lenet_{k}.npy")) for k in ("x", "y", "params", "v"))
    assert x.shape == (1000, 784) and p.size == 2202, (x.shape, p.shape)
    cols = {}
    jt, jl, jh = jax_side(x, y, p, v, args.repeats, not args.skip_dense)
    cols["jax"] = jt
    line = f"LeNet (P = {p.size}) on MNIST-1K, f64; JAX loss {jl:.12f}; hvp·v {jh @ v:.12f}"
    if not args.no_torch:
        try:
            tt, tl, th = torch_side(x, y, p, v, args.repeats, not args.skip_dense)
            cols["torch"] = tt
            line += f"; torch hvp vs JAX max rel {np.max(np.abs(th - jh)) / np.max(np.abs(jh)):.1e}"
        except ImportError as e:
            print(f"note: PyTorch not importable ({e}); torch column skipped")
    print(line)
    ops = list(jt)
    w = max(len(o) for o in ops)
    print(f"{'op':{w}} | " + " | ".join(f"{c:>10}" for c in cols) + "   (ms, median)")
    for o in ops:
        print(f"{o:{w}} | " + " | ".join(f"{cols[c].get(o, float('nan')):10.2f}" for c in cols))


if __name__ == "__main__":
    main()
