//! Turning images into tensors: seeded shuffling, normalisation, and augmentation.

use super::dataset::ImageDataset;
use crate::vocab::{AugmentConfig, CropBox, Normalize, View};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// A batch ready for a model.
pub struct Batch {
    /// `[n, channels, height, width]`, normalised.
    pub images: Tensor<4>,
    /// `[n]` class indices.
    pub labels: Tensor<1, Int>,
    /// Positions of these samples in their dataset (to look up recorded soft labels).
    pub indices: Vec<usize>,
}

/// The order of the samples in epoch `epoch` (0-based): a shuffle fixed by `seed` and `epoch`,
/// so that a resumed run sees the same order as an uninterrupted one.
pub fn epoch_order(len: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ epoch as u64);
    order.shuffle(&mut rng);
    order
}

/// Writes the normalised pixels of `image` (`channels` planes) into `out`, each channel with its
/// own mean and standard deviation.
pub fn normalize_into(image: &[u8], channels: usize, norm: Normalize, out: &mut [f32]) {
    let plane = image.len() / channels.max(1);
    for c in 0..channels.max(1) {
        let (mean, std) = (norm.mean.get(c), norm.std.get(c));
        let scale = 1.0 / (255.0 * std);
        let shift = mean / std;
        let range = c * plane..(c + 1) * plane;
        for (o, &p) in out[range.clone()].iter_mut().zip(&image[range]) {
            *o = p as f32 * scale - shift;
        }
    }
}

/// Writes the normalised pixels of images `rows` of `data` into `out`, one after the other
/// (`rows.len() × channels × h × w`): what the models see, for runtimes outside distill.
pub fn normalize_rows(
    data: &ImageDataset,
    rows: std::ops::Range<usize>,
    norm: Normalize,
    out: &mut [f32],
) {
    let p = data.pixels();
    for (k, i) in rows.enumerate() {
        normalize_into(
            &data.image(i),
            data.channels,
            norm,
            &mut out[k * p..(k + 1) * p],
        );
    }
}

/// Writes `view` of the `h × w` image `src` (`channels` planes) into `out` (zero where the
/// shift leaves the image); every channel moves the same way.
pub fn apply_view(src: &[u8], channels: usize, h: usize, w: usize, view: View, out: &mut [u8]) {
    let (dy, dx) = (view.dy as i64, view.dx as i64);
    for c in 0..channels {
        let (src, out) = (&src[c * h * w..], &mut out[c * h * w..]);
        for y in 0..h {
            for x in 0..w {
                let sy = y as i64 + dy;
                let sx0 = x as i64 + dx;
                let sx = if view.flip { w as i64 - 1 - sx0 } else { sx0 };
                out[y * w + x] = if sy >= 0 && sy < h as i64 && sx >= 0 && sx < w as i64 {
                    src[sy as usize * w + sx as usize]
                } else {
                    0
                };
            }
        }
    }
}

/// Writes the `crop` of the `h × w` image `src` (`channels` planes), resized back to `h × w`
/// with bilinear interpolation (pixel centres aligned, as torchvision's antialias-free resize),
/// into `out`.
pub fn resized_crop(
    src: &[u8],
    channels: usize,
    h: usize,
    w: usize,
    crop: CropBox,
    out: &mut [u8],
) {
    let sy = crop.height as f32 / h as f32;
    let sx = crop.width as f32 / w as f32;
    for c in 0..channels {
        let plane = &src[c * h * w..(c + 1) * h * w];
        for y in 0..h {
            let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, (crop.height - 1) as f32);
            let y0 = fy.floor() as usize;
            let y1 = (y0 + 1).min(crop.height - 1);
            let ty = fy - y0 as f32;
            for x in 0..w {
                let fx = ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, (crop.width - 1) as f32);
                let x0 = fx.floor() as usize;
                let x1 = (x0 + 1).min(crop.width - 1);
                let tx = fx - x0 as f32;
                let at = |yy: usize, xx: usize| plane[(crop.top + yy) * w + crop.left + xx] as f32;
                let top = at(y0, x0) * (1.0 - tx) + at(y0, x1) * tx;
                let bottom = at(y1, x0) * (1.0 - tx) + at(y1, x1) * tx;
                out[c * h * w + y * w + x] = (top * (1.0 - ty) + bottom * ty).round() as u8;
            }
        }
    }
}

