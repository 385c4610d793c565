//! Tokenisation with the `tokenizers` crate.
//!
//! - Transformer teachers read their own `tokenizer.json` (WordPiece or BPE, with the special
//!   tokens its post-processor adds). Padding configured in the file is switched off: batches
//!   are padded here, to the longest text of each batch.
//! - Students either share the teacher's tokenizer or get a word-level vocabulary built from
//!   the training texts ([`TextTokenizer::train_word_level`]): BERT's normaliser (lower case,
//!   accents stripped, control characters removed) and pre-tokeniser (whitespace and
//!   punctuation), the most frequent words up to the configured size, `[PAD]` = 0 and
//!   `[UNK]` = 1. It is saved as a `tokenizer.json` beside the model, so that prediction
//!   tokenises exactly as training did.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use tokenizers::models::TrainerWrapper;
use tokenizers::models::wordlevel::{WordLevel, WordLevelTrainer};
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::utils::truncation::{TruncationDirection, TruncationStrategy};
use tokenizers::{AddedToken, Tokenizer, TruncationParams};

/// The padding token of trained vocabularies (id 0).
pub const PAD: &str = "[PAD]";
/// The unknown-word token of trained vocabularies (id 1).
pub const UNK: &str = "[UNK]";

/// A tokenizer with a maximum sequence length and a padding id.
#[derive(Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    pad_id: u32,
    max_len: usize,
    /// Where it was read from (`None` for a vocabulary trained in this process).
    origin: Option<PathBuf>,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("vocab_size", &self.vocab_size())
            .field("pad_id", &self.pad_id)
            .field("max_len", &self.max_len)
            .field("origin", &self.origin)
            .finish()
    }
}

fn tok_error(path: &Path, what: &str, e: impl std::fmt::Display) -> Error {
    Error::Data {
        path: path.to_path_buf(),
        message: format!("{what}: {e}"),
    }
}

