//! The dense linear algebra GPTQ needs, on row-major `n × n` `f64` matrices: a Cholesky
//! factor, a triangular inverse and the upper Cholesky factor of an inverse. Every sum runs
//! in a fixed order (rayon splits only independent rows or columns), so results do not
//! depend on the thread count.

use rayon::prelude::*;

/// `Σ a[i]·b[i]` over the common length, with four partial sums in a fixed order.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut s = [0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for t in 0..4 {
            s[t] += x[t] * y[t];
        }
    }
    let tail: f64 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    (s[0] + s[1]) + (s[2] + s[3]) + tail
}

/// Lower triangular `L` with `L Lᵀ = a` (`a` symmetric positive definite), or `None` when a
/// pivot is not positive (the matrix is not numerically positive definite).
pub fn cholesky_lower(a: &[f64], n: usize) -> Option<Vec<f64>> {
    assert_eq!(a.len(), n * n);
    let mut l = vec![0f64; n * n];
    for j in 0..n {
        let d = a[j * n + j] - dot(&l[j * n..j * n + j], &l[j * n..j * n + j]);
        if !(d > 0.0 && d.is_finite()) {
            return None;
        }
        let djj = d.sqrt();
        l[j * n + j] = djj;
        let (head, tail) = l.split_at_mut((j + 1) * n);
        let lj = &head[j * n..j * n + j];
        tail.par_chunks_mut(n).enumerate().for_each(|(r, row)| {
            let i = j + 1 + r;
            row[j] = (a[i * n + j] - dot(&row[..j], lj)) / djj;
        });
    }
    Some(l)
}

/// `(L⁻¹)ᵀ` of a lower triangular `l` with a nonzero diagonal: row `j` of the result is
/// column `j` of `L⁻¹` (forward substitution, one column per task).
pub fn lower_inverse_transposed(l: &[f64], n: usize) -> Vec<f64> {
    let mut mt = vec![0f64; n * n];
    mt.par_chunks_mut(n).enumerate().for_each(|(j, m)| {
        m[j] = 1.0 / l[j * n + j];
        for i in j + 1..n {
            m[i] = -dot(&l[i * n + j..i * n + i], &m[j..i]) / l[i * n + i];
        }
    });
    mt
}

/// Upper triangular `U` with `Uᵀ U = h⁻¹` (`h` symmetric positive definite), or `None` when
/// `h` is not numerically positive definite.
///
/// With `P` the index reversal, `P h P = L Lᵀ` gives `h⁻¹ = (P L⁻ᵀ P)(P L⁻¹ P)`, and
/// `P L⁻¹ P` is upper triangular with a positive diagonal: one Cholesky factorisation and
/// one triangular inverse, no explicit `h⁻¹`.
pub fn upper_cholesky_of_inverse(h: &[f64], n: usize) -> Option<Vec<f64>> {
    let r = |i: usize| n - 1 - i;
    let a: Vec<f64> = (0..n * n).map(|x| h[r(x / n) * n + r(x % n)]).collect();
    let l = cholesky_lower(&a, n)?;
    let mt = lower_inverse_transposed(&l, n);
    // U[a][b] = (L⁻¹)[r(a)][r(b)] = mt[r(b)][r(a)].
    Some((0..n * n).map(|x| mt[r(x % n) * n + r(x / n)]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spd(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed | 1;
        let mut rnd = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % 2001) as f64 / 1000.0 - 1.0
        };
        let x: Vec<f64> = (0..n * (n + 3)).map(|_| rnd()).collect();
        let m = n + 3;
        let mut h = vec![0f64; n * n];
        for i in 0..n {
            for j in 0..n {
                h[i * n + j] = (0..m).map(|t| x[i * m + t] * x[j * m + t]).sum::<f64>();
            }
            h[i * n + i] += 0.1;
        }
        h
    }

    fn matmul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
        let mut c = vec![0f64; n * n];
        for i in 0..n {
            for j in 0..n {
                c[i * n + j] = (0..n).map(|t| a[i * n + t] * b[t * n + j]).sum();
            }
        }
        c
    }

    fn transpose(a: &[f64], n: usize) -> Vec<f64> {
        (0..n * n).map(|x| a[(x % n) * n + x / n]).collect()
    }

    #[test]
    fn dot_matches_plain_sum() {
        let a: Vec<f64> = (0..11).map(|i| i as f64 * 0.5).collect();
        let b: Vec<f64> = (0..11).map(|i| 3.0 - i as f64).collect();
        let want: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - want).abs() < 1e-12);
    }

    #[test]
    fn cholesky_and_inverse_reconstruct() {
        for n in [1, 2, 5, 17] {
            let h = spd(n, n as u64 * 7 + 1);
            let l = cholesky_lower(&h, n).unwrap();
            let back = matmul(&l, &transpose(&l, n), n);
            for (x, y) in back.iter().zip(&h) {
                assert!((x - y).abs() < 1e-9, "n={n}: L Lᵀ {x} vs {y}");
            }
            // H · (Uᵀ U) = I, U upper triangular with a positive diagonal.
            let u = upper_cholesky_of_inverse(&h, n).unwrap();
            for i in 0..n {
                assert!(u[i * n + i] > 0.0);
                for j in 0..i {
                    assert_eq!(u[i * n + j], 0.0, "U not upper at ({i},{j})");
                }
            }
            let hinv = matmul(&transpose(&u, n), &u, n);
            let id = matmul(&h, &hinv, n);
            for i in 0..n {
                for j in 0..n {
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!((id[i * n + j] - want).abs() < 1e-8, "n={n} ({i},{j})");
                }
            }
        }
    }

    #[test]
    fn not_positive_definite_is_refused() {
        let h = vec![1.0, 2.0, 2.0, 1.0];
        assert!(cholesky_lower(&h, 2).is_none());
        assert!(upper_cholesky_of_inverse(&h, 2).is_none());
    }
}
