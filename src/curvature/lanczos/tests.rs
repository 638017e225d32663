//! Tests of the Lanczos routines: the one-start solver, then the
//! lockstep tridiagonal runs.

use super::*;
use crate::curvature::{Counted, FnOp};
use crate::linalg::sym_eigvals;
use crate::linalg::testmat::{random_symmetric, with_spectrum};

fn diag(d: &[f64]) -> Mat {
    let n = d.len();
    Mat::from_fn(n, n, |i, j| if i == j { d[i] } else { 0.0 })
}

/// Runs `lanczos_top` and checks values against the dense solver to
/// `atol`, honest residuals against the tolerance, and vectors.
fn check(a: &Mat, o: &LanczosOpts, atol: f64) -> LanczosResult {
    let (all, _) = sym_eigvals(a).unwrap();
    let mut op = a.clone();
    let r = lanczos_top(&mut op, o).unwrap();
    let k = o.k;
    let want: Vec<f64> = match o.which {
        Which::Largest => all[all.len() - k..].to_vec(),
        Which::Smallest => all[..k].to_vec(),
    };
    let got = r.spectrum.values();
    assert_eq!(got.len(), k);
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < atol, "got {got:?}\nwant {want:?}");
    }
    let info = &r.spectrum.info;
    assert_eq!(info.converged, Some(true), "{info:?}");
    assert_eq!(info.residuals.len(), k);
    let top_abs = got.iter().map(|x| x.abs()).fold(0.0_f64, f64::max);
    for (res, th) in info.residuals.iter().zip(got) {
        let scale = if o.rel_to_top {
            top_abs
        } else {
            th.abs().max(1.0)
        };
        assert!(*res <= o.tol * scale, "residual {res} for {th}");
    }
    if let Some(y) = &r.vectors {
        assert_eq!(y.shape(), (a.rows(), k));
        let yty = y.transpose().matmul(y).unwrap();
        for i in 0..k {
            for j in 0..k {
                let w = if i == j { 1.0 } else { 0.0 };
                assert!(
                    (yty.at(i, j) - w).abs() < 1e-8,
                    "YᵀY[{i}][{j}] = {}",
                    yty.at(i, j)
                );
            }
            let ay = a.matvec(&y.col(i)).unwrap();
            let res: f64 = ay
                .iter()
                .zip(y.col(i))
                .map(|(p, q)| (p - got[i] * q).powi(2))
                .sum::<f64>()
                .sqrt();
            assert!(
                (res - info.residuals[i]).abs() < 1e-10,
                "{res} vs {}",
                info.residuals[i]
            );
        }
    }
    r
}

#[test]
fn diagonal_top_and_bottom() {
    let d: Vec<f64> = (0..400)
        .map(|i| ((i * 37) % 400) as f64 / 40.0 - 3.0)
        .collect();
    let a = diag(&d);
    for which in [Which::Largest, Which::Smallest] {
        let o = LanczosOpts {
            k: 6,
            which,
            vectors: true,
            ..LanczosOpts::default()
        };
        let r = check(&a, &o, 1e-8);
        assert!(r.spectrum.info.steps.unwrap() < 400);
    }
}

#[test]
fn rotated_random_spectrum_matches_dense() {
    let a = random_symmetric(300, 7);
    for which in [Which::Largest, Which::Smallest] {
        let o = LanczosOpts {
            k: 10,
            which,
            vectors: true,
            seed: 3,
            ..LanczosOpts::default()
        };
        check(&a, &o, 1e-8);
    }
}

#[test]
fn bulk_at_zero_with_outliers() {
    // 10 outliers from 0.01 to 1 above 290 exact zeros.
    let mut d = vec![0.0; 290];
    d.extend((0..10).map(|i| 0.01 * 100f64.powf(i as f64 / 9.0)));
    let a = with_spectrum(&d, 5);
    let o = LanczosOpts {
        k: 10,
        vectors: true,
        ..LanczosOpts::default()
    };
    let r = check(&a, &o, 1e-8);
    assert!(
        r.spectrum.info.steps.unwrap() <= 30,
        "{:?}",
        r.spectrum.info
    );
    // The smallest end is the 290-fold zero: one start vector sees one
    // zero direction, a block of 4 sees four.
    let o = LanczosOpts {
        k: 4,
        block: 4,
        which: Which::Smallest,
        ..LanczosOpts::default()
    };
    check(&a, &o, 1e-8);
}

#[test]
fn invariant_subspace_restarts_find_repeated_values() {
    // Rank 3: the Krylov space of one vector is invariant after 4 steps
    // (eigenvalues 0, 1, 2, 3); asking for 6 forces random restarts,
    // each of which adds one more zero direction, and the result is
    // accepted only after a restart changes nothing.
    let mut d = vec![0.0; 97];
    d.extend_from_slice(&[1.0, 2.0, 3.0]);
    let a = with_spectrum(&d, 6);
    let o = LanczosOpts {
        k: 6,
        vectors: true,
        ..LanczosOpts::default()
    };
    let r = check(&a, &o, 1e-8);
    assert_eq!(r.spectrum.count_above(0.5), 3);
    let o = LanczosOpts {
        k: 3,
        which: Which::Smallest,
        ..LanczosOpts::default()
    };
    let r = check(&a, &o, 1e-8);
    assert!(r.spectrum.values().iter().all(|x| x.abs() < 1e-8));
}

