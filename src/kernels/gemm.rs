//! A bounds-checked, safe front to the `gemm` crate (the one burn-flex itself uses).
//!
//! The crate's entry point takes raw pointers and strides. [`sgemm`] checks that every element
//! the product can touch lies inside the slices it was given, then makes the one call. The
//! arithmetic is the crate's; only the strides (which select transposes without copying) are
//! ours.

// The gemm crate's only entry point is an `unsafe fn` over raw pointers; the checks below make
// every access it can perform an in-bounds access of the borrowed slices.
#![allow(unsafe_code)]

/// A row-major or strided view of a matrix: `at(i, j) = data[i * row_stride + j * col_stride]`.
#[derive(Clone, Copy)]
pub struct Mat<'a> {
    /// The elements.
    pub data: &'a [f32],
    /// Step between rows.
    pub row_stride: usize,
    /// Step between columns.
    pub col_stride: usize,
}

impl<'a> Mat<'a> {
    /// A row-major `rows × cols` matrix.
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of a row-major matrix with `cols` columns, without copying.
    pub fn transposed(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            row_stride: 1,
            col_stride: cols,
        }
    }
}

/// How the product lands in `dst`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Accumulate {
    /// `dst = lhs · rhs`.
    Overwrite,
    /// `dst += lhs · rhs`.
    Add,
}

fn last_index(rows: usize, cols: usize, row_stride: usize, col_stride: usize) -> usize {
    (rows - 1) * row_stride + (cols - 1) * col_stride
}

/// `dst[m × n] (=|+=) lhs[m × k] · rhs[k × n]` in f32, with `dst` row-major (`n` columns).
///
/// `threads > 1` lets the gemm crate split the product over rayon's pool; 1 keeps it on the
/// calling thread (the caller is already parallel).
///
/// # Panics
/// When a view is too short for the shape: a bug in the caller, never user input.
pub fn sgemm(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    lhs: Mat<'_>,
    rhs: Mat<'_>,
    accumulate: Accumulate,
    threads: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        dst.len() >= m * n,
        "gemm: dst holds {} < {m}×{n}",
        dst.len()
    );
    if k == 0 {
        if accumulate == Accumulate::Overwrite {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    assert!(
        last_index(m, k, lhs.row_stride, lhs.col_stride) < lhs.data.len(),
        "gemm: lhs too short for {m}×{k}"
    );
    assert!(
        last_index(k, n, rhs.row_stride, rhs.col_stride) < rhs.data.len(),
        "gemm: rhs too short for {k}×{n}"
    );
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above bound every index gemm reads (lhs, rhs) or writes (dst, which
    // is exclusively borrowed) by the slices' lengths; strides are non-negative and fit isize
    // because they index existing slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate == Accumulate::Add,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Vec<f32> {
        let mut c = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    #[test]
    fn products_and_transposes_match_the_definition() {
        let (m, n, k) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        let want = naive(m, n, k, &a, &b);
        let mut c = vec![9.0f32; m * n];
        sgemm(
            (m, n, k),
            &mut c,
            Mat::rows(&a, k),
            Mat::rows(&b, n),
            Accumulate::Overwrite,
            1,
        );
        for (x, y) in c.iter().zip(&want) {
            assert!((x - y).abs() < 1e-5);
        }
        sgemm(
            (m, n, k),
            &mut c,
            Mat::rows(&a, k),
            Mat::rows(&b, n),
            Accumulate::Add,
            2,
        );
        for (x, y) in c.iter().zip(&want) {
            assert!((x - 2.0 * y).abs() < 1e-5);
        }
        // aᵀ stored as [k × m]: reading it transposed gives a again.
        let at: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
        let mut d = vec![0.0f32; m * n];
        sgemm(
            (m, n, k),
            &mut d,
            Mat::transposed(&at, m),
            Mat::rows(&b, n),
            Accumulate::Overwrite,
            1,
        );
        for (x, y) in d.iter().zip(&want) {
            assert!((x - y).abs() < 1e-5);
        }
    }

    #[test]
    #[should_panic(expected = "rhs too short")]
    fn a_short_view_is_refused_before_the_call() {
        let a = vec![1.0f32; 6];
        let b = vec![1.0f32; 5];
        let mut c = vec![0.0f32; 6];
        sgemm(
            (2, 3, 3),
            &mut c,
            Mat::rows(&a, 3),
            Mat::rows(&b, 3),
            Accumulate::Overwrite,
            1,
        );
    }
}
