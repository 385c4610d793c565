//! 2-D convolution on NCHW f32 buffers: forward, input gradient and weight gradient.
//!
//! Each product is one well-shaped GEMM per image and group (from the `gemm` crate, see
//! [`super::gemm`]); the layout work around it is ours:
//!
//! - forward: `y[n] = W · im2col(x[n])`, written straight into the NCHW output
//!   (`[C_out, K] · [K, P]` with `K = C_in/g · kh · kw`, `P = OH · OW`);
//! - input gradient: `dx[n] = col2im(Wᵀ · dy[n])` (`[K, C_out] · [C_out, P]`, the transpose read
//!   through strides, no copy);
//! - weight gradient: `dW = Σₙ dy[n] · im2col(x[n])ᵀ` (`[C_out, P] · [P, K]`), summed over a
//!   fixed number of image chunks in a fixed order, so it is bit-for-bit reproducible whatever
//!   the thread count or scheduling.
//!
//! A 1×1, stride-1, unpadded convolution skips im2col (the image already is the `[C, P]`
//! matrix). Depthwise convolutions (one input channel per group) take a direct path: a GEMM of
//! one row would cost more to set up than to run.

use rayon::prelude::*;

use super::gemm::{Accumulate, Mat, sgemm};

/// The geometry of one convolution: shapes, stride, padding, dilation and groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvSpec {
    /// Batch size.
    pub batch: usize,
    /// Input channels.
    pub c_in: usize,
    /// Input height and width.
    pub in_hw: [usize; 2],
    /// Output channels.
    pub c_out: usize,
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Stride (rows, columns).
    pub stride: [usize; 2],
    /// Padding before (top, left); the padding after only shows in `out_hw`.
    pub pad: [usize; 2],
    /// Dilation (rows, columns).
    pub dilation: [usize; 2],
    /// Groups: `c_in` and `c_out` are both multiples of it.
    pub groups: usize,
    /// Output height and width.
    pub out_hw: [usize; 2],
    /// A ReLU fused onto the output (`max(y, 0)`, NaN kept, as burn's `relu`): applied per image
    /// while the output is still in cache, and in the backward pass the gradient is masked
    /// where the output is 0 before the convolution's own gradients.
    pub relu: bool,
}

impl ConvSpec {
    /// The geometry of `x[batch, c_in, h, w] ⊛ weight[c_out, c_in/groups, kh, kw]`, with
    /// padding `[(top, bottom), (left, right)]`. `None` when the shapes do not fit together or
    /// the output would be empty.
    pub fn new(
        x: [usize; 4],
        weight: [usize; 4],
        stride: [usize; 2],
        padding: [(usize, usize); 2],
        dilation: [usize; 2],
        groups: usize,
    ) -> Option<Self> {
        let [batch, c_in, h, w] = x;
        let [c_out, c_in_g, kh, kw] = weight;
        if groups == 0
            || c_in % groups != 0
            || c_out % groups != 0
            || c_in / groups != c_in_g
            || stride.contains(&0)
            || dilation.contains(&0)
            || kh == 0
            || kw == 0
        {
            return None;
        }
        let out = |size: usize, (before, after): (usize, usize), k: usize, s: usize, d: usize| {
            let span = d * (k - 1) + 1;
            let padded = size + before + after;
            (padded >= span).then(|| (padded - span) / s + 1)
        };
        let oh = out(h, padding[0], kh, stride[0], dilation[0])?;
        let ow = out(w, padding[1], kw, stride[1], dilation[1])?;
        Some(Self {
            batch,
            c_in,
            in_hw: [h, w],
            c_out,
            kernel: [kh, kw],
            stride,
            pad: [padding[0].0, padding[1].0],
            dilation,
            groups,
            out_hw: [oh, ow],
            relu: false,
        })
    }

    /// The same convolution with a ReLU fused onto its output.
    pub fn with_relu(self) -> Self {
        Self { relu: true, ..self }
    }