/// Builds the batch of `indices` from `data`. With `augment` and an `rng`, each image is
/// randomly cropped after zero padding and flipped horizontally ([`AugmentConfig::draw`]),
/// after a random resized crop when one is configured.
pub fn make_batch(
    data: &ImageDataset,
    indices: &[usize],
    norm: Normalize,
    augment: Option<(&AugmentConfig, &mut StdRng)>,
    device: &Device,
) -> Batch {
    match augment {
        Some((cfg, rng)) if cfg.is_active() => {
            let mut views: Vec<View> = indices.iter().map(|_| cfg.draw(rng)).collect();
            // The crop boxes are drawn after every shift and flip, in the order of the batch:
            // the same draws as before recorded views could hold a crop.
            if let Some(rrc) = &cfg.random_resized_crop {
                for v in &mut views {
                    v.crop = Some(rrc.draw(data.height, data.width, rng));
                }
            }
            make_batch_views(data, indices, norm, Some(&views), device)
        }
        _ => make_batch_views(data, indices, norm, None, device),
    }
}

/// Builds the batch of `indices` from `data`, each image seen through its `views[k]` when
/// given.
pub fn make_batch_views(
    data: &ImageDataset,
    indices: &[usize],
    norm: Normalize,
    views: Option<&[View]>,
    device: &Device,
) -> Batch {
    let (c, h, w, p) = (data.channels, data.height, data.width, data.pixels());
    let mut pixels = vec![0f32; indices.len() * p];
    let mut scratch = vec![0u8; p];
    let (mut read, mut cropped) = (Vec::new(), Vec::new());
    for (k, &i) in indices.iter().enumerate() {
        let mut src = data.images.image_in(i, p, &mut read);
        let out = &mut pixels[k * p..(k + 1) * p];
        match views {
            Some(v) => {
                // A recorded random resized crop first, then the shift and flip.
                if let Some(crop) = v[k].crop.filter(|b| {
                    b.height > 0 && b.width > 0 && b.top + b.height <= h && b.left + b.width <= w
                }) {
                    cropped.resize(p, 0);
                    resized_crop(src, c, h, w, crop, &mut cropped);
                    src = &cropped;
                }
                apply_view(src, c, h, w, v[k], &mut scratch);
                normalize_into(&scratch, c, norm, out);
            }
            None => normalize_into(src, c, norm, out),
        }
    }
    let n = indices.len();
    let images = Tensor::<4>::from_data(TensorData::new(pixels, [n, c, h, w]), device);
    let labels: Vec<i64> = indices.iter().map(|&i| data.labels[i] as i64).collect();
    let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), device);
    Batch {
        images,
        labels,
        indices: indices.to_vec(),
    }
}

impl crate::classifier::Rows for ImageDataset {
    type Input = Tensor<4>;

    fn len(&self) -> usize {
        self.labels.len()
    }

    fn num_classes(&self) -> usize {
        self.num_classes
    }

    fn labels(&self) -> &[crate::classifier::Label] {
        &self.labels
    }

    fn fingerprint(&self) -> String {
        ImageDataset::fingerprint(self)
    }

    fn inputs(
        &self,
        rows: &[usize],
        augment: Option<(&AugmentConfig, &mut StdRng)>,
        device: &Device,
    ) -> Tensor<4> {
        make_batch(self, rows, self.normalize, augment, device).images
    }

    fn view_inputs(&self, rows: &[usize], views: &[View], device: &Device) -> Option<Tensor<4>> {
        Some(make_batch_views(self, rows, self.normalize, Some(views), device).images)
    }

