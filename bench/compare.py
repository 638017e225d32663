#!/usr/bin/env python3
"""Time the reference stacks on the paper's MNIST-1K setup (E3, n = 10).

784-10-10 ReLU MLP, softmax cross-entropy, N = 1000, float64, P = 7960.
Operations: gradient, one HVP (jvp of grad), the dense Hessian
(jax.hessian), all its eigenvalues (numpy.linalg.eigvalsh and
jnp.linalg.eigvalsh), top-20 eigenvalues with scipy.sparse.linalg.eigsh on a
LinearOperator of exact HVPs. PyTorch (torch.func) is timed too when it is
importable; otherwise its column reads "-".

Inputs: bench/data/{x,y,params}.npy when all three exist (written by the
Rust bench, same conventions as tests/fixtures: x N x 784, y labels as f64,
params flat in PyTorch parameters_to_vector order), else seeded random ones
(x ~ U[0,1], labels 0..9, PyTorch nn.Linear-style uniform init).

Every timing excludes compilation (one warm-up call, or ahead-of-time
compilation for the dense ops) and reports the median of several repeats,
in milliseconds: --repeats (10) for loss/gradient/HVP, --dense-repeats (3)
for the dense Hessian and eigsh, --eig-repeats (1) for the full
eigendecompositions (minutes each on 2 cores).

    python bench/compare.py [--json out.json] [--skip-dense] [--repeats R]

--scale (issue 13): the P = 94,218 cluster net (100-256-256-10) and the
P = 1,863,690 MNIST-1K net (784-1024-1024-10) (--cases tiny adds issue 3's
784-10-10, P = 7,960, as a script call), hlab and JAX in one run on
the same weights and data: each round runs `hlab run bench/scale.rhai`
(script calls, as users see them) and then JAX with weights and data as jit
*arguments*; --rounds (3) interleaved rounds, medians, one table.

    python bench/compare.py --scale [--rounds 3] [--cases tiny,small,big] [--hlab target/release/hlab]
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np
import scipy
import scipy.sparse.linalg as sla

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)

HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = [784, 10, 10]
N = 1000
TOP_K = 20


def load_inputs(seed=0):
    d = os.path.join(HERE, "data")
    files = [os.path.join(d, f + ".npy") for f in ("x", "y", "params")]
    if all(os.path.exists(f) for f in files):
        x, y, p = (np.load(f) for f in files)
        return np.asarray(x, np.float64), np.asarray(y).astype(np.int64), np.asarray(p, np.float64), "bench/data"
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, (N, SIZES[0]))
    y = np.arange(N) % SIZES[-1]
    rng.shuffle(y)
    parts = []
    for i, o in zip(SIZES[:-1], SIZES[1:]):
        bound = 1.0 / np.sqrt(i)
        parts.append(rng.uniform(-bound, bound, o * i))  # weight, out x in
        parts.append(rng.uniform(-bound, bound, o))      # bias
    return x, y, np.concatenate(parts), f"random (seed {seed})"


def timeit(fn, repeats, warmup=1):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts)


# --------------------------------------------------------------------- JAX
def jax_ops(x, y, p, sizes):
    xj, yj = jnp.asarray(x), jnp.asarray(y)

    full = mlp_loss(sizes)

    def loss(q):
        return full(q, xj, yj)

    grad = jax.jit(jax.grad(loss))
    hvp = jax.jit(lambda q, v: jax.jvp(jax.grad(loss), (q,), (v,))[1])
    hess = jax.jit(jax.hessian(loss))
    eigh = jax.jit(jnp.linalg.eigvalsh)
    return loss, grad, hvp, hess, eigh


# ----------------------------------------------------------------- PyTorch
def torch_ops(x, y, p, sizes):
    import torch
    from torch.func import grad as tgrad, jvp as tjvp, hessian as thessian

    torch.set_default_dtype(torch.float64)
    xt = torch.as_tensor(x)
    yt = torch.as_tensor(y)

    def loss(q):
        off, h = 0, xt
        nl = len(sizes) - 1
        for li in range(nl):
            i, o = sizes[li], sizes[li + 1]
            w = q[off:off + o * i].reshape(o, i)
            off += o * i
            b = q[off:off + o]
            off += o
            h = h @ w.T + b
            if li < nl - 1:
                h = torch.relu(h)
        return torch.nn.functional.cross_entropy(h, yt)

    g = tgrad(loss)
    hvp = lambda q, v: tjvp(g, (q,), (v,))[1]
    return torch, loss, g, hvp, thessian(loss)


# ------------------------------------------------------------------- scale
SCALE_CASES = {
    "tiny": {"sizes": [784, 10, 10], "top_k": 20, "tol": 1e-8, "what": "MNIST-1K, P = 7,960"},
    "small": {"sizes": [100, 256, 256, 10], "top_k": 20, "tol": 1e-8, "what": "clusters, P = 94,218"},
    "big": {"sizes": [784, 1024, 1024, 10], "top_k": 10, "tol": 1e-6, "what": "MNIST-1K, P = 1,863,690"},
}


def mlp_loss(sizes):
    """The hlab MLP's loss with parameters, inputs and labels all as arguments."""
    def loss(q, xj, yj):
        off, h = 0, xj
        nl = len(sizes) - 1
        for li in range(nl):
            i, o = sizes[li], sizes[li + 1]
            w = q[off:off + o * i].reshape(o, i)
            off += o * i
            b = q[off:off + o]
            off += o
            h = h @ w.T + b
            if li < nl - 1:
                h = jnp.maximum(h, 0.0)
        logp = jax.nn.log_softmax(h, axis=1)
        return -jnp.mean(logp[jnp.arange(h.shape[0]), yj])
    return loss