#[test]
fn clustered_and_repeated_eigenvalues() {
    let mut r = Rng::new(2);
    let mut d: Vec<f64> = (0..250).map(|_| r.uniform_in(-1.0, 1.0)).collect();
    // A tight cluster (distinct values).
    d.extend_from_slice(&[3.0, 3.0 + 1e-6, 3.0 + 2e-6, 2.5]);
    let a = with_spectrum(&d, 8);
    let o = LanczosOpts::new(4);
    check(&a, &o, 1e-8);
    // A triple eigenvalue: a block of 3 starting vectors finds all copies.
    let mut d2: Vec<f64> = (0..250).map(|_| r.uniform_in(-1.0, 1.0)).collect();
    d2.extend_from_slice(&[4.0, 4.0, 4.0, 2.0, -3.0, -3.0]);
    let a2 = with_spectrum(&d2, 9);
    let o = LanczosOpts {
        k: 4,
        block: 3,
        vectors: true,
        ..LanczosOpts::default()
    };
    let res = check(&a2, &o, 1e-8);
    assert_eq!(
        res.spectrum
            .top(3)
            .iter()
            .filter(|x| (*x - 4.0).abs() < 1e-8)
            .count(),
        3
    );
    let o = LanczosOpts {
        k: 2,
        block: 2,
        which: Which::Smallest,
        ..LanczosOpts::default()
    };
    check(&a2, &o, 1e-8);
}

#[test]
fn small_dimension_is_exact() {
    let a = random_symmetric(6, 1);
    let o = LanczosOpts {
        k: 6,
        vectors: true,
        ..LanczosOpts::default()
    };
    let r = check(&a, &o, 1e-10);
    assert_eq!(r.spectrum.info.steps, Some(6));
    let one = Mat::from_rows(&[vec![-2.5]]).unwrap();
    let r = check(&one, &LanczosOpts::new(1), 1e-14);
    assert_eq!(r.spectrum.values(), &[-2.5]);
    // The zero operator.
    let z = Mat::zeros(20, 20);
    let r = check(&z, &LanczosOpts::new(3), 1e-14);
    assert_eq!(r.spectrum.values(), &[0.0, 0.0, 0.0]);
}

#[test]
fn deterministic_and_counts_products() {
    let a = random_symmetric(120, 2);
    let o = LanczosOpts {
        k: 3,
        seed: 42,
        ..LanczosOpts::default()
    };
    let mut op = Counted::new(&a);
    let r1 = lanczos_top(&mut op, &o).unwrap();
    assert_eq!(op.matvecs(), r1.spectrum.info.matvecs);
    // Basis size plus one block product of k for the residuals, at least.
    assert!(r1.spectrum.info.matvecs >= r1.spectrum.info.steps.unwrap() + 3);
    let mut op2 = a.clone();
    let r2 = lanczos_top(&mut op2, &o).unwrap();
    assert_eq!(r1.spectrum.values(), r2.spectrum.values());
    assert_eq!(r1.spectrum.info.residuals, r2.spectrum.info.residuals);
    assert_eq!(r1.spectrum.info.seed, Some(42));
    assert_eq!(r1.spectrum.info.method, "lanczos");
}

#[test]
fn warm_start_from_a_nearby_matrix_is_cheaper_and_as_exact() {
    let mut d: Vec<f64> = (0..300).map(|i| i as f64 / 300.0).collect();
    d.extend_from_slice(&[3.0, 4.0, 5.0]);
    let a = with_spectrum(&d, 4);
    let e = random_symmetric(303, 5);
    let b = Mat::from_fn(303, 303, |i, j| a.at(i, j) + 1e-3 * e.at(i, j));
    let o = LanczosOpts {
        k: 2,
        tol: 1e-6,
        vectors: true,
        rel_to_top: true,
        ..LanczosOpts::default()
    };
    let ra = lanczos_top(&mut a.clone(), &o).unwrap();
    let y = ra.vectors.unwrap();
    let start: Vec<f64> = (0..303).map(|i| y.at(i, 0) + y.at(i, 1)).collect();
    let cold = check(&b, &o, 1e-8);
    let warm = check(
        &b,
        &LanczosOpts {
            start: Some(start),
            ..o.clone()
        },
        1e-8,
    );
    assert!(
        warm.spectrum.info.matvecs < cold.spectrum.info.matvecs,
        "warm {} vs cold {}",
        warm.spectrum.info.matvecs,
        cold.spectrum.info.matvecs
    );
    let bad = LanczosOpts {
        start: Some(vec![0.0; 303]),
        ..o.clone()
    };
    assert!(lanczos_top(&mut b.clone(), &bad).is_err());
    let bad = LanczosOpts {
        start: Some(vec![1.0; 3]),
        ..o
    };
    assert!(lanczos_top(&mut b.clone(), &bad).is_err());
}

