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

/// Whether `v` takes the window from the current `value`: larger, or a NaN (so the first
/// largest value wins, and a NaN always wins).
#[inline(always)]
fn takes(v: f32, value: f32) -> bool {
    v > value || v.is_nan()
}

/// `a` where `take`, else `b`, without a branch: window winners are data-dependent, and a
/// mispredicted branch per element cost more than the comparison (a third of the example
/// student's step on an AMD EPYC).
#[inline(always)]
fn pick(take: bool, a: usize, b: usize) -> usize {
    let mask = (take as usize).wrapping_neg();
    (a & mask) | (b & !mask)
}

#[inline(always)]
fn pick_f32(take: bool, a: f32, b: f32) -> f32 {
    f32::from_bits(pick(take, a.to_bits() as usize, b.to_bits() as usize) as u32)
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
            let take = takes(v, value);
            best = pick(take, idx, best);
            value = pick_f32(take, v, value);
        }
    }
    (best, value)
}

/// The 2×2 windows every 2 (the usual pooling) of one output row: `f(ox, index, value)` for
/// each window's winner, the same winner as [`winner`], with the window unrolled.
#[inline(always)]
fn row_2x2(spec: &PoolSpec, plane: &[f32], oy: usize, mut f: impl FnMut(usize, usize, f32)) {
    let w = spec.in_hw[1];
    let (r0, r1) = (2 * oy * w, (2 * oy + 1) * w);
    let top = &plane[r0..r0 + 2 * spec.out_hw[1]];
    let bottom = &plane[r1..r1 + 2 * spec.out_hw[1]];
    for (ox, (t, b)) in top.chunks_exact(2).zip(bottom.chunks_exact(2)).enumerate() {
        let x0 = 2 * ox;
        let (mut best, mut value) = (r0 + x0, t[0]);
        for (idx, v) in [(r0 + x0 + 1, t[1]), (r1 + x0, b[0]), (r1 + x0 + 1, b[1])] {
            let take = takes(v, value);
            best = pick(take, idx, best);
            value = pick_f32(take, v, value);
        }
        f(ox, best, value);
    }
}

impl PoolSpec {
    fn is_2x2(&self) -> bool {
        self.kernel == [2, 2] && self.stride == [2, 2]
    }
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
        let ow = spec.out_hw[1];
        for oy in 0..spec.out_hw[0] {
            if spec.is_2x2() {
                row_2x2(spec, plane, oy, |ox, _, v| y_p[oy * ow + ox] = v);
            } else {
                for ox in 0..ow {
                    y_p[oy * ow + ox] = winner(spec, plane, oy, ox).1;
                }
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
        let ow = spec.out_hw[1];
        for oy in 0..spec.out_hw[0] {
            if spec.is_2x2() {
                // windows do not overlap: each input is set at most once
                row_2x2(spec, plane, oy, |ox, idx, _| dx_p[idx] = dy_p[oy * ow + ox]);
            } else {
                for ox in 0..ow {
                    let (idx, _) = winner(spec, plane, oy, ox);
                    dx_p[idx] += dy_p[oy * ow + ox];
                }
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

    /// The unrolled 2×2 path picks the same winners as the general window scan, on data full
    /// of ties and NaNs, on odd sizes (the last row and column dropped).
    #[test]
    fn two_by_two_path_equals_the_general_scan() {
        for (h, w) in [(4, 4), (5, 7), (7, 5), (2, 3)] {
            let spec = PoolSpec::new([2, 3, h, w], [2, 2], [2, 2]).unwrap();
            assert!(spec.is_2x2());
            // values from a small set, so ties are common; every 7th a NaN
            let x: Vec<f32> = (0..spec.x_len())
                .map(|i| match (i * 7919) % 13 {
                    0 => f32::NAN,
                    r => (r % 4) as f32 - 1.5,
                })
                .collect();
            let dy: Vec<f32> = (0..spec.y_len()).map(|i| 1.0 + i as f32).collect();
            let (ip, op) = (spec.in_plane(), spec.out_plane());
            let mut want_y = Vec::new();
            let mut want_dx = vec![0.0f32; spec.x_len()];
            for p in 0..spec.planes {
                let plane = &x[p * ip..(p + 1) * ip];
                for oy in 0..spec.out_hw[0] {
                    for ox in 0..spec.out_hw[1] {
                        let (idx, v) = winner(&spec, plane, oy, ox);
                        want_y.push(v);
                        want_dx[p * ip + idx] += dy[p * op + oy * spec.out_hw[1] + ox];
                    }
                }
            }
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&forward(&spec, &x)), bits(&want_y), "{h}×{w}");
            assert_eq!(bits(&backward(&spec, &x, &dy)), bits(&want_dx), "{h}×{w}");
        }
    }
}
