//! `Vector` and `Matrix`: constructors, arithmetic, indexing.

use crate::script::opts::script_err;
use crate::script::types::Vector;
use rhai::plugin::*;
use rhai::INT;

fn len_of(n: INT, op: &'static str) -> RResult<usize> {
    if !(0..=500_000_000).contains(&n) {
        return script_err(format!(
            "{op}: expected a length between 0 and 500000000, got {n}"
        ));
    }
    crate::mat::check_memory(
        op,
        || format!("a vector of {n} numbers"),
        8.0 * n as f64,
        "use a smaller n",
    )?;
    Ok(n as usize)
}

/// Refuses at once when an array of `n` script values (16 bytes each) would
/// pass the memory budget with what the session holds: `to_array` of a
/// huge Vector must not allocate first and be refused after.
pub(crate) fn array_room(n: usize) -> RResult<()> {
    Ok(crate::mat::check_memory(
        "to_array",
        || format!("an array of {n} values"),
        16.0 * n as f64,
        "index the values instead, or convert a slice",
    )?)
}

/// `n` standard normals from `seed`, drawn in slices of 2²⁰ with an
/// interrupt check between them (2·10⁸ draws take seconds); the stream is
/// the same as one `Rng::normals(n)` call's.
fn normals(n: usize, seed: INT) -> RResult<Vec<f64>> {
    let mut rng = crate::rng::Rng::new(seed as u64);
    let mut v = Vec::new();
    if v.try_reserve_exact(n).is_err() {
        return script_err(format!("randn: cannot allocate {n} numbers"));
    }
    while v.len() < n {
        crate::progress::check_interrupt("randn")?;
        let k = (n - v.len()).min(1 << 20);
        v.extend((0..k).map(|_| rng.normal()));
    }
    Ok(v)
}

fn same_len(op: &str, a: &Vector, b: &Vector) -> RResult<()> {
    if a.0.len() != b.0.len() {
        return script_err(format!(
            "{op}: expected two vectors of the same length, got {} and {}",
            a.0.len(),
            b.0.len()
        ));
    }
    Ok(())
}

type RResult<T> = Result<T, Box<EvalAltResult>>;

/// Vectors and matrices. (script functions)
#[export_module]
pub mod values {
    use super::{len_of, normals, same_len};
    use crate::mat::{self, Mat};
    use crate::script::opts::{as_f64, f64s, script_err, type_name};
    use crate::script::types::{Matrix, Vector};
    use rhai::{Array, Dynamic, INT};

    use super::RResult;

    /// A Vector from an array of numbers.
    ///
    /// Integers are converted to floats. A Vector is a flat f64 vector: the
    /// type of parameters, gradients and directions.
    ///
    /// # Example
    /// ```rhai
    /// let v = vector([1, 2.5, -3]);
    /// print(v.len);   // prints 3
    /// print(v[1]);    // prints 2.5
    /// ```
    #[rhai_fn(return_raw)]
    pub fn vector(a: Array) -> RResult<Vector> {
        match f64s(&Dynamic::from_array(a.clone())) {
            Some(v) => Ok(Vector::new(v)),
            None => {
                let bad = a
                    .iter()
                    .find(|d| as_f64(d).is_none())
                    .map(type_name)
                    .unwrap_or_default();
                script_err(format!(
                    "vector: expected an array of numbers, got an element of type {bad}"
                ))
            }
        }
    }

    /// A Vector of `n` zeros.
    ///
    /// # Example
    /// ```rhai
    /// print(norm(zeros(5)));   // prints 0.0
    /// ```
    #[rhai_fn(return_raw)]
    pub fn zeros(n: INT) -> RResult<Vector> {
        Ok(Vector::new(vec![0.0; len_of(n, "zeros")?]))
    }

