//! Vector kernels of the iterative algorithms: `dot`, `norm`, `axpy`, and
//! one classical Gram–Schmidt pass at memory bandwidth (`project_out`),
//! each with a result independent of the thread count.

/// Σ aᵢ bᵢ, summed in eight interleaved partial sums (so the compiler
/// vectorises it; a single running sum is bound by the add latency) that
/// are combined in a fixed order: the same inputs give the same bits.
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut tail = 0.0;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// Work (vector length × count) above which [`project_out`] uses threads.
const PAR_WORK: usize = 1 << 18;

/// Length of the pieces of `w` that [`project_out`] works on: about an
/// eighth of `w` (so both cores get work), between 1,024 and 16,384 values
/// (128 KB: a piece of `w` stays in a core's L2 cache while every basis
/// vector's matching piece streams past it once). It depends on `n` only,
/// never on the thread count.
fn piece_len(n: usize) -> usize {
    n.div_ceil(8).next_multiple_of(64).clamp(1024, 1 << 14)
}

/// Partial dots of the (equal-length) pieces `vs[i][..]` with `w`, four
/// vectors per sweep over `w`: `out[i] = vs[i] · w`, each sum in eight
/// interleaved lanes combined in a fixed order.
fn dots_piece(vs: &[&[f64]], w: &[f64], out: &mut [f64]) {
    let n = w.len();
    let body = n - n % 8;
    let mut i = 0;
    while i + 4 <= vs.len() {
        let (a, b, c, d) = (
            &vs[i][..n],
            &vs[i + 1][..n],
            &vs[i + 2][..n],
            &vs[i + 3][..n],
        );
        let mut acc = [[0.0f64; 8]; 4];
        let rows = w
            .chunks_exact(8)
            .zip(a.chunks_exact(8))
            .zip(b.chunks_exact(8))
            .zip(c.chunks_exact(8))
            .zip(d.chunks_exact(8));
        for ((((x, ra), rb), rc), rd) in rows {
            for l in 0..8 {
                acc[0][l] += ra[l] * x[l];
                acc[1][l] += rb[l] * x[l];
                acc[2][l] += rc[l] * x[l];
                acc[3][l] += rd[l] * x[l];
            }
        }
        for (g, v) in [a, b, c, d].iter().enumerate() {
            let ac = &acc[g];
            let mut tail = 0.0;
            for q in body..n {
                tail += v[q] * w[q];
            }
            out[i + g] =
                ((ac[0] + ac[4]) + (ac[1] + ac[5])) + ((ac[2] + ac[6]) + (ac[3] + ac[7])) + tail;
        }
        i += 4;
    }
    for (o, v) in out[i..].iter_mut().zip(&vs[i..]) {
        *o = dot(v, w);
    }
}

/// `w ← w − Σ cᵢ vᵢ` on equal-length pieces, four vectors per sweep over `w`.
fn update_piece(vs: &[&[f64]], c: &[f64], w: &mut [f64]) {
    let n = w.len();
    let mut i = 0;
    while i + 4 <= vs.len() {
        let (a, b, cc, d) = (
            &vs[i][..n],
            &vs[i + 1][..n],
            &vs[i + 2][..n],
            &vs[i + 3][..n],
        );
        let (ca, cb, ccc, cd) = (c[i], c[i + 1], c[i + 2], c[i + 3]);
        for (q, x) in w.iter_mut().enumerate() {
            *x -= (ca * a[q] + cb * b[q]) + (ccc * cc[q] + cd * d[q]);
        }
        i += 4;
    }
    for (v, &ci) in vs[i..].iter().zip(&c[i..]) {
        axpy(-ci, &v[..n], w);
    }
}

/// One classical Gram–Schmidt pass: `cᵢ = vᵢ · w` for every `vᵢ` in `vs`,
/// then `w ← w − Σ cᵢ vᵢ`; returns `c`. `w` is cut into fixed pieces of
/// 128 KB that stay in cache while the matching pieces of all the `vᵢ`
/// stream past them (four at a time), so each half reads the basis once at
/// memory bandwidth; the pieces run on all cores for large bases. The
/// pieces' partial dots are added in piece order: the result does not
/// depend on the thread count. Call it twice (CGS2) for orthogonality to
/// rounding.
pub fn project_out(vs: &[Vec<f64>], w: &mut [f64]) -> Vec<f64> {
    use rayon::prelude::*;
    let n = w.len();
    let m = vs.len();
    if m == 0 {
        return Vec::new();
    }
    let par = n.saturating_mul(m) >= PAR_WORK;
    let seg = piece_len(n);
    let pieces = n.div_ceil(seg).max(1);
    let slices = |k: usize, len: usize| -> Vec<&[f64]> {
        let off = k * seg;
        vs.iter().map(|v| &v[off..off + len]).collect()
    };
    let mut partial = vec![0.0; pieces * m];
    {
        let wr: &[f64] = w;
        let job = |(k, out): (usize, &mut [f64])| {
            let off = k * seg;
            let len = seg.min(n - off);
            dots_piece(&slices(k, len), &wr[off..off + len], out);
        };
        if par {
            partial.par_chunks_mut(m).enumerate().for_each(job);
        } else {
            partial.chunks_mut(m).enumerate().for_each(job);
        }
    }
    let mut c = vec![0.0; m];
    for row in partial.chunks(m) {
        for (ci, p) in c.iter_mut().zip(row) {
            *ci += p;
        }
    }
    let update = |(k, part): (usize, &mut [f64])| {
        update_piece(&slices(k, part.len()), &c, part);
    };
    if par {
        w.par_chunks_mut(seg).enumerate().for_each(update);
    } else {
        w.chunks_mut(seg).enumerate().for_each(update);
    }
    c
}

/// Euclidean norm.
#[inline]
pub fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// y ← y + a·x.
#[inline]
pub fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_out_is_gram_schmidt_and_independent_of_threads() {
        let mut r = crate::rng::Rng::new(4);
        // Lengths around the piece boundaries, bases not a multiple of four.
        for (n, m) in [(37, 3), (5000, 9), (20_011, 6), (140_003, 5)] {
            let vs: Vec<Vec<f64>> = (0..m).map(|_| r.normals(n)).collect();
            let w0 = r.normals(n);
            let mut w = w0.clone();
            let c = project_out(&vs, &mut w);
            for (i, v) in vs.iter().enumerate() {
                let want = dot(v, &w0);
                assert!((c[i] - want).abs() < 1e-9 * norm(v) * norm(&w0), "{n}");
            }
            let mut want = w0.clone();
            for (v, ci) in vs.iter().zip(&c) {
                axpy(-ci, v, &mut want);
            }
            let err = want
                .iter()
                .zip(&w)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(err < 1e-12 * norm(&w0), "{n}: {err}");
            // The same bits on one thread as on several.
            let one = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap();
            let three = rayon::ThreadPoolBuilder::new()
                .num_threads(3)
                .build()
                .unwrap();
            for pool in [one, three] {
                let mut w2 = w0.clone();
                let c2 = pool.install(|| project_out(&vs, &mut w2));
                assert_eq!(c2, c);
                assert_eq!(w2, w);
            }
        }
        let mut w = vec![1.0, 2.0];
        assert!(project_out(&[], &mut w).is_empty());
        assert_eq!(w, [1.0, 2.0]);
    }
}