def jax_scale_round(name, repeats):
    cfg = SCALE_CASES[name]
    d = os.path.join(HERE, "data")
    load = lambda part: np.load(os.path.join(d, f"scale_{name}_{part}.npy"))
    x, y, p, v = load("x"), load("y").astype(np.int64), load("params"), load("v")
    loss = mlp_loss(cfg["sizes"])
    grad = jax.jit(jax.grad(loss))
    hvp = jax.jit(lambda q, w, xj, yj: jax.jvp(lambda r: jax.grad(loss)(r, xj, yj), (q,), (w,))[1])
    pj, vj, xj, yj = (jnp.asarray(a) for a in (p, v, x, y))
    out = {}
    out["hvp"] = timeit(lambda: hvp(pj, vj, xj, yj).block_until_ready(), repeats)
    out["grad"] = timeit(lambda: grad(pj, xj, yj).block_until_ready(), repeats)
    P = p.shape[0]
    count = {"n": 0}

    def mv(w):
        count["n"] += 1
        return np.asarray(hvp(pj, jnp.asarray(w), xj, yj))
    v0 = np.random.default_rng(2).standard_normal(P)
    t0 = time.perf_counter()
    vals = sla.eigsh(sla.LinearOperator((P, P), matvec=mv, dtype=np.float64), k=cfg["top_k"],
                     which="LA", v0=v0, tol=cfg["tol"], return_eigenvectors=False)
    out["top_eigs"] = (time.perf_counter() - t0) * 1e3
    out["top_eigs_hvps"] = count["n"]
    out["lambda1"] = float(np.max(vals))
    if name == "small":
        out["density"] = 900 * out["hvp"]  # the HVPs of 90 steps x 10 probes, nothing else
    return out


def hlab_scale_round(hlab, repeats, which, cached=True):
    """One run of bench/scale.rhai; with cached=False only hvp and grad,
    with the model's cache of passes off (HLAB_CURV_CACHE=0), reported as
    hvp_uncached and grad_uncached."""
    import subprocess
    root = os.path.dirname(HERE)
    cmd = [hlab, "run", os.path.join("bench", "scale.rhai"), "--case", which, "--repeats", str(repeats)]
    env = dict(os.environ)
    if not cached:
        cmd += ["--ops", "fast"]
        env["HLAB_CURV_CACHE"] = "0"
    r = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"hlab failed:\n{r.stderr}")
    out = {name: {} for name in SCALE_CASES}
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            _, case, op, val = line.split()
            out[case][op if cached else op + "_uncached"] = float(val)
    return out