    fn image_size(&self) -> Option<(usize, usize)> {
        Some((self.height, self.width))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_order_is_a_seeded_permutation() {
        let a = epoch_order(100, 7, 3);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_eq!(a, epoch_order(100, 7, 3));
        assert_ne!(a, epoch_order(100, 7, 4));
        assert_ne!(a, epoch_order(100, 8, 3));
    }

    #[test]
    fn normalisation_matches_formula() {
        let mut out = [0f32; 2];
        normalize_into(&[0, 255], 1, Normalize::scalar(0.5, 0.25), &mut out);
        assert!((out[0] + 2.0).abs() < 1e-6 && (out[1] - 2.0).abs() < 1e-6);
    }

    #[test]
    fn each_channel_has_its_own_normalisation() {
        let norm = Normalize {
            mean: crate::vocab::PerChannel::of(&[0.0, 0.5]).unwrap(),
            std: crate::vocab::PerChannel::of(&[1.0, 0.25]).unwrap(),
        };
        let mut out = [0f32; 4];
        normalize_into(&[0, 255, 0, 255], 2, norm, &mut out);
        let want = [0.0, 1.0, -2.0, 2.0];
        for (o, w) in out.iter().zip(want) {
            assert!((o - w).abs() < 1e-6, "{out:?}");
        }
    }

    #[test]
    fn a_resized_crop_of_the_whole_image_is_the_image_and_a_corner_is_magnified() {
        let src: Vec<u8> = (0..2 * 4 * 4).map(|v| (v * 7) as u8).collect();
        let mut out = vec![0u8; src.len()];
        let whole = CropBox {
            top: 0,
            left: 0,
            height: 4,
            width: 4,
        };
        resized_crop(&src, 2, 4, 4, whole, &mut out);
        assert_eq!(out, src);
        // The 2x2 top-left corner of a constant-per-quadrant image fills the output.
        let mut quad = vec![0u8; 16];
        for y in 0..4 {
            for x in 0..4 {
                quad[y * 4 + x] = if y < 2 && x < 2 { 200 } else { 10 };
            }
        }
        let corner = CropBox {
            top: 0,
            left: 0,
            height: 2,
            width: 2,
        };
        let mut out = vec![0u8; 16];
        resized_crop(&quad, 1, 4, 4, corner, &mut out);
        assert!(out.iter().all(|&v| v == 200), "{out:?}");
    }

    #[test]
    fn random_resized_crops_stay_inside_and_follow_the_seed() {
        use rand::SeedableRng;
        let rrc = crate::vocab::ResizedCrop {
            scale: [0.08, 1.0],
            ratio: [0.75, 4.0 / 3.0],
        };
        let mut a = StdRng::seed_from_u64(5);
        let mut b = StdRng::seed_from_u64(5);
        for _ in 0..500 {
            let (x, y) = (rrc.draw(32, 24, &mut a), rrc.draw(32, 24, &mut b));
            assert_eq!(x, y);
            assert!(x.height >= 1 && x.width >= 1);
            assert!(x.top + x.height <= 32 && x.left + x.width <= 24, "{x:?}");
        }
        // A ratio range the image cannot meet falls back to a centre crop.
        let narrow = crate::vocab::ResizedCrop {
            scale: [1.0, 1.0],
            ratio: [2.0, 2.0],
        };
        let c = narrow.draw(10, 10, &mut a);
        assert_eq!((c.height, c.width, c.top), (5, 10, 2));
    }

    #[test]
    fn a_view_moves_every_channel_alike() {
        // Two 2x3 planes; the second is the first plus 100.
        let src: Vec<u8> = (0..6).chain(100..106).collect();
        let mut out = vec![0u8; 12];
        let view = View {
            dy: 0,
            dx: 1,
            flip: true,
            crop: None,
        };
        apply_view(&src, 2, 2, 3, view, &mut out);
        // output (y, x) reads (y, w - 1 - (x + 1)): columns 1, 0, then padding
        assert_eq!(&out[..6], &[1, 0, 0, 4, 3, 0]);
        assert_eq!(&out[6..], &[101, 100, 0, 104, 103, 0]);
    }
}