    fn c_in_g(&self) -> usize {
        self.c_in / self.groups
    }
    fn c_out_g(&self) -> usize {
        self.c_out / self.groups
    }
    /// Rows of the im2col matrix of one group: `C_in/g · kh · kw`.
    fn k(&self) -> usize {
        self.c_in_g() * self.kernel[0] * self.kernel[1]
    }
    /// Output positions per image: `OH · OW`.
    fn p(&self) -> usize {
        self.out_hw[0] * self.out_hw[1]
    }
    fn in_plane(&self) -> usize {
        self.in_hw[0] * self.in_hw[1]
    }
    /// Elements of `x`.
    pub fn x_len(&self) -> usize {
        self.batch * self.c_in * self.in_plane()
    }
    /// Elements of the weight.
    pub fn weight_len(&self) -> usize {
        self.c_out * self.k()
    }
    /// Elements of `y`.
    pub fn y_len(&self) -> usize {
        self.batch * self.c_out * self.p()
    }
    /// 1×1, stride 1, no padding: the image is its own im2col matrix.
    fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1]
            && self.stride == [1, 1]
            && self.pad == [0, 0]
            && self.out_hw == self.in_hw
    }
    /// One input and one output channel per group.
    /// Stride 1 with output rows as wide as input rows ("same" padding): one kernel tap's valid
    /// rows are a single shifted block of the plane (see [`shifted_block`]).
    fn rows_align(&self) -> bool {
        self.stride == [1, 1] && self.dilation[1] == 1 && self.out_hw[1] == self.in_hw[1]
    }
    fn is_depthwise(&self) -> bool {
        self.groups > 1 && self.c_in_g() == 1 && self.c_out_g() == 1
    }

    /// The output columns `ox` whose input column `ox·s − pad + j·d` lies inside `[0, w)`.
    fn valid_range(&self, axis: usize, tap: usize) -> (usize, usize) {
        let (s, d, pad) = (self.stride[axis], self.dilation[axis], self.pad[axis]);
        let size = self.in_hw[axis];
        let out = self.out_hw[axis];
        let offset = tap * d;
        // first o with o·s + offset >= pad
        let lo = if offset >= pad {
            0
        } else {
            (pad - offset).div_ceil(s)
        };
        // last o with o·s + offset - pad < size
        let hi = if offset >= pad + size {
            0
        } else {
            ((size + pad - offset - 1) / s + 1).min(out)
        };
        (lo.min(hi), hi)
    }
}

/// How many threads the batch loops can use (rayon's pool).
fn threads() -> usize {
    rayon::current_num_threads().max(1)
}

/// Fill `col[K, P]` from one image's channels of one group (`x_g`: `C_in/g` planes).
fn im2col(spec: &ConvSpec, x_g: &[f32], col: &mut [f32]) {
    im2col_with(spec, x_g, col, true)
}

/// [`im2col`], with the one-copy-per-tap path allowed or not (the tests compare the two).
fn im2col_with(spec: &ConvSpec, x_g: &[f32], col: &mut [f32], allow_shifted: bool) {
    let [kh, kw] = spec.kernel;
    let [_, ow] = spec.out_hw;
    let [_, w] = spec.in_hw;
    let plane = spec.in_plane();
    let p = spec.p();
    // One copy per tap instead of one per output row where the rows align.
    let shifted = allow_shifted && spec.rows_align();
    for c in 0..spec.c_in_g() {
        let xc = &x_g[c * plane..(c + 1) * plane];
        for i in 0..kh {
            let (oy_lo, oy_hi) = spec.valid_range(0, i);
            for j in 0..kw {
                let (ox_lo, ox_hi) = spec.valid_range(1, j);
                let row = &mut col[((c * kh + i) * kw + j) * p..][..p];
                row[..oy_lo * ow].fill(0.0);
                row[oy_hi * ow..].fill(0.0);
                if shifted {
                    shifted_rows(spec, xc, row, [i, j], [oy_lo, oy_hi], [ox_lo, ox_hi]);
                    continue;
                }
                for oy in oy_lo..oy_hi {
                    let iy = oy * spec.stride[0] + i * spec.dilation[0] - spec.pad[0];
                    let out = &mut row[oy * ow..(oy + 1) * ow];
                    out[..ox_lo].fill(0.0);
                    out[ox_hi..].fill(0.0);
                    if ox_lo >= ox_hi {
                        continue;
                    }
                    let ix0 = ox_lo * spec.stride[1] + j * spec.dilation[1] - spec.pad[1];
                    let src = &xc[iy * w..(iy + 1) * w];
                    if spec.stride[1] == 1 {
                        out[ox_lo..ox_hi].copy_from_slice(&src[ix0..ix0 + (ox_hi - ox_lo)]);
                    } else {
                        for (o, v) in out[ox_lo..ox_hi].iter_mut().enumerate() {
                            *v = src[ix0 + o * spec.stride[1]];
                        }
                    }
                }
            }
        }
    }
}

/// For a convolution whose rows align ([`ConvSpec::rows_align`]), tap `(i, j)` and its valid
/// rows `oy_lo..oy_hi` of a column row: `row[k]` pairs with `plane[k + δ]`, with
/// `δ = (i·d − pad_top)·w + j − pad_left`. Returns `(first, last, from)`: the elements
/// `first..last` of the block pair with `plane[from..]`; the rest of the block
/// `oy_lo·w..oy_hi·w` (outside the plane) and every column outside `ox_lo..ox_hi` (it wrapped
/// into the neighbouring row) are edge columns.
fn shifted_block(
    spec: &ConvSpec,
    plane: usize,
    [i, j]: [usize; 2],
    [oy_lo, oy_hi]: [usize; 2],
) -> (usize, usize, usize) {
    let w = spec.in_hw[1];
    let delta = (i * spec.dilation[0]) as isize - spec.pad[0] as isize;
    let delta = delta * w as isize + j as isize - spec.pad[1] as isize;
    let (a, b) = (oy_lo * w, oy_hi * w);
    let first = a.max(usize::try_from(-delta).unwrap_or(0)).min(b);
    let last = b
        .min(usize::try_from(plane as isize - delta).unwrap_or(0))
        .max(first);
    // An empty pair points at the plane's start, so that its slice is always in range.
    let from = if first < last {
        first.checked_add_signed(delta).expect("inside the plane")
    } else {
        0
    };
    (first, last, from)
}