    /// A Vector of `n` standard normal numbers drawn from `seed`.
    ///
    /// The same seed always gives the same vector (hlab's own portable
    /// generator, xoshiro256** with Box–Muller).
    ///
    /// # Example
    /// ```rhai
    /// let a = randn(1000, 7);
    /// assert(a == randn(1000, 7), "same seed, same numbers");
    /// assert(abs(norm(a) / sqrt(1000.0) - 1.0) < 0.1, "about unit variance");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn randn(n: INT, seed: INT) -> RResult<Vector> {
        let n = len_of(n, "randn")?;
        Ok(Vector::new(normals(n, seed)?))
    }

    /// A `rows × cols` Matrix of standard normal numbers drawn from `seed`
    /// (row by row from the same stream as `randn(rows * cols, seed)`).
    ///
    /// # Example
    /// ```rhai
    /// let x = randn(3, 2, 7);
    /// print([x.rows, x.cols]);   // prints [3, 2]
    /// assert(x[2][1] == randn(6, 7)[5], "row-major from one stream");
    /// ```
    #[rhai_fn(name = "randn", return_raw)]
    pub fn randn_matrix(rows: INT, cols: INT, seed: INT) -> RResult<Matrix> {
        let r = len_of(rows, "randn")?;
        let c = len_of(cols, "randn")?;
        let Some(n) = r.checked_mul(c) else {
            return script_err(format!(
                "randn: expected a matrix that fits in memory, got {r} × {c}"
            ));
        };
        let n = len_of(n as INT, "randn")?;
        Ok(Matrix::new(Mat::from_vec(r, c, normals(n, seed)?)?))
    }

    /// The length of a Vector.
    ///
    /// # Example
    /// ```rhai
    /// print(zeros(4).len);   // prints 4
    /// ```
    #[rhai_fn(name = "len", get = "len", pure)]
    pub fn vec_len(v: &mut Vector) -> INT {
        v.0.len() as INT
    }

    /// Entry `i` of a Vector (negative `i` counts from the end).
    ///
    /// # Example
    /// ```rhai
    /// let v = vector([1, 2, 3]);
    /// print(v[-1]);   // prints 3.0
    /// ```
    #[rhai_fn(index_get, return_raw, pure)]
    pub fn vec_index(v: &mut Vector, i: INT) -> RResult<f64> {
        let n = v.0.len() as INT;
        let j = if i < 0 { i + n } else { i };
        if j < 0 || j >= n {
            return script_err(format!(
                "vector index: expected an index in 0..{n} (or −{n}..−1), got {i}"
            ));
        }
        Ok(v.0[j as usize])
    }

    /// The dot product Σ aᵢbᵢ of two Vectors of the same length.
    ///
    /// # Example
    /// ```rhai
    /// print(dot(vector([1, 2]), vector([3, 4])));   // prints 11.0
    /// ```
    #[rhai_fn(return_raw)]
    pub fn dot(a: Vector, b: Vector) -> RResult<f64> {
        same_len("dot", &a, &b)?;
        Ok(mat::dot(&a.0, &b.0))
    }

    /// The Euclidean norm of a Vector.
    ///
    /// # Example
    /// ```rhai
    /// print(norm(vector([3, 4])));   // prints 5.0
    /// ```
    pub fn norm(v: Vector) -> f64 {
        mat::norm(&v.0)
    }

    /// The values of a Vector as an array of floats.
    ///
    /// # Example
    /// ```rhai
    /// print(vector([1, 2]).to_array());   // prints [1.0, 2.0]
    /// ```
    #[rhai_fn(name = "to_array", return_raw, pure)]
    pub fn vec_to_array(v: &mut Vector) -> RResult<Array> {
        super::array_room(v.0.len())?;
        Ok(v.0.iter().map(|&x| Dynamic::from_float(x)).collect())
    }

    /// Sum of two Vectors of the same length.
    #[rhai_fn(name = "+", return_raw)]
    pub fn vec_add(a: Vector, b: Vector) -> RResult<Vector> {
        same_len("vector +", &a, &b)?;
        Ok(Vector::new(
            a.0.iter().zip(b.0.iter()).map(|(x, y)| x + y).collect(),
        ))
    }

    /// Difference of two Vectors of the same length.
    #[rhai_fn(name = "-", return_raw)]
    pub fn vec_sub(a: Vector, b: Vector) -> RResult<Vector> {
        same_len("vector -", &a, &b)?;
        Ok(Vector::new(
            a.0.iter().zip(b.0.iter()).map(|(x, y)| x - y).collect(),
        ))
    }

    /// The negated Vector.
    #[rhai_fn(name = "-")]
    pub fn vec_neg(a: Vector) -> Vector {
        Vector::new(a.0.iter().map(|x| -x).collect())
    }

    /// Vector times a number.
    ///
    /// # Example
    /// ```rhai
    /// let v = vector([1, 2]) * 3;
    /// print(v[1]);         // prints 6.0
    /// print((2 * v)[0]);   // prints 6.0
    /// print((v / 2)[1]);   // prints 3.0
    /// ```
    #[rhai_fn(name = "*")]
    pub fn vec_mul_f(a: Vector, s: f64) -> Vector {
        Vector::new(a.0.iter().map(|x| x * s).collect())
    }

    /// Vector times an integer.
    #[rhai_fn(name = "*")]
    pub fn vec_mul_i(a: Vector, s: INT) -> Vector {
        vec_mul_f(a, s as f64)
    }

    /// Number times a Vector.
    #[rhai_fn(name = "*")]
    pub fn f_mul_vec(s: f64, a: Vector) -> Vector {
        vec_mul_f(a, s)
    }

    /// Integer times a Vector.
    #[rhai_fn(name = "*")]
    pub fn i_mul_vec(s: INT, a: Vector) -> Vector {
        vec_mul_f(a, s as f64)
    }

    /// Vector divided by a number.
    #[rhai_fn(name = "/")]
    pub fn vec_div_f(a: Vector, s: f64) -> Vector {
        Vector::new(a.0.iter().map(|x| x / s).collect())
    }

    /// Vector divided by an integer.
    #[rhai_fn(name = "/")]
    pub fn vec_div_i(a: Vector, s: INT) -> Vector {
        vec_div_f(a, s as f64)
    }

    /// A number divided by each entry of a Vector.
    #[rhai_fn(name = "/")]
    pub fn f_div_vec(s: f64, a: Vector) -> Vector {
        Vector::new(a.0.iter().map(|x| s / x).collect())
    }

    /// An integer divided by each entry of a Vector.
    #[rhai_fn(name = "/")]
    pub fn i_div_vec(s: INT, a: Vector) -> Vector {
        f_div_vec(s as f64, a)
    }

    /// True when two Vectors have the same length and entries.
    #[rhai_fn(name = "==")]
    pub fn vec_eq(a: Vector, b: Vector) -> bool {
        a == b
    }

    /// True when two Vectors differ.
    #[rhai_fn(name = "!=")]
    pub fn vec_ne(a: Vector, b: Vector) -> bool {
        a != b
    }

    /// Sum of the entries of a Vector.
    ///
    /// # Example
    /// ```rhai
    /// print(sum(vector([1, 2, 3])));   // prints 6.0
    /// ```
    pub fn sum(v: Vector) -> f64 {
        v.0.iter().sum()
    }

    // ----- Matrix -----

    /// A Matrix from an array of rows (arrays of numbers of equal length).
    ///
    /// # Example
    /// ```rhai
    /// let m = matrix([[1, 2], [3, 4]]);
    /// print(m.rows);      // prints 2
    /// print(m[1][0]);     // prints 3.0
    /// print(m.trace());   // prints 5.0
    /// ```
    #[rhai_fn(return_raw)]
    pub fn matrix(rows: Array) -> RResult<Matrix> {
        let mut out = Vec::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            match f64s(r) {
                Some(v) => out.push(v),
                None => {
                    return script_err(format!(
                        "matrix: expected an array of rows (arrays of numbers), got {} at row {i}",
                        type_name(r)
                    ))
                }
            }
        }
        Ok(Matrix::new(Mat::from_rows(&out)?))
    }

    /// The `n × n` identity Matrix.
    ///
    /// Refuses at once when 8n² bytes and what the session holds exceed the
    /// memory budget (`HLAB_MEMORY_LIMIT`).
    ///
    /// # Example
    /// ```rhai
    /// print(eye(3).trace());   // prints 3.0
    /// ```
    #[rhai_fn(return_raw)]
    pub fn eye(n: INT) -> RResult<Matrix> {
        if n < 0 {
            return script_err(format!("eye: expected n ≥ 0, got {n}"));
        }
        crate::mat::check_memory(
            "eye",
            || format!("a dense {n}×{n} matrix"),
            8.0 * (n as f64) * (n as f64),
            "use a smaller n",
        )?;
        Ok(Matrix::new(Mat::identity(n as usize)))
    }

    /// Number of rows.
    #[rhai_fn(get = "rows", pure)]
    pub fn rows(m: &mut Matrix) -> INT {
        m.0.rows() as INT
    }

    /// Number of columns.
    #[rhai_fn(get = "cols", pure)]
    pub fn cols(m: &mut Matrix) -> INT {
        m.0.cols() as INT
    }

    /// Row `i` of a Matrix as a Vector, so `m[i][j]` is entry (i, j).
    #[rhai_fn(index_get, return_raw, pure)]
    pub fn mat_index(m: &mut Matrix, i: INT) -> RResult<Vector> {
        let r = m.0.rows() as INT;
        let j = if i < 0 { i + r } else { i };
        if j < 0 || j >= r {
            return script_err(format!("matrix index: expected a row in 0..{r}, got {i}"));
        }
        Ok(Vector::new(m.0.row(j as usize).to_vec()))
    }

    /// Entry (i, j) of a Matrix.
    ///
    /// # Example
    /// ```rhai
    /// print(matrix([[1, 2], [3, 4]]).get(0, 1));   // prints 2.0
    /// ```
    #[rhai_fn(return_raw, pure)]
    pub fn get(m: &mut Matrix, i: INT, j: INT) -> RResult<f64> {
        if i < 0 || j < 0 {
            return script_err(format!("get: expected indices ≥ 0, got ({i}, {j})"));
        }
        Ok(m.0.get(i as usize, j as usize)?)
    }

    /// The transpose of a Matrix (a property and a method).
    ///
    /// # Example
    /// ```rhai
    /// print(matrix([[1, 2, 3]]).transpose().rows);   // prints 3
    /// print(matrix([[1, 2, 3]]).transpose.rows);     // prints 3
    /// ```
    #[rhai_fn(name = "transpose", get = "transpose", pure)]
    pub fn transpose(m: &mut Matrix) -> Matrix {
        Matrix::new(m.0.transpose())
    }

    /// The trace (sum of the diagonal) of a square Matrix (a property and a
    /// method).
    ///
    /// # Example
    /// ```rhai
    /// let a = matrix([[1, 2], [3, 4]]);
    /// print([a.trace, a.trace()]);   // prints [5.0, 5.0]
    /// ```
    #[rhai_fn(name = "trace", get = "trace", return_raw, pure)]
    pub fn trace(m: &mut Matrix) -> RResult<f64> {
        Ok(m.0.trace()?)
    }

    /// The rows of a Matrix as an array of arrays.
    ///
    /// # Example
    /// ```rhai
    /// print(eye(2).to_array());   // prints [[1.0, 0.0], [0.0, 1.0]]
    /// ```
    #[rhai_fn(name = "to_array", return_raw, pure)]
    pub fn mat_to_array(m: &mut Matrix) -> RResult<Array> {
        super::array_room(m.0.rows() * (m.0.cols() + 1))?;
        Ok((0..m.0.rows())
            .map(|i| {
                Dynamic::from_array(m.0.row(i).iter().map(|&x| Dynamic::from_float(x)).collect())
            })
            .collect())
    }

    /// Sum of two matrices of the same shape.
    #[rhai_fn(name = "+", return_raw)]
    pub fn mat_add(a: Matrix, b: Matrix) -> RResult<Matrix> {
        Ok(Matrix::new(a.0.add_scaled(&b.0, 1.0, "matrix +")?))
    }

    /// Difference of two matrices of the same shape.
    ///
    /// # Example
    /// ```rhai
    /// let d = eye(2) * 3 - eye(2);
    /// print(d.trace());   // prints 4.0
    /// ```
    #[rhai_fn(name = "-", return_raw)]
    pub fn mat_sub(a: Matrix, b: Matrix) -> RResult<Matrix> {
        let label = if (a.1, b.1) == ("hessian", "gauss_newton") {
            "residual"
        } else {
            "matrix"
        };
        Ok(Matrix::labelled(
            a.0.add_scaled(&b.0, -1.0, "matrix -")?,
            label,
        ))
    }

    /// Matrix times a number.
    #[rhai_fn(name = "*")]
    pub fn mat_mul_f(a: Matrix, s: f64) -> Matrix {
        Matrix::new(a.0.scale(s))
    }

    /// Matrix times an integer.
    #[rhai_fn(name = "*")]
    pub fn mat_mul_i(a: Matrix, s: INT) -> Matrix {
        Matrix::new(a.0.scale(s as f64))
    }

    /// Number times a Matrix.
    #[rhai_fn(name = "*")]
    pub fn f_mul_mat(s: f64, a: Matrix) -> Matrix {
        Matrix::new(a.0.scale(s))
    }

    /// Integer times a Matrix.
    #[rhai_fn(name = "*")]
    pub fn i_mul_mat(s: INT, a: Matrix) -> Matrix {
        Matrix::new(a.0.scale(s as f64))
    }

    /// Matrix divided by a number.
    #[rhai_fn(name = "/")]
    pub fn mat_div_f(a: Matrix, s: f64) -> Matrix {
        Matrix::new(a.0.scale(1.0 / s))
    }

    /// Matrix divided by an integer.
    ///
    /// # Example
    /// ```rhai
    /// let a = matrix([[2, 4], [6, 8]]) / 2;
    /// print(a[1][0]);   // prints 3.0
    /// ```
    #[rhai_fn(name = "/")]
    pub fn mat_div_i(a: Matrix, s: INT) -> Matrix {
        Matrix::new(a.0.scale(1.0 / s as f64))
    }

    /// Matrix times Vector.
    ///
    /// # Example
    /// ```rhai
    /// let y = matrix([[1, 2], [3, 4]]) * vector([1, 1]);
    /// print(y[1]);   // prints 7.0
    /// ```
    #[rhai_fn(name = "*", return_raw)]
    pub fn mat_vec(a: Matrix, v: Vector) -> RResult<Vector> {
        Ok(Vector::new(a.0.matvec(&v.0)?))
    }

    /// Matrix times Matrix.
    #[rhai_fn(name = "*", return_raw)]
    pub fn mat_mat(a: Matrix, b: Matrix) -> RResult<Matrix> {
        let (r, c) = (a.0.rows(), b.0.cols());
        crate::mat::check_memory(
            "matrix *",
            || format!("a {r}×{c} product"),
            8.0 * (r as f64) * (c as f64),
            "multiply by a Vector instead",
        )?;
        Ok(Matrix::new(a.0.matmul(&b.0)?))
    }
}
