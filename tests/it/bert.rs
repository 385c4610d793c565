//! The burn BERT encoder (`distill::text::bert`) against `transformers`: a tiny model's hidden
//! states and pooled vectors (fixture from `python/text/make_tiny_bert.py`), padding
//! invariance, loading errors, freezing, and (ignored unless the weights are present) the real
//! all-MiniLM-L6-v2's sentence embeddings.

use burn::optim::GradientsParams;
use burn::prelude::*;
use distill::error::Error;
use distill::text::bert::{Bert, BertConfig};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/text")
}

fn tiny_dir() -> PathBuf {
    fixtures().join("tiny_bert")
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn rows(v: &serde_json::Value) -> Vec<Vec<i64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_i64().unwrap())
                .collect()
        })
        .collect()
}

/// Right-pads id sequences with 0 to `len` (at least the longest): `(ids, mask)` `[B, len]`.
fn batch(seqs: &[Vec<i64>], len: usize, device: &Device) -> (Tensor<2, Int>, Tensor<2, Int>) {
    let len = len.max(seqs.iter().map(Vec::len).max().unwrap());
    let mut ids = vec![0i64; seqs.len() * len];
    let mut mask = vec![0i64; seqs.len() * len];
    for (r, s) in seqs.iter().enumerate() {
        ids[r * len..r * len + s.len()].copy_from_slice(s);
        mask[r * len..r * len + s.len()].fill(1);
    }
    let tensor =
        |v: Vec<i64>| Tensor::<2, Int>::from_data(TensorData::new(v, [seqs.len(), len]), device);
    (tensor(ids), tensor(mask))
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn load_tiny(device: &Device) -> Bert {
    let config = BertConfig::from_hf_json(&tiny_dir().join("config.json")).unwrap();
    config
        .init(device)
        .load_hf_safetensors(&tiny_dir().join("model.safetensors"))
        .unwrap()
}

/// The sequences of the tiny fixture, without their padding.
fn tiny_sequences(reference: &serde_json::Value) -> Vec<Vec<i64>> {
    let ids = rows(&reference["batch"]["ids"]);
    let mask = rows(&reference["batch"]["mask"]);
    ids.iter()
        .zip(&mask)
        .map(|(i, m)| {
            i.iter()
                .zip(m)
                .filter(|(_, m)| **m == 1)
                .map(|(i, _)| *i)
                .collect()
        })
        .collect()
}

#[test]
fn tiny_bert_matches_transformers() {
    let device = distill::default_device();
    let reference = read_json(&tiny_dir().join("reference.json"));
    let model = load_tiny(&device);
    let seqs = tiny_sequences(&reference);
    let (ids, mask) = batch(&seqs, 0, &device);
    let [b, l] = ids.dims();
    let h = reference["hidden_size"].as_u64().unwrap() as usize;
    assert_eq!(model.hidden_size(), h);

    let hidden = model.forward(ids, mask.clone());
    assert_eq!(hidden.dims(), [b, l, h]);
    let pooled = to_vec(Bert::mean_pool(hidden.clone(), mask));
    let hidden = to_vec(hidden);
    // The reference holds the real positions only, sequence by sequence.
    let ours: Vec<f32> = seqs
        .iter()
        .enumerate()
        .flat_map(|(r, s)| hidden[r * l * h..(r * l + s.len()) * h].to_vec())
        .collect();
    let hidden_diff = max_abs_diff(&ours, &floats(&reference["hidden"]));
    let pooled_diff = max_abs_diff(&pooled, &floats(&reference["pooled"]));
    eprintln!(
        "tiny BERT vs transformers: last hidden state max|diff| = {hidden_diff:.3e}, mean-pooled max|diff| = {pooled_diff:.3e}"
    );
    assert!(hidden_diff < 1e-4, "hidden states differ by {hidden_diff}");
    assert!(pooled_diff < 1e-4, "pooled vectors differ by {pooled_diff}");
}

#[test]
fn padding_does_not_change_the_pooled_vector() {
    let device = distill::default_device();
    let reference = read_json(&tiny_dir().join("reference.json"));
    let model = load_tiny(&device);
    let seqs = tiny_sequences(&reference);
    let h = model.hidden_size();
    // All together, padded further than needed (to 13 positions).
    let (ids, mask) = batch(&seqs, 13, &device);
    let together = to_vec(model.embed(ids, mask));
    let mut worst = 0.0f32;
    for (r, s) in seqs.iter().enumerate() {
        let (ids, mask) = batch(std::slice::from_ref(s), 0, &device);
        let alone = to_vec(model.embed(ids, mask));
        worst = worst.max(max_abs_diff(&alone, &together[r * h..(r + 1) * h]));
    }
    eprintln!("pooled vector alone vs padded in a batch: max|diff| = {worst:.3e}");
    assert!(worst < 1e-5, "padding changed a pooled vector by {worst}");
}

fn load_error(config: &BertConfig, path: &Path) -> String {
    let device = distill::default_device();
    match config.init(&device).load_hf_safetensors(path) {
        Ok(_) => panic!("{} loaded into {config:?}", path.display()),
        Err(e) => {
            assert!(matches!(e, Error::Weights { .. }), "{e:?}");
            e.to_string()
        }
    }
}

#[test]
fn missing_misshapen_or_extra_tensors_are_errors_naming_them() {
    let config = BertConfig::from_hf_json(&tiny_dir().join("config.json")).unwrap();
    let weights = tiny_dir().join("model.safetensors");

    let more_layers = BertConfig {
        num_hidden_layers: 3,
        ..config.clone()
    };
    let e = load_error(&more_layers, &weights);
    assert!(e.contains("model.safetensors"), "{e}");
    assert!(
        e.contains("missing bert.encoder.layer.2.attention.output.LayerNorm.bias [32]"),
        "{e}"
    );

    let other_ffn = BertConfig {
        intermediate_size: 40,
        ..config.clone()
    };
    let e = load_error(&other_ffn, &weights);
    assert!(
        e.contains("bert.encoder.layer.0.intermediate.dense.bias expects [40], file has [48]"),
        "{e}"
    );
    assert!(
        e.contains(
            "bert.encoder.layer.0.intermediate.dense.weight expects [40, 32], file has [48, 32]"
        ),
        "{e}"
    );

    let fewer_layers = BertConfig {
        num_hidden_layers: 1,
        ..config.clone()
    };
    let e = load_error(&fewer_layers, &weights);
    assert!(e.contains("unexpected bert.encoder.layer.1."), "{e}");

    let e = load_error(&config, &tiny_dir().join("no-such.safetensors"));
    assert!(e.contains("no-such.safetensors: no such file"), "{e}");

    // A safetensors file that is not a BERT state dict.
    let other = std::fs::read_dir(fixtures().join("../pytorch"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "safetensors"));
    if let Some(other) = other {
        let e = load_error(&config, &other);
        assert!(e.contains("not a BERT state dict"), "{e}");
    }
}

#[test]
fn config_json_values_it_cannot_run_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let base = read_json(&tiny_dir().join("config.json"));
    let write = |key: &str, value: serde_json::Value| {
        let mut config = base.clone();
        config[key] = value;
        let path = dir.path().join(format!("{key}.json"));
        std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
        path
    };
    let cases = [
        ("hidden_act", serde_json::json!("gelu_new")),
        ("position_embedding_type", serde_json::json!("relative_key")),
        ("num_attention_heads", serde_json::json!(5)),
        ("model_type", serde_json::json!("roberta")),
        ("hidden_size", serde_json::json!(0)),
    ];
    for (key, value) in cases {
        let path = write(key, value.clone());
        let e = BertConfig::from_hf_json(&path).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, Error::ConfigValue { .. }), "{text}");
        assert!(text.contains(&format!("{key}.json")), "{text}");
        assert!(text.contains(&format!("field `{key}`")), "{text}");
    }
    let mut missing = base.clone();
    missing.as_object_mut().unwrap().remove("num_hidden_layers");
    let path = dir.path().join("missing.json");
    std::fs::write(&path, serde_json::to_vec(&missing).unwrap()).unwrap();
    let e = BertConfig::from_hf_json(&path).unwrap_err().to_string();
    assert!(e.contains("num_hidden_layers"), "{e}");
}