impl TextTokenizer {
    /// Reads a `tokenizer.json`; texts are cut to `max_len` tokens (special tokens included).
    /// The padding id is the file's padding token, else `[PAD]`, else `<pad>`, else 0.
    pub fn from_file(path: &Path, max_len: usize) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::Data {
                path: path.to_path_buf(),
                message: "no such tokenizer file".into(),
            });
        }
        let inner = Tokenizer::from_file(path)
            .map_err(|e| tok_error(path, "not a readable tokenizer.json", e))?;
        Self::wrap(inner, max_len, Some(path.to_path_buf()))
    }

    fn wrap(mut inner: Tokenizer, max_len: usize, origin: Option<PathBuf>) -> Result<Self> {
        let where_ = origin
            .clone()
            .unwrap_or_else(|| PathBuf::from("<tokenizer>"));
        if max_len < 2 {
            return Err(tok_error(
                &where_,
                "max_len",
                format!("{max_len} is too short (at least 2 tokens)"),
            ));
        }
        let pad_id = inner
            .get_padding()
            .map(|p| p.pad_id)
            .or_else(|| inner.token_to_id(PAD))
            .or_else(|| inner.token_to_id("<pad>"))
            .unwrap_or(0);
        inner.with_padding(None);
        inner
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length: max_len,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|e| tok_error(&where_, "cannot set truncation", e))?;
        Ok(TextTokenizer {
            inner,
            pad_id,
            max_len,
            origin,
        })
    }

    /// Builds a word-level vocabulary of at most `vocab_size` entries (the two special tokens
    /// included) from `texts`. Ties in frequency are broken alphabetically, so the vocabulary
    /// depends only on the texts.
    pub fn train_word_level(texts: &[String], vocab_size: usize, max_len: usize) -> Result<Self> {
        let origin = PathBuf::from("<trained vocabulary>");
        if vocab_size < 3 {
            return Err(tok_error(
                &origin,
                "vocab_size",
                format!("{vocab_size} is too small (at least 3)"),
            ));
        }
        let model = WordLevel::builder()
            .unk_token(UNK.to_string())
            .build()
            .map_err(|e| tok_error(&origin, "word-level model", e))?;
        let mut inner = Tokenizer::new(model);
        inner.with_normalizer(Some(BertNormalizer::new(true, true, None, true)));
        inner.with_pre_tokenizer(Some(BertPreTokenizer));
        let mut trainer: TrainerWrapper = WordLevelTrainer::builder()
            .vocab_size(vocab_size)
            .show_progress(false)
            .special_tokens(vec![
                AddedToken::from(PAD, true),
                AddedToken::from(UNK, true),
            ])
            .build()
            .map_err(|e| tok_error(&origin, "word-level trainer", e))?
            .into();
        inner
            .train(
                &mut trainer,
                texts.iter().map(|t| bounded_prefix(t, max_len)),
            )
            .map_err(|e| tok_error(&origin, "building the vocabulary", e))?;
        let mut t = Self::wrap(inner, max_len, None)?;
        t.pad_id = t.inner.token_to_id(PAD).unwrap_or(0);
        Ok(t)
    }

    /// Writes the tokenizer as `tokenizer.json` (atomically).
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = self
            .inner
            .to_string(false)
            .map_err(|e| tok_error(path, "cannot serialise the tokenizer", e))?;
        crate::fsutil::write_atomic(path, json.as_bytes())
    }

    /// Entries of the vocabulary, added tokens included (the embedding table's size).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The id batches are padded with.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// The longest token sequence it produces.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The ids of one text (special tokens added, truncated to `max_len`). A text that yields
    /// no token at all gets the padding id alone, so that every sequence has a length of 1+.
    /// Only the text's [`bounded_prefix`] is tokenised.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(bounded_prefix(text, self.max_len), true)
            .map_err(|e| tok_error(self.origin_path(), "cannot tokenise", e))?;
        let ids = enc.get_ids().to_vec();
        Ok(if ids.is_empty() {
            vec![self.pad_id]
        } else {
            ids
        })
    }

    /// The ids of many texts, in order (in parallel).
    pub fn encode_all(&self, texts: &[String]) -> Result<Vec<Vec<u32>>> {
        let encs = self
            .inner
            .encode_batch(
                texts
                    .iter()
                    .map(|t| bounded_prefix(t, self.max_len))
                    .collect::<Vec<_>>(),
                true,
            )
            .map_err(|e| tok_error(self.origin_path(), "cannot tokenise", e))?;
        Ok(encs
            .into_iter()
            .map(|e| {
                let ids = e.get_ids().to_vec();
                if ids.is_empty() {
                    vec![self.pad_id]
                } else {
                    ids
                }
            })
            .collect())
    }

    /// The text of `ids`, special tokens skipped.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, true)
            .map_err(|e| tok_error(self.origin_path(), "cannot decode", e))
    }

    /// The id of `token`, if it is in the vocabulary.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    fn origin_path(&self) -> &Path {
        self.origin
            .as_deref()
            .unwrap_or_else(|| Path::new("<trained vocabulary>"))
    }
}

/// Characters of text read per token of `max_len`: a text is tokenised only up to
/// `CHARS_PER_TOKEN × max_len` bytes.
pub const CHARS_PER_TOKEN: usize = 256;

/// The part of `text` that is tokenised: all of it when it is at most
/// [`CHARS_PER_TOKEN`]` × max_len` bytes, otherwise a prefix of about that length cut just before
/// a whitespace character (inside a word only when the last 1 KiB before the bound holds none).
/// Cut before whitespace, the prefix gives the same tokens as the whole text up to the cut, so
/// the first `max_len` tokens are unchanged unless they average more than 256 characters; a
/// 50 MB text costs no more than its first 2 MB to tokenise with `max_len = 8192`.
pub fn bounded_prefix(text: &str, max_len: usize) -> &str {
    let bound = CHARS_PER_TOKEN.saturating_mul(max_len.max(1));
    if text.len() <= bound {
        return text;
    }
    let mut end = bound;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let window_start = end.saturating_sub(1024);
    match text[..end].rfind(char::is_whitespace) {
        Some(i) if i >= window_start => &text[..i],
        _ => &text[..end],
    }
}

