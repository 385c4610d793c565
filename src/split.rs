//! The validation split, the same for every kind of data: seeded and stratified by class, so
//! that model selection (best epoch, the automatic choice of objective, T and α) never looks
//! at the test set and every class is in the validation rows in proportion.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use std::collections::BTreeMap;

/// Splits the rows of `labels` into `(kept, held)` index lists, both sorted: from each class,
/// `round(fraction · n)` rows are held out (at least one when `fraction > 0` and the class has
/// two rows or more, never all of a class when `fraction < 1`), chosen by a shuffle seeded by
/// `seed`. A NaN fraction holds out nothing.
pub fn stratified_split(
    labels: &[crate::classifier::Label],
    fraction: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let fraction = if fraction.is_nan() {
        0.0
    } else {
        fraction.clamp(0.0, 1.0)
    };
    let mut by_class: BTreeMap<crate::classifier::Label, Vec<usize>> = BTreeMap::new();
    for (i, &y) in labels.iter().enumerate() {
        by_class.entry(y).or_default().push(i);
    }
    let mut rng = StdRng::seed_from_u64(seed ^ SPLIT_SALT);
    let mut held = Vec::new();
    for rows in by_class.values_mut() {
        let n = rows.len();
        let mut k = (fraction * n as f64).round() as usize;
        if fraction > 0.0 && n >= 2 {
            k = k.max(1);
        }
        if fraction < 1.0 {
            k = k.min(n - 1);
        }
        rows.shuffle(&mut rng);
        held.extend_from_slice(&rows[..k]);
    }
    held.sort_unstable();
    let mut is_held = vec![false; labels.len()];
    for &i in &held {
        is_held[i] = true;
    }
    let kept = (0..labels.len()).filter(|&i| !is_held[i]).collect();
    (kept, held)
}

/// Salt of the split's shuffle, so that it differs from the batch order's and from a
/// `train_limit` subsample drawn with the same seed.
const SPLIT_SALT: u64 = 0x5e1f_5b17;

/// The default validation fraction of every kind of experiment.
pub fn default_validation_fraction() -> f64 {
    0.1
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn stratified_seeded_and_disjoint() {
        let labels: Vec<u16> = (0..1000).map(|i| (i % 7) as u16).collect();
        let (kept, held) = stratified_split(&labels, 0.1, 3);
        assert_eq!(kept.len() + held.len(), 1000);
        assert!(held.iter().all(|i| kept.binary_search(i).is_err()));
        for c in 0..7u16 {
            let n = labels.iter().filter(|&&y| y == c).count();
            let h = held.iter().filter(|&&i| labels[i] == c).count();
            assert_eq!(h, (0.1 * n as f64).round() as usize, "class {c}");
        }
        assert_eq!(
            stratified_split(&labels, 0.1, 3),
            (kept.clone(), held.clone())
        );
        assert_ne!(stratified_split(&labels, 0.1, 4).1, held);
    }

    proptest! {
        #[test]
        fn never_empties_a_class(labels in proptest::collection::vec(0u16..5, 0..200), f in 0.0f64..0.99, seed: u64) {
            let (kept, held) = stratified_split(&labels, f, seed);
            prop_assert_eq!(kept.len() + held.len(), labels.len());
            for c in 0..5u16 {
                let n = labels.iter().filter(|&&y| y == c).count();
                let k = kept.iter().filter(|&&i| labels[i] == c).count();
                prop_assert!(n == 0 || k >= 1);
            }
        }
    }
}