#[test]
fn freeze_below_top_leaves_only_the_top_layers_trainable() {
    let device = distill::default_device();
    let ad = device.clone().autodiff();
    let reference = read_json(&tiny_dir().join("reference.json"));
    let seqs = tiny_sequences(&reference);
    let per_layer = 16; // 6 linear layers with bias, 2 LayerNorms
    for (top, trainable) in [(1, per_layer), (2, 2 * per_layer), (5, 2 * per_layer)] {
        let model = load_tiny(&ad).freeze_below_top(top);
        let (ids, mask) = batch(&seqs, 0, &ad);
        let loss = model.embed(ids, mask).square().mean();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        assert_eq!(grads.len(), trainable, "freeze_below_top({top})");
    }
    // Unfrozen, every parameter (embeddings included) gets a gradient.
    let model = load_tiny(&ad);
    let (ids, mask) = batch(&seqs, 0, &ad);
    let loss = model.embed(ids, mask).square().mean();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    assert_eq!(grads.len(), 5 + 2 * per_layer);
}

#[test]
#[ignore = "needs the all-MiniLM-L6-v2 weights: set DISTILL_MINILM_DIR"]
fn minilm_matches_the_reference_embeddings() {
    let dir = PathBuf::from(
        std::env::var_os("DISTILL_MINILM_DIR")
            .expect("DISTILL_MINILM_DIR: the folder with config.json and model.safetensors"),
    );
    let device = distill::default_device();
    let config = BertConfig::from_hf_json(&dir.join("config.json")).unwrap();
    let start = Instant::now();
    let model = config
        .init(&device)
        .load_hf_safetensors(&dir.join("model.safetensors"))
        .unwrap();
    eprintln!(
        "MiniLM: {} parameters loaded in {:.2?}",
        config.num_params(),
        start.elapsed()
    );

    let reference = read_json(&fixtures().join("minilm_reference.json"));
    let sentences = reference["sentences"].as_array().unwrap();
    let seqs: Vec<Vec<i64>> = sentences
        .iter()
        .map(|s| {
            s["token_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_i64().unwrap())
                .collect()
        })
        .collect();
    let (ids, mask) = batch(&seqs, 0, &device);
    let dims = ids.dims();
    let start = Instant::now();
    let pooled = model.embed(ids, mask);
    let pooled_norms = to_vec(pooled.clone().square().sum_dim(1).sqrt());
    let embeddings = to_vec(Bert::l2_normalize(pooled));
    let took = start.elapsed();
    let h = config.hidden_size;
    let mut worst = 0.0f32;
    let mut worst_norm = 0.0f32;
    for (r, s) in sentences.iter().enumerate() {
        let expected = floats(&s["embedding"]);
        worst = worst.max(max_abs_diff(&embeddings[r * h..(r + 1) * h], &expected));
        let norm = s["pooled_norm"].as_f64().unwrap() as f32;
        worst_norm = worst_norm.max((pooled_norms[r] - norm).abs() / norm);
    }
    eprintln!(
        "MiniLM vs reference ({} sentences, one padded batch {dims:?}, forward {took:.2?}): normalised embedding max|diff| = {worst:.3e}, pooled norm max rel diff = {worst_norm:.3e}",
        sentences.len()
    );
    assert!(worst < 1e-4, "embeddings differ by {worst}");
    assert!(
        worst_norm < 1e-4,
        "pooled norms differ by {worst_norm} (relative)"
    );

    // The teacher's CPU cost: one [32, 128] batch, no padding.
    let (b, l) = (32usize, 128usize);
    let ids: Vec<i64> = (0..b * l)
        .map(|i| (1000 + (i * 7919) % 29000) as i64)
        .collect();
    let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [b, l]), &device);
    let mask = Tensor::<2, Int>::ones([b, l], &device);
    for run in 1..=3 {
        let start = Instant::now();
        let out = model.embed(ids.clone(), mask.clone());
        let _ = to_vec(out);
        eprintln!(
            "MiniLM forward + mean pool on [{b}, {l}] (run {run}, {} CPU threads available): {:.2?}",
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            start.elapsed()
        );
    }
}
