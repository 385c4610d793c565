//! 2-D max pooling without padding on NCHW f32 buffers: forward, and a backward pass that
//! recomputes each window's winner from the input instead of keeping an index tensor.
//!
//! burn-flex's backward scatters the output gradient through an i32/i64 index tensor into a
//! zeroed input-sized buffer, one element at a time; in the example student's step that was
//! the largest single cost (about a third of the step, `docs/PERFORMANCE.md`). Here each plane
//! is one parallel task that reads its input windows again (they are in cache, next to the
//! gradient it writes). The winner is the one burn and PyTorch pick: the first largest value
//! in row-major window order, a NaN always winning (the last NaN).

use rayon::prelude::*;

/// The geometry of one max pooling (no padding, no dilation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolSpec {
    /// Planes: batch × channels.
    pub planes: usize,
    /// Input height and width.
    pub in_hw: [usize; 2],
    /// Window height and width.
    pub kernel: [usize; 2],
    /// Stride.
    pub stride: [usize; 2],
    /// Output height and width (floor mode).
    pub out_hw: [usize; 2],
}

impl PoolSpec {
    /// The pooling of `x[n, c, h, w]` by `kernel` windows every `stride`, or `None` where the
    /// window does not fit or a size is zero.
    pub fn new(x: [usize; 4], kernel: [usize; 2], stride: [usize; 2]) -> Option<Self> {
        let [n, c, h, w] = x;
        if kernel.contains(&0) || stride.contains(&0) || h < kernel[0] || w < kernel[1] {
            return None;
        }
        Some(Self {
            planes: n * c,
            in_hw: [h, w],
            kernel,
            stride,
            out_hw: [
                (h - kernel[0]) / stride[0] + 1,
                (w - kernel[1]) / stride[1] + 1,
            ],
        })
    }

    fn in_plane(&self) -> usize {
        self.in_hw[0] * self.in_hw[1]
    }
    fn out_plane(&self) -> usize {
        self.out_hw[0] * self.out_hw[1]
    }
    /// Elements of the input.
    pub fn x_len(&self) -> usize {
        self.planes * self.in_plane()
    }
    /// Elements of the output.
    pub fn y_len(&self) -> usize {
        self.planes * self.out_plane()
    }
}

/// The winner of window `(oy, ox)` of one plane: (its index in the plane, its value).
#[inline]
fn winner(spec: &PoolSpec, plane: &[f32], oy: usize, ox: usize) -> (usize, f32) {
    let w = spec.in_hw[1];
    let (y0, x0) = (oy * spec.stride[0], ox * spec.stride[1]);
    let mut best = y0 * w + x0;
    let mut value = plane[best];
    for i in 0..spec.kernel[0] {
        let row = (y0 + i) * w;
        for j in 0..spec.kernel[1] {
            let idx = row + x0 + j;
            let v = plane[idx];
            if v > value || v.is_nan() {
                value = v;
                best = idx;
            }
        }
    }
    (best, value)
}

/// `y[p, oy, ox] = max` of each window.
pub fn forward(spec: &PoolSpec, x: &[f32]) -> Vec<f32> {
    assert_eq!(x.len(), spec.x_len());
    let mut y = vec![0.0f32; spec.y_len()];
    let (ip, op) = (spec.in_plane(), spec.out_plane());
    if op == 0 {
        return y;
    }
    y.par_chunks_mut(op).enumerate().for_each(|(p, y_p)| {
        let plane = &x[p * ip..(p + 1) * ip];
        for oy in 0..spec.out_hw[0] {
            for ox in 0..spec.out_hw[1] {
                y_p[oy * spec.out_hw[1] + ox] = winner(spec, plane, oy, ox).1;
            }
        }
    });
    y
}

/// `dx`: each window's output gradient added at its winner, 0 elsewhere.
pub fn backward(spec: &PoolSpec, x: &[f32], dy: &[f32]) -> Vec<f32> {
    assert_eq!(x.len(), spec.x_len());
    assert_eq!(dy.len(), spec.y_len());
    let mut dx = vec![0.0f32; spec.x_len()];
    let (ip, op) = (spec.in_plane(), spec.out_plane());
    if ip == 0 {
        return dx;
    }
    dx.par_chunks_mut(ip).enumerate().for_each(|(p, dx_p)| {
        let plane = &x[p * ip..(p + 1) * ip];
        let dy_p = &dy[p * op..(p + 1) * op];
        for oy in 0..spec.out_hw[0] {
            for ox in 0..spec.out_hw[1] {
                let (idx, _) = winner(spec, plane, oy, ox);
                dx_p[idx] += dy_p[oy * spec.out_hw[1] + ox];
            }
        }
    });
    dx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_ties_and_overlaps() {
        // one 4×5 plane; 2×2 windows every 2 (the last column is dropped), then 3×3 every 1
        let x: Vec<f32> = vec![
            1., 5., 5., 0., 9., //
            2., 3., 1., 7., 9., //
            0., 0., 4., 4., 9., //
            6., 0., 4., 4., 9., //
        ];
        let spec = PoolSpec::new([1, 1, 4, 5], [2, 2], [2, 2]).unwrap();
        assert_eq!(spec.out_hw, [2, 2]);
        assert_eq!(forward(&spec, &x), vec![5., 7., 6., 4.]);
        // ties go to the first in row-major order: (0,1) for the 5s, (2,2) for the 4s
        let dx = backward(&spec, &x, &[1., 2., 3., 4.]);
        let mut want = vec![0.0f32; 20];
        want[1] = 1.;
        want[8] = 2.;
        want[15] = 3.;
        want[12] = 4.;
        assert_eq!(dx, want);
        let spec = PoolSpec::new([1, 1, 4, 5], [3, 3], [1, 1]).unwrap();
        assert_eq!(forward(&spec, &x), vec![5., 7., 9., 6., 7., 9.]);
        let dx = backward(&spec, &x, &[1.; 6]);
        // 7 at (1,3) wins two windows; each 9 column window goes to its first 9
        let mut want = vec![0.0f32; 20];
        want[1] = 1.;
        want[8] = 2.;
        want[4] = 1.;
        want[15] = 1.;
        want[9] = 1.;
        assert_eq!(dx, want);
        assert!(PoolSpec::new([1, 1, 1, 5], [2, 2], [2, 2]).is_none());
    }
}