/// Zero the columns outside `ox_lo..ox_hi` of rows `oy_lo..oy_hi` (rows `w` wide): strided
/// stores, one edge column at a time (at most the padding wide).
fn clear_edge_columns(
    row: &mut [f32],
    w: usize,
    [oy_lo, oy_hi]: [usize; 2],
    [ox_lo, ox_hi]: [usize; 2],
) {
    for ox in (0..ox_lo).chain(ox_hi..w) {
        for oy in oy_lo..oy_hi {
            row[oy * w + ox] = 0.0;
        }
    }
}

/// One tap's valid rows of `col` where the rows align: one shifted copy of the plane, then the
/// edge columns cleared.
fn shifted_rows(
    spec: &ConvSpec,
    xc: &[f32],
    row: &mut [f32],
    tap: [usize; 2],
    oy: [usize; 2],
    ox: [usize; 2],
) {
    let w = spec.in_hw[1];
    let (a, b) = (oy[0] * w, oy[1] * w);
    if a >= b {
        return;
    }
    let (first, last, from) = shifted_block(spec, xc.len(), tap, oy);
    row[first..last].copy_from_slice(&xc[from..from + (last - first)]);
    row[a..first].fill(0.0);
    row[last..b].fill(0.0);
    clear_edge_columns(row, w, oy, ox);
}

/// The adjoint of [`shifted_rows`]: clear the edge columns of one tap's rows of `row` (they
/// hold gradient for positions outside the image), then `dxc[k + δ] += row[k]` over the whole
/// block in one pass. Every element of `dxc` gets its terms in the same order as the per-row
/// path, plus zeros (so the same values; a −0 may become +0).
fn shifted_add(
    spec: &ConvSpec,
    row: &mut [f32],
    dxc: &mut [f32],
    tap: [usize; 2],
    oy: [usize; 2],
    ox: [usize; 2],
) {
    let w = spec.in_hw[1];
    if oy[0] >= oy[1] {
        return;
    }
    clear_edge_columns(row, w, oy, ox);
    let (first, last, to) = shifted_block(spec, dxc.len(), tap, oy);
    for (d, s) in dxc[to..to + (last - first)]
        .iter_mut()
        .zip(&row[first..last])
    {
        *d += s;
    }
}

/// Add `col[K, P]` back into one image's group planes (`dx_g`), the adjoint of [`im2col`].
/// `col` is scratch: the shifted path clears its edge columns first.
fn col2im_add(spec: &ConvSpec, col: &mut [f32], dx_g: &mut [f32]) {
    col2im_add_with(spec, col, dx_g, true)
}

/// [`col2im_add`], with the one-add-per-tap path allowed or not (the tests compare the two).
fn col2im_add_with(spec: &ConvSpec, col: &mut [f32], dx_g: &mut [f32], allow_shifted: bool) {
    let [kh, kw] = spec.kernel;
    let [_, ow] = spec.out_hw;
    let [_, w] = spec.in_hw;
    let plane = spec.in_plane();
    let p = spec.p();
    let shifted = allow_shifted && spec.rows_align();
    for c in 0..spec.c_in_g() {
        let dxc = &mut dx_g[c * plane..(c + 1) * plane];
        for i in 0..kh {
            let (oy_lo, oy_hi) = spec.valid_range(0, i);
            for j in 0..kw {
                let (ox_lo, ox_hi) = spec.valid_range(1, j);
                if ox_lo >= ox_hi {
                    continue;
                }
                let row = &mut col[((c * kh + i) * kw + j) * p..][..p];
                if shifted {
                    shifted_add(spec, row, dxc, [i, j], [oy_lo, oy_hi], [ox_lo, ox_hi]);
                    continue;
                }
                for oy in oy_lo..oy_hi {
                    let iy = oy * spec.stride[0] + i * spec.dilation[0] - spec.pad[0];
                    let ix0 = ox_lo * spec.stride[1] + j * spec.dilation[1] - spec.pad[1];
                    let src = &row[oy * ow + ox_lo..oy * ow + ox_hi];
                    let dst = &mut dxc[iy * w..(iy + 1) * w];
                    if spec.stride[1] == 1 {
                        for (d, s) in dst[ix0..ix0 + src.len()].iter_mut().zip(src) {
                            *d += s;
                        }
                    } else {
                        for (o, s) in src.iter().enumerate() {
                            dst[ix0 + o * spec.stride[1]] += s;
                        }
                    }
                }
            }
        }
    }
}