/// Token ids padded into one `[n, len]` batch (row-major) and its mask (1 = token, 0 = pad),
/// `len` being the longest sequence among `rows`.
pub fn pad_batch(seqs: &[Vec<u32>], rows: &[usize], pad_id: u32) -> (Vec<i64>, Vec<i64>, usize) {
    let len = rows
        .iter()
        .map(|&r| seqs[r].len())
        .max()
        .unwrap_or(1)
        .max(1);
    let mut ids = vec![pad_id as i64; rows.len() * len];
    let mut mask = vec![0i64; rows.len() * len];
    for (i, &r) in rows.iter().enumerate() {
        for (j, &t) in seqs[r].iter().enumerate() {
            ids[i * len + j] = t as i64;
            mask[i * len + j] = 1;
        }
    }
    (ids, mask, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Vec<String> {
        [
            "Free money, click now!",
            "the meeting is at noon",
            "FREE prize: claim your money now",
            "Lunch at noon? The usual place.",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    #[test]
    fn trained_vocabulary_round_trips_known_words_and_maps_the_rest_to_unk() {
        let t = TextTokenizer::train_word_level(&corpus(), 100, 16).unwrap();
        assert_eq!(t.token_id(PAD), Some(0));
        assert_eq!(t.token_id(UNK), Some(1));
        assert_eq!(t.pad_id(), 0);
        let ids = t.encode("Free MONEY now").unwrap();
        assert_eq!(ids.len(), 3);
        assert!(ids.iter().all(|&i| i > 1), "{ids:?}");
        assert_eq!(t.decode(&ids).unwrap(), "free money now");
        let unk = t.encode("zebra").unwrap();
        assert_eq!(unk, vec![1]);
        // The most frequent words come first (after the specials): "now", "money", "free",
        // "noon", "the", "at" appear twice.
        assert!(t.token_id("money").unwrap() < t.token_id("lunch").unwrap());
    }

    #[test]
    fn vocabulary_size_is_capped_and_truncation_applies() {
        let t = TextTokenizer::train_word_level(&corpus(), 5, 4).unwrap();
        assert_eq!(t.vocab_size(), 5);
        let ids = t.encode("now money free noon the at usual").unwrap();
        assert_eq!(ids.len(), 4);
        assert!(ids.iter().all(|&i| (i as usize) < 5));
        assert_eq!(
            t.encode("").unwrap(),
            vec![0],
            "empty text -> one pad token"
        );
    }

    #[test]
    fn saved_tokenizer_reloads_identically() {
        let dir = tempfile::tempdir().unwrap();
        let t = TextTokenizer::train_word_level(&corpus(), 100, 16).unwrap();
        let path = dir.path().join("tokenizer.json");
        t.save(&path).unwrap();
        let back = TextTokenizer::from_file(&path, 16).unwrap();
        assert_eq!(back.vocab_size(), t.vocab_size());
        assert_eq!(back.pad_id(), 0);
        for text in corpus() {
            assert_eq!(back.encode(&text).unwrap(), t.encode(&text).unwrap());
        }
        assert_eq!(
            back.encode_all(&corpus()).unwrap(),
            corpus()
                .iter()
                .map(|s| t.encode(s).unwrap())
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn unreadable_tokenizer_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        std::fs::write(&path, "{ not json").unwrap();
        let e = TextTokenizer::from_file(&path, 16).unwrap_err().to_string();
        assert!(e.contains("tokenizer.json"), "{e}");
        let e = TextTokenizer::from_file(&dir.path().join("nope.json"), 16)
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope.json") && e.contains("no such"), "{e}");
    }

    #[test]
    fn long_texts_are_cut_before_tokenising_with_the_same_tokens() {
        let t = TextTokenizer::train_word_level(&corpus(), 20, 8).unwrap();
        // 50 MB of words: the prefix is bounded and gives the same ids as a short text.
        let long = "free money now ".repeat(50_000_000 / 15);
        let prefix = bounded_prefix(&long, 8);
        assert!(prefix.len() <= 256 * 8 && prefix.len() > 256 * 8 - 20);
        assert!(!prefix.ends_with(' '));
        let start = std::time::Instant::now();
        let ids = t.encode(&long).unwrap();
        assert_eq!(ids, t.encode(&"free money now ".repeat(4)).unwrap());
        assert_eq!(ids.len(), 8);
        assert!(start.elapsed().as_secs() < 5);
        // Multi-byte characters are never split.
        let wide = "é".repeat(10_000);
        assert!(bounded_prefix(&wide, 2).len() <= 512);
        assert_eq!(bounded_prefix("short", 2), "short");
    }

    #[test]
    fn pad_batch_pads_to_the_longest_row() {
        let seqs = vec![vec![5, 6, 7], vec![8], vec![9, 10]];
        let (ids, mask, len) = pad_batch(&seqs, &[1, 0], 0);
        assert_eq!(len, 3);
        assert_eq!(ids, vec![8, 0, 0, 5, 6, 7]);
        assert_eq!(mask, vec![1, 0, 0, 1, 1, 1]);
    }
}