def scale_main(args):
    names = ["small", "big"] if args.cases == "both" else args.cases.split(",")
    for name in names:
        if name not in SCALE_CASES:
            sys.exit(f"--cases: expected both or a comma list of {', '.join(SCALE_CASES)}, got {name}")
    rounds = []
    for i in range(args.rounds):
        h = {}
        for name in names:
            h[name] = hlab_scale_round(args.hlab, args.repeats, name)[name]
            h[name].update(hlab_scale_round(args.hlab, args.repeats, name, cached=False)[name])
        j = {name: jax_scale_round(name, args.repeats) for name in names}
        rounds.append((h, j))
        print(f"round {i + 1}/{args.rounds} done", file=sys.stderr)
    med = lambda xs: statistics.median(xs)
    print(f"scale benchmark, f64, {args.rounds} interleaved rounds (medians); machine {platform.platform()}, "
          f"{os.cpu_count()} CPUs; jax {jax.__version__}; started {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(f"{'case':28} | {'op':14} | {'hlab':>10} | {'jax':>10} | {'hlab/jax':>8}")
    print("-" * 82)
    rows = []
    for name in names:
        cfg = SCALE_CASES[name]
        ops = ["hvp", "hvp_uncached", "grad", "grad_uncached", "top_eigs"] + (["density"] if name == "small" else [])
        for op in ops:
            hv = med([r[0][name][op] for r in rounds])
            jv = med([r[1][name][op.replace("_uncached", "")] for r in rounds])
            unit = "ms"
            print(f"{cfg['what']:28} | {op:14} | {hv:10.1f} | {jv:10.1f} | {hv / jv:8.2f}   ({unit})")
            rows.append({"case": name, "op": op, "hlab_ms": hv, "jax_ms": jv})
        hh = med([r[0][name]["top_eigs_hvps"] for r in rounds])
        jh = med([r[1][name]["top_eigs_hvps"] for r in rounds])
        print(f"{cfg['what']:28} | {'top_eigs HVPs':14} | {hh:10.0f} | {jh:10.0f} |")
    print("jax density = 900 x its median HVP (the products alone); jax top_eigs = scipy eigsh (which='LA') on jitted HVPs")
    print("hlab hvp/grad: script calls in a loop at fixed parameters (the model keeps its forward/backward passes);"
          " *_uncached: the same with HLAB_CURV_CACHE=0 (every call from scratch)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rows": rows, "rounds": args.rounds}, fh, indent=1)
            fh.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", help="write the table as JSON to this path")
    ap.add_argument("--skip-dense", action="store_true", help="skip the dense Hessian and eigen parts")
    ap.add_argument("--repeats", type=int, default=10, help="repeats for the fast ops (default 10)")
    ap.add_argument("--dense-repeats", type=int, default=3, help="repeats for the dense Hessian and eigsh (default 3)")
    ap.add_argument("--eig-repeats", type=int, default=1, help="repeats for the full eigendecompositions (default 1)")
    ap.add_argument("--no-torch", action="store_true", help="do not time PyTorch even if importable")
    ap.add_argument("--scale", action="store_true", help="the P = 94,218 and P = 1.86M cases, hlab and JAX (issue 13)")
    ap.add_argument("--rounds", type=int, default=3, help="--scale: interleaved rounds (default 3)")
    ap.add_argument("--cases", default="both",
                    help="--scale: both (small,big) or a comma list of tiny (P = 7,960), small, big")
    ap.add_argument("--hlab", default=os.path.join(os.path.dirname(HERE), "target", "release", "hlab"),
                    help="--scale: the hlab binary")
    args = ap.parse_args()
    if args.scale:
        return scale_main(args)

    x, y, p, source = load_inputs()
    P = sum(o * i + o for i, o in zip(SIZES[:-1], SIZES[1:]))
    n = x.shape[0]
    assert x.shape == (n, SIZES[0]) and y.shape == (n,) and p.shape == (P,), (x.shape, y.shape, p.shape)
    v = np.random.default_rng(1).standard_normal(P)
    R, RD, RE = args.repeats, args.dense_repeats, args.eig_repeats
    rows = {}  # op -> {"jax": ms, "torch": ms or None}
    notes = []

    def put(op, col, ms):
        rows.setdefault(op, {"jax": None, "torch": None})[col] = ms

    # ---- JAX
    loss, grad, hvp, hess, eigh = jax_ops(x, y, p, SIZES)
    pj, vj = jnp.asarray(p), jnp.asarray(v)
    loss_jit = jax.jit(loss)
    put("loss", "jax", timeit(lambda: loss_jit(pj).block_until_ready(), R))
    put("gradient", "jax", timeit(lambda: grad(pj).block_until_ready(), R))
    put("hvp", "jax", timeit(lambda: hvp(pj, vj).block_until_ready(), R))
    L0 = float(loss(pj))
    hvp_np = lambda w: np.asarray(hvp(pj, jnp.asarray(w)))
    op = sla.LinearOperator((P, P), matvec=hvp_np, dtype=np.float64)
    v0 = np.random.default_rng(2).standard_normal(P)
    count = {"n": 0}

    def top():
        count["n"] = 0

        def mv(w):
            count["n"] += 1
            return hvp_np(w)
        return sla.eigsh(sla.LinearOperator((P, P), matvec=mv, dtype=np.float64),
                         k=TOP_K, which="LA", v0=v0, return_eigenvectors=False)

    if not args.skip_dense:
        # ahead-of-time compilation stands in for the warm-up run, so the
        # slow ops are not run once more just to exclude compile time
        hess_c = hess.lower(pj).compile()
        H = hess_c(pj).block_until_ready()
        put("hessian (dense)", "jax", timeit(lambda: hess_c(pj).block_until_ready(), RD, warmup=0))
        Hn = np.asarray(H)
        ev = np.linalg.eigvalsh(Hn)
        put("eigvalsh numpy", "jax", timeit(lambda: np.linalg.eigvalsh(Hn), RE, warmup=0))
        eigh_c = eigh.lower(H).compile()
        put("eigvalsh jnp", "jax", timeit(lambda: eigh_c(H).block_until_ready(), RE, warmup=0))
    put(f"top-{TOP_K} eigsh (hvp)", "jax", timeit(top, RD))
    top_vals = np.sort(top())[::-1]
    notes.append(f"eigsh used {count['n']} HVPs")

    # ---- PyTorch
    if args.no_torch:
        notes.append("PyTorch skipped (--no-torch)")
    else:
        try:
            torch, tloss, tg, thvp, thess = torch_ops(x, y, p, SIZES)
        except ImportError as e:
            notes.append(f"PyTorch not importable ({e.__class__.__name__}: {e}); torch column skipped")
        else:
            torch.set_num_threads(os.cpu_count() or 1)
            pt, vt = torch.as_tensor(p), torch.as_tensor(v)
            put("loss", "torch", timeit(lambda: tloss(pt), R))
            put("gradient", "torch", timeit(lambda: tg(pt), R))
            put("hvp", "torch", timeit(lambda: thvp(pt, vt), R))
            assert np.allclose(thvp(pt, vt).numpy(), np.asarray(hvp(pj, vj)), rtol=1e-8, atol=1e-12)
            if not args.skip_dense:
                Ht = thess(pt)  # warm-up
                put("hessian (dense)", "torch", timeit(lambda: thess(pt), RD, warmup=0))
                put("eigvalsh torch", "torch", timeit(lambda: torch.linalg.eigvalsh(Ht), RE, warmup=0))
            thvp_np = lambda w: thvp(pt, torch.as_tensor(w)).numpy()
            top_t = lambda: sla.eigsh(sla.LinearOperator((P, P), matvec=thvp_np, dtype=np.float64),
                                      k=TOP_K, which="LA", v0=v0, return_eigenvectors=False)
            put(f"top-{TOP_K} eigsh (hvp)", "torch", timeit(top_t, RD))

    # ---- report
    fmt = lambda ms: "-" if ms is None else f"{ms:.3f}" if ms < 10 else f"{ms:.1f}"
    w = max(len(k) for k in rows)
    print(f"784-10-10 relu, cross_entropy, N={n}, P={P}, f64; inputs: {source}; loss {L0:.6f}")
    print(f"{'op':{w}} | {'jax':>10} | {'torch':>10}   (ms, median)")
    print(f"{'-' * w}-+-{'-' * 10}-+-{'-' * 10}")
    for k, r in rows.items():
        print(f"{k:{w}} | {fmt(r['jax']):>10} | {fmt(r['torch']):>10}")
    if not args.skip_dense:
        print(f"eigenvalues: min {ev[0]:.6e}, max {ev[-1]:.6e}, negative {np.sum(ev < 0)}; "
              f"top-{TOP_K} eigsh vs dense max |diff| {np.max(np.abs(top_vals - ev[::-1][:TOP_K])):.1e}")
    else:
        print(f"top eigenvalue (eigsh): {top_vals[0]:.6e}")
    for n in notes:
        print("note:", n)

    if args.json:
        out = {
            "setup": {"sizes": SIZES, "act": "relu", "loss": "cross_entropy", "n": n,
                      "num_params": P, "dtype": "float64", "inputs": source, "loss_value": L0,
                      "top_k": TOP_K, "repeats": R, "dense_repeats": RD, "eig_repeats": RE},
            "versions": {"python": sys.version.split()[0], "jax": jax.__version__,
                         "numpy": np.__version__, "scipy": scipy.__version__},
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                        "jax_devices": [str(d) for d in jax.devices()]},
            "unit": "ms (median)",
            "rows": [{"op": k, "jax": r["jax"], "torch": r["torch"]} for k, r in rows.items()],
            "notes": notes,
        }
        if "torch" in sys.modules:
            out["versions"]["torch"] = sys.modules["torch"].__version__
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)
            fh.write("\n")


if __name__ == "__main__":
    main()