/// Run `f(n, out_n, scratch)` for every image, in parallel over images when the batch can
/// fill the threads, else one image at a time with `inner` threads for the GEMM.
fn per_image<F>(spec: &ConvSpec, out: &mut [f32], out_per_image: usize, scratch: usize, f: F)
where
    F: Fn(usize, &mut [f32], &mut Vec<f32>, usize) + Sync,
{
    let t = threads();
    if spec.batch >= t && t > 1 {
        out.par_chunks_mut(out_per_image)
            .enumerate()
            .for_each_init(|| vec![0.0f32; scratch], |buf, (n, o)| f(n, o, buf, 1));
    } else {
        let mut buf = vec![0.0f32; scratch];
        for (n, o) in out.chunks_mut(out_per_image).enumerate() {
            f(n, o, &mut buf, t);
        }
    }
}

/// `y = x ⊛ weight (+ bias)`, NCHW. `x` has [`ConvSpec::x_len`] elements, `weight`
/// [`ConvSpec::weight_len`], `bias` `c_out`.
pub fn forward(spec: &ConvSpec, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    assert_eq!(x.len(), spec.x_len());
    assert_eq!(weight.len(), spec.weight_len());
    let mut y = vec![0.0f32; spec.y_len()];
    if spec.y_len() == 0 {
        return y;
    }
    let (k, p, cig, cog) = (spec.k(), spec.p(), spec.c_in_g(), spec.c_out_g());
    let x_img = spec.c_in * spec.in_plane();
    if let Some(b) = bias {
        assert_eq!(b.len(), spec.c_out);
    }
    if spec.is_depthwise() {
        depthwise_forward(spec, x, weight, &mut y);
        if let Some(b) = bias {
            y.par_chunks_mut(p)
                .enumerate()
                .for_each(|(i, plane)| plane.iter_mut().for_each(|v| *v += b[i % spec.c_out]));
        }
        if spec.relu {
            y.par_chunks_mut(p).for_each(relu_in_place);
        }
    } else {
        let scratch = if spec.is_pointwise() { 0 } else { k * p };
        per_image(
            spec,
            &mut y,
            spec.c_out * p,
            scratch,
            |n, y_n, col, inner| {
                for g in 0..spec.groups {
                    let x_g = &x[n * x_img + g * cig * spec.in_plane()..][..cig * spec.in_plane()];
                    let rhs = if spec.is_pointwise() {
                        x_g
                    } else {
                        im2col(spec, x_g, col);
                        &col[..]
                    };
                    let y_g = &mut y_n[g * cog * p..(g + 1) * cog * p];
                    // The bias goes in first and the product is added onto it: no extra pass.
                    let accumulate = match bias {
                        Some(b) => {
                            for (o, plane) in y_g.chunks_mut(p).enumerate() {
                                plane.fill(b[g * cog + o]);
                            }
                            Accumulate::Add
                        }
                        None => Accumulate::Overwrite,
                    };
                    sgemm(
                        (cog, p, k),
                        y_g,
                        Mat::rows(&weight[g * cog * k..(g + 1) * cog * k], k),
                        Mat::rows(rhs, p),
                        accumulate,
                        inner,
                    );
                }
                if spec.relu {
                    relu_in_place(y_n);
                }
            },
        );
    }
    y
}

/// burn's `relu`, in place: `x` where `x > 0` or NaN, else 0.
fn relu_in_place(y: &mut [f32]) {
    for v in y {
        *v = if v.is_nan() || *v > 0.0 { *v } else { 0.0 };
    }
}

/// burn's `relu_backward`: the gradient `dy` where the ReLU's output `y` is positive or NaN,
/// else 0.
pub fn relu_backward(y: &[f32], dy: &[f32]) -> Vec<f32> {
    let mut out = dy.to_vec();
    relu_backward_in_place(y, &mut out);
    out
}

/// [`relu_backward`] over `dy` itself: no buffer to allocate and clear when the gradient is
/// not shared.
pub fn relu_backward_in_place(y: &[f32], dy: &mut [f32]) {
    assert_eq!(y.len(), dy.len());
    const CHUNK: usize = 16 * 1024;
    dy.par_chunks_mut(CHUNK)
        .zip(y.par_chunks(CHUNK))
        .for_each(|(dy, y)| {
            for (g, &y) in dy.iter_mut().zip(y) {
                *g = if y.is_nan() || y > 0.0 { *g } else { 0.0 };
            }
        });
}

