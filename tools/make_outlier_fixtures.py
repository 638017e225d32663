#!/usr/bin/env python3
"""Reference fixtures for hlab's `gn_gram` and `class_decomposition`
(Papyan's decomposition of the Gauss-Newton matrix), computed the plain way
in PyTorch (float64, torch.func): per-example Jacobians J_i (k x P), the
columns v_{i,c} = J_i^T u_{i,c} of V, the P x P matrices of G and of the
four parts from their definitions, their eigenvalues, and the overlap from
the eigenvectors (mean squared cosine of the principal angles between G's
top-C eigenvectors and the class-means part's range).

Writes tests/fixtures/outliers/<name>/{x,y,params,g,same_class,class_means,
cross_class,within}.npy, overlap.npy and meta.json (the hlab net). Run from
the repository root:

    /work/torchvenv/bin/python tools/make_outlier_fixtures.py

Deterministic: inputs, labels and parameters come from
numpy.random.default_rng(seed); PyTorch only differentiates.

Definitions (API.md, "The outliers' origin"):
  u_{i,c} = sqrt(p_{i,c}) (e_c - p_i)   (softmax cross-entropy)
          = e_c                          (mse)
  G = (1/N) sum_{i,c} v_{i,c} v_{i,c}^T
  delta_{c,c'} = mean over {i : y_i = c} of v_{i,c'},  pi_c = N_c / N
  delta_c = mean over c' != c of delta_{c,c'}
  same_class  = sum_c pi_c delta_{c,c} delta_{c,c}^T
  class_means = sum_c pi_c (C - 1) delta_c delta_c^T
  cross_class = sum_c pi_c sum_{c' != c} (delta_{c,c'} - delta_c)(...)^T
  within      = (1/N) sum_{i,c'} (v_{i,c'} - delta_{y_i,c'})(...)^T
"""

import json
import os

import numpy as np
import torch
import torch.nn as nn
from torch.func import functional_call, jacrev

torch.set_default_dtype(torch.float64)
OUT = os.path.join("tests", "fixtures", "outliers")

CASES = [
    # name, sizes, act, loss, labels (unbalanced), seed
    ("mlp_tanh_ce", [5, 8, 4], "tanh", "cross_entropy", [0, 0, 0, 1, 1, 2, 3, 0, 1, 2, 0, 3, 0, 1, 0, 2, 0, 0, 3, 1], 31),
    ("mlp_relu_mse", [5, 7, 6, 3], "relu", "mse", [0, 1, 2, 0, 1, 2, 0, 0, 1, 0, 2, 0, 0, 1, 0, 0], 32),
]


def build(sizes, act):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes):
            layers.append(nn.Tanh() if act == "tanh" else nn.ReLU())
    return nn.Sequential(*layers)


def main():
    for name, sizes, act, loss, labels, seed in CASES:
        rng = np.random.default_rng(seed)
        y = np.array(labels)
        n, d, k = len(y), sizes[0], sizes[-1]
        x = rng.normal(size=(n, d)) + 1.5 * np.eye(d)[y % d]
        net = build(sizes, act)
        params = {nm: torch.tensor(rng.normal(size=p.shape) * 0.8) for nm, p in net.named_parameters()}
        names = list(params)
        flat = torch.cat([params[nm].reshape(-1) for nm in names])
        xt = torch.tensor(x)

        def f(ps, xi):
            return functional_call(net, ps, (xi.unsqueeze(0),)).squeeze(0)

        rows = []
        for i in range(n):
            jac = jacrev(f)(params, xt[i])  # dict of (k, *shape)
            rows.append(torch.cat([jac[nm].reshape(k, -1) for nm in names], dim=1))
        J = torch.stack(rows)  # (n, k, P)
        out = functional_call(net, params, (xt,))
        if loss == "cross_entropy":
            p = torch.softmax(out, dim=1)
            U = torch.stack([torch.sqrt(p[:, c:c + 1]) * (torch.eye(k)[c] - p) for c in range(k)], dim=1)  # (n, c, k)
        else:
            U = torch.eye(k).expand(n, k, k)
        V = torch.einsum("ick,ikp->icp", U, J)  # v_{i,c} = J_i^T u_{i,c}
        G = torch.einsum("icp,icq->pq", V, V) / n
        # The dense G from its definition (J^T H J), as a check of the identity.
        if loss == "cross_entropy":
            H = torch.diag_embed(p) - p.unsqueeze(2) * p.unsqueeze(1)
        else:
            H = torch.eye(k).expand(n, k, k)
        G2 = torch.einsum("ikp,ikl,ilq->pq", J, H, J) / n
        assert torch.allclose(G, G2, atol=1e-14, rtol=0), (G - G2).abs().max()
        C = k
        counts = np.bincount(y, minlength=C)
        pi = counts / n
        delta = torch.stack([V[y == c].mean(0) for c in range(C)])  # (C, C', P)
        dmean = torch.stack([torch.stack([delta[c, e] for e in range(C) if e != c]).mean(0) for c in range(C)])
        same = sum(pi[c] * torch.outer(delta[c, c], delta[c, c]) for c in range(C))
        means = sum(pi[c] * (C - 1) * torch.outer(dmean[c], dmean[c]) for c in range(C))
        cross = sum(pi[c] * torch.outer(delta[c, e] - dmean[c], delta[c, e] - dmean[c])
                    for c in range(C) for e in range(C) if e != c)
        R = V - delta[torch.tensor(y)]  # v_{i,c'} - delta_{y_i,c'}
        within = torch.einsum("icp,icq->pq", R, R) / n
        err = (same + means + cross + within - G).abs().max().item()
        assert err < 1e-13, err
        # Overlap.
        gv, gq = torch.linalg.eigh(G)
        mv, mq = torch.linalg.eigh(means)
        ug = gq[:, -C:]
        keep = mv > 1e-12 * mv[-1]
        um = mq[:, keep]
        overlap = (ug.T @ um).pow(2).sum().item() / C
        d_ = os.path.join(OUT, name)
        os.makedirs(d_, exist_ok=True)
        np.save(os.path.join(d_, "x.npy"), x)
        np.save(os.path.join(d_, "y.npy"), y.astype(np.float64))
        np.save(os.path.join(d_, "params.npy"), flat.numpy())
        for nm, m in [("g", G), ("same_class", same), ("class_means", means), ("cross_class", cross), ("within", within)]:
            np.save(os.path.join(d_, nm + ".npy"), torch.linalg.eigvalsh(m).numpy())
        np.save(os.path.join(d_, "overlap.npy"), np.array([overlap]))
        hlab = f"mlp({sizes}, #{{ act: \"{act}\", loss: \"{loss}\" }})"
        meta = {"hlab": hlab, "n": n, "classes": C, "num_params": int(flat.numel()),
                "parts_sum_err": err, "seed": seed, "torch": str(net)}
        with open(os.path.join(d_, "meta.json"), "w") as fh:
            json.dump(meta, fh, indent=1)
        print(name, "P =", flat.numel(), "overlap", overlap, "sum err", err)
    with open(os.path.join(OUT, "index.json"), "w") as fh:
        json.dump([c[0] for c in CASES], fh, indent=1)


if __name__ == "__main__":
    main()
