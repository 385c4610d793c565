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
            let take = takes_wide(v, value);
            best = pick(take, idx, best);
            value = pick_f32(take, v, value);
        }
    }
    (best, value)
}

/// The four corners of every 2×2, stride-2 window of one plane, each as a contiguous array in
/// output order (top-left, top-right, bottom-left, bottom-right). Copied out once so that the
/// winner loops below run over contiguous arrays, which the compiler vectorises; walking the
/// windows in place kept a data-dependent compare chain per window (a fifth of the example
/// student's step on an AMD EPYC).
fn corners_2x2(spec: &PoolSpec, plane: &[f32], corners: &mut [Vec<f32>; 4]) {
    let [oh, ow] = spec.out_hw;
    let w = spec.in_hw[1];
    for c in corners.iter_mut() {
        c.resize(oh * ow, 0.0);
    }
    let [q0, q1, q2, q3] = corners;
    for oy in 0..oh {
        let top = &plane[2 * oy * w..][..2 * ow];
        let bottom = &plane[(2 * oy + 1) * w..][..2 * ow];
        let r = oy * ow..(oy + 1) * ow;
        let out = q0[r.clone()]
            .iter_mut()
            .zip(&mut q1[r.clone()])
            .zip(&mut q2[r.clone()])
            .zip(&mut q3[r]);
        for (((((a, b), c), d), t), u) in out.zip(top.chunks_exact(2)).zip(bottom.chunks_exact(2)) {
            (*a, *b, *c, *d) = (t[0], t[1], u[0], u[1]);
        }
    }
}

/// Whether `v` takes the window from the current `value`: larger, or a NaN (so the first
/// largest value wins, and a NaN always wins). No short-circuit, so it vectorises.
#[inline(always)]
fn takes_wide(v: f32, value: f32) -> bool {
    (v > value) | v.is_nan()
}

/// Forward over the corner arrays: `y[j]` is the winner of window `j`, the same as [`winner`].
fn forward_2x2(corners: &[Vec<f32>; 4], y: &mut [f32]) {
    let [a, b, c, d] = corners;
    for ((((y, &a), &b), &c), &d) in y.iter_mut().zip(a).zip(b).zip(c).zip(d) {
        let mut value = a;
        value = if takes_wide(b, value) { b } else { value };
        value = if takes_wide(c, value) { c } else { value };
        value = if takes_wide(d, value) { d } else { value };
        *y = value;
    }
}

/// Which corner (0–3, in window order) wins each window.
fn winners_2x2(corners: &[Vec<f32>; 4], codes: &mut Vec<u8>) {
    let [a, b, c, d] = corners;
    codes.clear();
    codes.extend(a.iter().zip(b).zip(c).zip(d).map(|(((&a, &b), &c), &d)| {
        let (mut value, mut code) = (a, 0u8);
        for (v, k) in [(b, 1u8), (c, 2), (d, 3)] {
            let take = takes_wide(v, value);
            value = if take { v } else { value };
            code = if take { k } else { code };
        }
        code
    }));
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
    let two = spec.is_2x2();
    y.par_chunks_mut(op).enumerate().for_each_init(
        || std::array::from_fn(|_| Vec::new()),
        |corners: &mut [Vec<f32>; 4], (p, y_p)| {
            let plane = &x[p * ip..(p + 1) * ip];
            if two {
                corners_2x2(spec, plane, corners);
                forward_2x2(corners, y_p);
                return;
            }
            let ow = spec.out_hw[1];
            for oy in 0..spec.out_hw[0] {
                for ox in 0..ow {
                    y_p[oy * ow + ox] = winner(spec, plane, oy, ox).1;
                }
            }
        },
    );
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
    let two = spec.is_2x2();
    dx.par_chunks_mut(ip).enumerate().for_each_init(
        || (std::array::from_fn(|_| Vec::new()), Vec::new()),
        |(corners, codes): &mut ([Vec<f32>; 4], Vec<u8>), (p, dx_p)| {
            let plane = &x[p * ip..(p + 1) * ip];
            let dy_p = &dy[p * op..(p + 1) * op];
            let [oh, ow] = spec.out_hw;
            if two {
                corners_2x2(spec, plane, corners);
                winners_2x2(corners, codes);
                let w = spec.in_hw[1];
                for oy in 0..oh {
                    let (top, bottom) = dx_p[2 * oy * w..(2 * oy + 2) * w].split_at_mut(w);
                    let row = oy * ow..(oy + 1) * ow;
                    let windows = top
                        .chunks_exact_mut(2)
                        .zip(bottom.chunks_exact_mut(2))
                        .zip(&codes[row.clone()])
                        .zip(&dy_p[row]);
                    // windows do not overlap: all four inputs of each are written
                    for (((t, b), &code), &g) in windows {
                        t[0] = if code == 0 { g } else { 0.0 };
                        t[1] = if code == 1 { g } else { 0.0 };
                        b[0] = if code == 2 { g } else { 0.0 };
                        b[1] = if code == 3 { g } else { 0.0 };
                    }
                }
                return;
            }
            for oy in 0..oh {
                for ox in 0..ow {
                    let (idx, _) = winner(spec, plane, oy, ox);
                    dx_p[idx] += dy_p[oy * ow + ox];
                }
            }
        },
    );
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