/// `dx` for `y = x ⊛ weight`: the gradient of the loss with respect to the input, given
/// `dy` (the gradient with respect to the output).
pub fn backward_x(spec: &ConvSpec, weight: &[f32], dy: &[f32]) -> Vec<f32> {
    assert_eq!(weight.len(), spec.weight_len());
    assert_eq!(dy.len(), spec.y_len());
    let mut dx = vec![0.0f32; spec.x_len()];
    if spec.x_len() == 0 || spec.y_len() == 0 {
        return dx;
    }
    if spec.is_depthwise() {
        depthwise_backward_x(spec, weight, dy, &mut dx);
        return dx;
    }
    let (k, p, cig, cog) = (spec.k(), spec.p(), spec.c_in_g(), spec.c_out_g());
    let plane = spec.in_plane();
    let scratch = if spec.is_pointwise() { 0 } else { k * p };
    per_image(
        spec,
        &mut dx,
        spec.c_in * plane,
        scratch,
        |n, dx_n, dcol, inner| {
            for g in 0..spec.groups {
                let dy_g = &dy[(n * spec.c_out + g * cog) * p..][..cog * p];
                let w_t = Mat::transposed(&weight[g * cog * k..(g + 1) * cog * k], k);
                let dx_g = &mut dx_n[g * cig * plane..(g + 1) * cig * plane];
                if spec.is_pointwise() {
                    sgemm(
                        (k, p, cog),
                        dx_g,
                        w_t,
                        Mat::rows(dy_g, p),
                        Accumulate::Overwrite,
                        inner,
                    );
                } else {
                    sgemm(
                        (k, p, cog),
                        dcol,
                        w_t,
                        Mat::rows(dy_g, p),
                        Accumulate::Overwrite,
                        inner,
                    );
                    col2im_add(spec, dcol, dx_g);
                }
            }
        },
    );
    dx
}

/// Images per partial sum of the weight gradient: the batch is cut into at most this many
/// chunks, whatever the thread count, and the partial sums are added in chunk order.
const WEIGHT_GRAD_CHUNKS: usize = 8;

/// `dW` for `y = x ⊛ weight`, given `dy`.
pub fn backward_weight(spec: &ConvSpec, x: &[f32], dy: &[f32]) -> Vec<f32> {
    assert_eq!(x.len(), spec.x_len());
    assert_eq!(dy.len(), spec.y_len());
    let len = spec.weight_len();
    if spec.batch == 0 || spec.y_len() == 0 {
        return vec![0.0f32; len];
    }
    if spec.is_depthwise() {
        return depthwise_backward_weight(spec, x, dy);
    }
    let (k, p, cig, cog) = (spec.k(), spec.p(), spec.c_in_g(), spec.c_out_g());
    let plane = spec.in_plane();
    let x_img = spec.c_in * plane;
    let per_chunk = spec.batch.div_ceil(WEIGHT_GRAD_CHUNKS);
    let chunks = spec.batch.div_ceil(per_chunk);
    let t = threads();
    let inner = if chunks >= t { 1 } else { t };
    let partial = |c: usize| {
        let mut acc = vec![0.0f32; len];
        let mut col = vec![0.0f32; if spec.is_pointwise() { 0 } else { k * p }];
        for n in c * per_chunk..((c + 1) * per_chunk).min(spec.batch) {
            for g in 0..spec.groups {
                let x_g = &x[n * x_img + g * cig * plane..][..cig * plane];
                let dy_g = &dy[(n * spec.c_out + g * cog) * p..][..cog * p];
                let col_t = if spec.is_pointwise() {
                    Mat::transposed(x_g, p)
                } else {
                    im2col(spec, x_g, &mut col);
                    Mat::transposed(&col, p)
                };
                sgemm(
                    (cog, k, p),
                    &mut acc[g * cog * k..(g + 1) * cog * k],
                    Mat::rows(dy_g, p),
                    col_t,
                    Accumulate::Add,
                    inner,
                );
            }
        }
        acc
    };
    let partials: Vec<Vec<f32>> = if inner == 1 {
        (0..chunks).into_par_iter().map(partial).collect()
    } else {
        (0..chunks).map(partial).collect()
    };
    let mut it = partials.into_iter();
    let mut dw = it.next().unwrap_or_else(|| vec![0.0f32; len]);
    for part in it {
        dw.iter_mut().zip(&part).for_each(|(a, b)| *a += b);
    }
    dw
}

/// `Σ xs` in a fixed order that vectorises: 16 independent running sums (element `i` goes to
/// lane `i mod 16`), added pairwise at the end. A plain `iter().sum()` is one serial chain of
/// dependent additions, which no compiler may reorder.
pub fn lane_sum(xs: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0.0f32; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (a, v) in acc.iter_mut().zip(chunk) {
            *a += v;
        }
    }
    for (a, v) in acc.iter_mut().zip(tail) {
        *a += v;
    }
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            acc[i] += acc[i + width];
        }
    }
    acc[0]
}

