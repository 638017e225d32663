//! Curvature: exact Hessian-vector products, dense Hessians and Gauss–Newton
//! matrices, and the iterative spectral algorithms that only need "multiply by
//! the matrix": Lanczos, stochastic Lanczos quadrature, Hutchinson.

pub mod hessian;
pub mod lanczos;
pub mod slq;
pub mod trace;