#[test]
fn max_iter_reached_is_reported_not_hidden() {
    let a = random_symmetric(400, 3);
    let o = LanczosOpts {
        k: 5,
        max_iter: 12,
        ..LanczosOpts::default()
    };
    let mut op = a.clone();
    let r = lanczos_top(&mut op, &o).unwrap();
    assert_eq!(r.spectrum.info.converged, Some(false));
    assert_eq!(r.spectrum.info.steps, Some(12));
    assert!(r.spectrum.info.residuals.iter().any(|x| *x > 1e-8));
}

#[test]
fn bad_options_and_bad_operators_are_errors() {
    let mut a = random_symmetric(10, 1);
    let e = lanczos_top(&mut a, &LanczosOpts::new(0))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("top_eigs:") && e.contains("k ≥ 1"), "{e}");
    let e = lanczos_top(&mut a, &LanczosOpts::new(11))
        .unwrap_err()
        .to_string();
    assert!(e.contains("k ≤ 10") && e.contains("k = 11"), "{e}");
    let o = LanczosOpts {
        tol: 0.0,
        ..LanczosOpts::new(2)
    };
    assert!(lanczos_top(&mut a, &o).is_err());
    let o = LanczosOpts {
        max_iter: 1,
        ..LanczosOpts::new(2)
    };
    assert!(lanczos_top(&mut a, &o)
        .unwrap_err()
        .to_string()
        .contains("max_iter"));
    let mut nan = FnOp::new(5, |_v: &[f64], out: &mut [f64]| {
        out.fill(f64::NAN);
        Ok(())
    });
    let e = lanczos_top(&mut nan, &LanczosOpts::new(1))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("top_eigs:") && e.contains("NaN"), "{e}");
    let mut rect = Mat::zeros(3, 4);
    assert!(lanczos_top(&mut rect, &LanczosOpts::new(1)).is_err());
    assert!(Which::parse("top").is_err());
}

mod lockstep {
    use super::*;

    #[test]
    fn lockstep_runs_equal_separate_runs() {
        let n = 40;
        let mut r = crate::rng::Rng::new(3);
        let b = Mat::from_fn(n, n, |_, _| r.normal());
        let mut a = b.transpose().matmul(&b).unwrap();
        // A repeated eigenvalue makes one recurrence stop early (invariant subspace).
        let starts: Vec<Vec<f64>> = (0..4).map(|_| r.normals(n)).collect();
        let many = lanczos_tridiagonal_many(&mut a, &starts, 25, "t").unwrap();
        for (s, t) in starts.iter().zip(&many) {
            let one = lanczos_tridiagonal(&mut a, s, 25, "t").unwrap();
            assert_eq!(one.alpha.len(), t.alpha.len());
            for (x, y) in one.alpha.iter().zip(&t.alpha) {
                assert!((x - y).abs() < 1e-9 * x.abs().max(1.0), "{x} vs {y}");
            }
            for (x, y) in one.beta.iter().zip(&t.beta) {
                assert!((x - y).abs() < 1e-9 * x.abs().max(1.0), "{x} vs {y}");
            }
        }
        // Partial reorthogonalisation: outliers above a bulk (the Hessian
        // shape) make plain Lanczos lose orthogonality fast. The tridiagonal
        // still has each outlier once (no spurious copies), at its value,
        // with fewer full passes than steps.
        let mut r2 = crate::rng::Rng::new(5);
        let mut d: Vec<f64> = (0..590).map(|_| r2.uniform_in(-0.01, 0.05)).collect();
        d.extend([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 100.0, 200.0, 400.0]);
        let mut a = crate::linalg::testmat::with_spectrum(&d, 3);
        let t = lanczos_tridiagonal(&mut a, &r2.normals(600), 120, "t").unwrap();
        assert_eq!(t.matvecs, 120);
        assert!(
            t.full_passes > 0 && t.full_passes < 100,
            "{} full passes",
            t.full_passes
        );
        let e = crate::linalg::tridiag_eig(&t.alpha, &t.beta).unwrap();
        for want in &d[590..] {
            let near = e.values.iter().filter(|x| (*x - want).abs() < 1e-3).count();
            assert_eq!(near, 1, "copies of {want}: {:?}", e.values);
            let best = e
                .values
                .iter()
                .map(|x| (x - want).abs())
                .fold(f64::INFINITY, f64::min);
            assert!(best < 1e-10 * 400.0, "{want}: off by {best}");
        }
        let mut small = Mat::identity(3);
        let r = lanczos_tridiagonal_many(&mut small, &[vec![1.0, 1.0, 0.0]], 10, "t").unwrap();
        assert_eq!(r[0].matvecs, 1, "identity: invariant after one step");
    }
}