/// `db[o] = Σₙ Σₚ dy[n, o, p]`, summed in a fixed order.
pub fn backward_bias(spec: &ConvSpec, dy: &[f32]) -> Vec<f32> {
    assert_eq!(dy.len(), spec.y_len());
    let p = spec.p();
    (0..spec.c_out)
        .into_par_iter()
        .map(|o| {
            (0..spec.batch)
                .map(|n| lane_sum(&dy[(n * spec.c_out + o) * p..][..p]))
                .sum()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Depthwise: one input and one output channel per group.

/// Visit every (output row range, tap) of one plane: `f(i, j, oy, ox_lo..ox_hi, iy, ix0)`.
fn for_taps(spec: &ConvSpec, mut f: impl FnMut(usize, usize, usize, usize, usize, usize, usize)) {
    let [kh, kw] = spec.kernel;
    for i in 0..kh {
        let (oy_lo, oy_hi) = spec.valid_range(0, i);
        for j in 0..kw {
            let (ox_lo, ox_hi) = spec.valid_range(1, j);
            if ox_lo >= ox_hi {
                continue;
            }
            for oy in oy_lo..oy_hi {
                let iy = oy * spec.stride[0] + i * spec.dilation[0] - spec.pad[0];
                let ix0 = ox_lo * spec.stride[1] + j * spec.dilation[1] - spec.pad[1];
                f(i, j, oy, ox_lo, ox_hi, iy, ix0);
            }
        }
    }
}

fn depthwise_forward(spec: &ConvSpec, x: &[f32], weight: &[f32], y: &mut [f32]) {
    let (p, plane, taps) = (spec.p(), spec.in_plane(), spec.kernel[0] * spec.kernel[1]);
    let [_, ow] = spec.out_hw;
    let [_, w] = spec.in_hw;
    let s = spec.stride[1];
    y.par_chunks_mut(p).enumerate().for_each(|(nc, y_p)| {
        let c = nc % spec.c_out;
        let x_p = &x[nc * plane..(nc + 1) * plane];
        let w_c = &weight[c * taps..(c + 1) * taps];
        for_taps(spec, |i, j, oy, lo, hi, iy, ix0| {
            let wv = w_c[i * spec.kernel[1] + j];
            let src = &x_p[iy * w..(iy + 1) * w];
            let dst = &mut y_p[oy * ow + lo..oy * ow + hi];
            if s == 1 {
                for (d, v) in dst.iter_mut().zip(&src[ix0..]) {
                    *d += wv * v;
                }
            } else {
                for (o, d) in dst.iter_mut().enumerate() {
                    *d += wv * src[ix0 + o * s];
                }
            }
        });
    });
}

fn depthwise_backward_x(spec: &ConvSpec, weight: &[f32], dy: &[f32], dx: &mut [f32]) {
    let (p, plane, taps) = (spec.p(), spec.in_plane(), spec.kernel[0] * spec.kernel[1]);
    let [_, ow] = spec.out_hw;
    let [_, w] = spec.in_hw;
    let s = spec.stride[1];
    dx.par_chunks_mut(plane).enumerate().for_each(|(nc, dx_p)| {
        let c = nc % spec.c_in;
        let dy_p = &dy[nc * p..(nc + 1) * p];
        let w_c = &weight[c * taps..(c + 1) * taps];
        for_taps(spec, |i, j, oy, lo, hi, iy, ix0| {
            let wv = w_c[i * spec.kernel[1] + j];
            let src = &dy_p[oy * ow + lo..oy * ow + hi];
            let dst = &mut dx_p[iy * w..(iy + 1) * w];
            if s == 1 {
                for (d, v) in dst[ix0..].iter_mut().zip(src) {
                    *d += wv * v;
                }
            } else {
                for (o, v) in src.iter().enumerate() {
                    dst[ix0 + o * s] += wv * v;
                }
            }
        });
    });
}

fn depthwise_backward_weight(spec: &ConvSpec, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (p, plane, taps) = (spec.p(), spec.in_plane(), spec.kernel[0] * spec.kernel[1]);
    let [_, ow] = spec.out_hw;
    let [_, w] = spec.in_hw;
    let s = spec.stride[1];
    let mut dw = vec![0.0f32; spec.weight_len()];
    dw.par_chunks_mut(taps).enumerate().for_each(|(c, dw_c)| {
        for n in 0..spec.batch {
            let nc = n * spec.c_in + c;
            let x_p = &x[nc * plane..(nc + 1) * plane];
            let dy_p = &dy[nc * p..(nc + 1) * p];
            for_taps(spec, |i, j, oy, lo, hi, iy, ix0| {
                let src = &x_p[iy * w..(iy + 1) * w];
                let g = &dy_p[oy * ow + lo..oy * ow + hi];
                let mut acc = 0.0f32;
                if s == 1 {
                    for (a, b) in g.iter().zip(&src[ix0..]) {
                        acc += a * b;
                    }
                } else {
                    for (o, a) in g.iter().enumerate() {
                        acc += a * src[ix0 + o * s];
                    }
                }
                dw_c[i * spec.kernel[1] + j] += acc;
            });
        }
    });
    dw
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition, in f64: y[n,o,oy,ox] = Σ w[o,c,i,j] · x[n, g·cig + c, oy·s+i·d−p, …].
    fn reference(spec: &ConvSpec, x: &[f32], w: &[f32]) -> Vec<f64> {
        let (cig, cog) = (spec.c_in_g(), spec.c_out_g());
        let [h, wd] = spec.in_hw;
        let [oh, ow] = spec.out_hw;
        let [kh, kw] = spec.kernel;
        let mut y = vec![0.0f64; spec.y_len()];
        for n in 0..spec.batch {
            for o in 0..spec.c_out {
                let g = o / cog;
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = 0.0f64;
                        for c in 0..cig {
                            for i in 0..kh {
                                for j in 0..kw {
                                    let iy = (oy * spec.stride[0] + i * spec.dilation[0]) as isize
                                        - spec.pad[0] as isize;
                                    let ix = (ox * spec.stride[1] + j * spec.dilation[1]) as isize
                                        - spec.pad[1] as isize;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                        continue;
                                    }
                                    let xi = ((n * spec.c_in + g * cig + c) * h + iy as usize) * wd
                                        + ix as usize;
                                    let wi = ((o * cig + c) * kh + i) * kw + j;
                                    acc += x[xi] as f64 * w[wi] as f64;
                                }
                            }
                        }
                        y[((n * spec.c_out + o) * oh + oy) * ow + ox] = acc;
                    }
                }
            }
        }
        y
    }

    fn values(len: usize, seed: u64) -> Vec<f32> {
        (0..len)
            .map(|i| (((i as u64 * 2654435761 + seed * 97) % 1000) as f32 / 500.0) - 1.0)
            .collect()
    }

    #[test]
    fn one_copy_per_tap_gives_the_rows_and_sums_of_the_general_path() {
        // "Same" geometries (output rows as wide as input rows), symmetric or not, with row
        // dilation, kernels wider than the image, and one non-"same" case that stays general.
        let cases = [
            ([2, 3, 7, 9], [4, 3, 3, 3], [(1, 1), (1, 1)], [1, 1]),
            ([1, 2, 6, 5], [2, 2, 5, 5], [(2, 2), (2, 2)], [1, 1]),
            ([1, 1, 4, 4], [1, 1, 3, 3], [(0, 2), (2, 0)], [1, 1]),
            ([1, 2, 8, 6], [3, 2, 3, 3], [(2, 2), (1, 1)], [2, 1]),
            ([1, 1, 3, 2], [1, 1, 7, 5], [(3, 3), (2, 2)], [1, 1]),
            ([1, 1, 3, 2], [1, 1, 5, 5], [(2, 2), (4, 0)], [1, 1]),
            ([1, 1, 3, 2], [1, 1, 5, 5], [(2, 2), (0, 4)], [1, 1]),
            ([1, 2, 5, 5], [2, 2, 3, 3], [(0, 0), (0, 0)], [1, 1]),
        ];
        for (x_dims, w_dims, padding, dilation) in cases {
            let spec = ConvSpec::new(x_dims, w_dims, [1, 1], padding, dilation, 1).unwrap();
            let x = values(spec.c_in * spec.in_plane(), 5);
            let len = spec.k() * spec.p();
            let (mut fast, mut general) = (vec![f32::NAN; len], vec![f32::NAN; len]);
            im2col_with(&spec, &x, &mut fast, true);
            im2col_with(&spec, &x, &mut general, false);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fast), bits(&general), "{spec:?}");
            // The adjoint: the same sums into the planes (values, not bits: an added +0 may
            // turn a −0 into +0).
            let col = values(len, 9);
            let start = values(spec.c_in * spec.in_plane(), 3);
            let (mut fast, mut general) = (start.clone(), start);
            col2im_add_with(&spec, &mut col.clone(), &mut fast, true);
            col2im_add_with(&spec, &mut col.clone(), &mut general, false);
            assert_eq!(fast, general, "{spec:?}");
        }
    }

    /// The lane sum adds every element once: exact on small integers of every length (tails
    /// included), close to an f64 sum on random values.
    #[test]
    fn lane_sum_adds_every_element_once() {
        for n in [0usize, 1, 15, 16, 17, 33, 784, 1001] {
            let xs: Vec<f32> = (0..n).map(|i| (i % 7) as f32 - 3.0).collect();
            let want: f32 = xs.iter().sum();
            assert_eq!(lane_sum(&xs), want, "n {n}");
            let ys: Vec<f32> = (0..n)
                .map(|i| ((i * 7919) % 1000) as f32 * 1e-3 - 0.5)
                .collect();
            let want: f64 = ys.iter().map(|&v| v as f64).sum();
            assert!((lane_sum(&ys) as f64 - want).abs() < 1e-4, "n {n}");
        }
    }

    fn close(got: &[f32], want: &[f64], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (*g as f64 - w).abs() <= 1e-4 * scale,
                "{what}[{i}]: {g} against {w}"
            );
        }
    }

    /// Gradients by the definition: dx = Σ dy·w over every (output, tap) that read x, dW = Σ dy·x.
    fn reference_grads(spec: &ConvSpec, x: &[f32], w: &[f32], dy: &[f32]) -> (Vec<f64>, Vec<f64>) {
        // L = Σ y·dy is linear in x and in w, so each gradient is L's value at a unit vector.
        let mut dx = vec![0.0f64; x.len()];
        let mut dw = vec![0.0f64; w.len()];
        let dot = |y: &[f64]| y.iter().zip(dy).map(|(a, b)| a * *b as f64).sum::<f64>();
        for i in 0..x.len() {
            let mut e = vec![0.0f32; x.len()];
            e[i] = 1.0;
            dx[i] = dot(&reference(spec, &e, w));
        }
        for i in 0..w.len() {
            let mut e = vec![0.0f32; w.len()];
            e[i] = 1.0;
            dw[i] = dot(&reference(spec, x, &e));
        }
        (dx, dw)
    }

    fn check(spec: ConvSpec) {
        let x = values(spec.x_len(), 1);
        let w = values(spec.weight_len(), 2);
        let dy = values(spec.y_len(), 3);
        close(
            &forward(&spec, &x, &w, None),
            &reference(&spec, &x, &w),
            "y",
        );
        let (dx, dw) = reference_grads(&spec, &x, &w, &dy);
        close(&backward_x(&spec, &w, &dy), &dx, "dx");
        close(&backward_weight(&spec, &x, &dy), &dw, "dw");
        let db: Vec<f64> = (0..spec.c_out)
            .map(|o| {
                (0..spec.batch)
                    .flat_map(|n| dy[(n * spec.c_out + o) * spec.p()..][..spec.p()].iter())
                    .map(|v| *v as f64)
                    .sum()
            })
            .collect();
        close(&backward_bias(&spec, &dy), &db, "db");
    }

    #[test]
    fn shapes_of_the_example_models_match_the_definition() {
        // (x, weight, stride, padding, dilation, groups)
        type Case = ([usize; 4], [usize; 4], usize, usize, usize, usize);
        let cases: &[Case] = &[
            ([3, 1, 8, 8], [4, 1, 3, 3], 1, 1, 1, 1),
            ([2, 3, 7, 6], [5, 3, 5, 5], 1, 2, 1, 1),
            ([2, 4, 9, 9], [6, 4, 3, 3], 2, 1, 1, 1),
            ([1, 4, 6, 6], [8, 4, 1, 1], 1, 0, 1, 1),
            ([3, 4, 7, 7], [8, 4, 1, 1], 2, 0, 1, 1),
            ([2, 6, 8, 7], [6, 1, 3, 3], 1, 1, 1, 6),
            ([2, 6, 9, 9], [6, 1, 3, 3], 2, 1, 1, 6),
            ([2, 4, 6, 6], [6, 2, 3, 3], 1, 1, 1, 2),
            ([1, 2, 9, 9], [3, 2, 3, 3], 1, 2, 2, 1),
            ([1, 3, 11, 11], [2, 3, 7, 7], 2, 3, 1, 1),
        ];
        for &(x, w, s, p, d, g) in cases {
            let spec = ConvSpec::new(x, w, [s, s], [(p, p), (p, p)], [d, d], g).unwrap();
            check(spec);
        }
    }

    #[test]
    fn asymmetric_padding_and_empty_outputs() {
        let spec = ConvSpec::new(
            [1, 2, 5, 6],
            [3, 2, 3, 3],
            [1, 2],
            [(0, 2), (1, 0)],
            [1, 1],
            1,
        )
        .unwrap();
        check(spec);
        assert!(
            ConvSpec::new(
                [1, 1, 2, 2],
                [1, 1, 3, 3],
                [1, 1],
                [(0, 0), (0, 0)],
                [1, 1],
                1
            )
            .is_none()
        );
        assert!(
            ConvSpec::new(
                [1, 3, 4, 4],
                [3, 2, 3, 3],
                [1, 1],
                [(1, 1), (1, 1)],
                [1, 1],
                1
            )
            .is_none()
        );
    }

    #[test]
    fn the_weight_gradient_does_not_depend_on_the_thread_count() {
        let spec = ConvSpec::new(
            [37, 3, 9, 9],
            [5, 3, 3, 3],
            [1, 1],
            [(1, 1), (1, 1)],
            [1, 1],
            1,
        )
        .unwrap();
        let x = values(spec.x_len(), 4);
        let dy = values(spec.y_len(), 5);
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let three = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let a = one.install(|| backward_weight(&spec, &x, &dy));
        let b = three.install(|| backward_weight(&spec, &x, &dy));
        assert_eq!(a, b);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn random_shapes_match_the_definition(
            batch in 1usize..4, cg in 1usize..4, og in 1usize..4, groups in 1usize..3,
            h in 1usize..9, w in 1usize..9, k in prop::sample::select(vec![1usize, 3, 5]),
            s in 1usize..3, p in 0usize..3, d in 1usize..3,
        ) {
            if let Some(spec) = ConvSpec::new(
                [batch, cg * groups, h, w], [og * groups, cg, k, k], [s, s], [(p, p), (p, p)], [d, d], groups,
            ) {
                check(spec);
            }
        }
    }
}
