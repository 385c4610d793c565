//! Labelled text from CSV, TSV or JSONL files, with the text and label fields named by the
//! caller (the experiment file), checked on load.
//!
//! - CSV: a header row, RFC 4180 quoting (fields may hold commas, quotes and newlines).
//! - TSV: a header row, tab-separated, no quoting (a tab or newline cannot be inside a field).
//! - JSONL: one JSON object per line; the label may be a string or an integer; blank lines are
//!   skipped.
//!
//! Every problem is an error naming the file, the line, the field and the value: invalid UTF-8,
//! a missing column or key, an empty text, a label outside the declared classes.

use crate::error::{Error, Result};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use std::collections::BTreeSet;
use std::path::Path;

/// A labelled-text file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFormat {
    /// Comma-separated with a header row and RFC 4180 quoting.
    Csv,
    /// Tab-separated with a header row, no quoting.
    Tsv,
    /// One JSON object per line.
    Jsonl,
}

impl TextFormat {
    /// The format a file name implies (`.csv`, `.tsv`/`.tab`, `.jsonl`/`.ndjson`).
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(TextFormat::Csv),
            "tsv" | "tab" => Some(TextFormat::Tsv),
            "jsonl" | "ndjson" => Some(TextFormat::Jsonl),
            _ => None,
        }
    }
}

/// Which fields of a file hold the text and the label.
#[derive(Debug, Clone)]
pub struct TextFields<'a> {
    /// The column (CSV/TSV) or key (JSONL) holding the text.
    pub text: &'a str,
    /// The column or key holding the label.
    pub label: &'a str,
}

/// Most classes of a text data set (what a [`crate::classifier::Label`] holds).
pub const MAX_TEXT_CLASSES: usize = crate::classifier::MAX_LABELS;

/// Texts with integer labels and the class names they index.
#[derive(Debug, Clone, PartialEq)]
pub struct TextDataset {
    /// One text per example.
    pub texts: Vec<String>,
    /// One label per example, in `0..class_names.len()`.
    pub labels: Vec<usize>,
    /// The class names, label `i` is `class_names[i]`.
    pub class_names: Vec<String>,
}

impl TextDataset {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// True when there are no examples.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// A fingerprint of texts, labels and class names (what recorded soft labels are tied to).
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for name in &self.class_names {
            h.update((name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
        }
        for (t, &y) in self.texts.iter().zip(&self.labels) {
            h.update((t.len() as u64).to_le_bytes());
            h.update(t.as_bytes());
            h.update((y as u64).to_le_bytes());
        }
        let digest = h.finalize();
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The examples at `indices`, same classes.
    pub fn subset(&self, indices: &[usize]) -> Self {
        TextDataset {
            texts: indices.iter().map(|&i| self.texts[i].clone()).collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            class_names: self.class_names.clone(),
        }
    }

    /// Splits off `fraction` of the examples (rounded down) as a second set, the same for the
    /// same `seed`: `(rest, split_off)`. Within each part the file order is kept.
    pub fn split(&self, fraction: f64, seed: u64) -> (Self, Self) {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(&mut StdRng::seed_from_u64(seed));
        let n = ((self.len() as f64) * fraction.clamp(0.0, 1.0)).floor() as usize;
        let (mut held, mut kept) = (order[..n].to_vec(), order[n..].to_vec());
        held.sort_unstable();
        kept.sort_unstable();
        (self.subset(&kept), self.subset(&held))
    }

    /// A seeded split stratified by class, `(kept, held_out)` ([`crate::split::stratified_split`]).
    pub fn split_stratified(&self, fraction: f64, seed: u64) -> (Self, Self) {
        let labels: Vec<crate::classifier::Label> = self
            .labels
            .iter()
            .map(|&y| y as crate::classifier::Label)
            .collect();
        let (kept, held) = crate::split::stratified_split(&labels, fraction, seed);
        (self.subset(&kept), self.subset(&held))
    }
}

/// One raw example: where it was, its text and its label as written.
struct RawRow {
    line: usize,
    text: String,
    label: String,
}

fn data_error(path: &Path, message: String) -> Error {
    Error::Data {
        path: path.to_path_buf(),
        message,
    }
}

fn read_delimited(
    path: &Path,
    text: &str,
    format: TextFormat,
    fields: &TextFields,
) -> Result<Vec<RawRow>> {
    let mut builder = csv::ReaderBuilder::new();
    builder.has_headers(true).flexible(false);
    if format == TextFormat::Tsv {
        builder.delimiter(b'\t').quoting(false);
    }
    let mut reader = builder.from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| data_error(path, format!("unreadable header row: {e}")))?
        .clone();
    let column = |role: &str, name: &str| -> Result<usize> {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| {
                data_error(
                    path,
                    format!(
                        "no column `{name}` for the {role} (the header has: {})",
                        headers
                            .iter()
                            .map(|h| format!("`{h}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
    };
    let (ti, li) = (column("text", fields.text)?, column("label", fields.label)?);
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            data_error(path, format!("line {line}: {e}"))
        })?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        rows.push(RawRow {
            line,
            text: record[ti].to_string(),
            label: record[li].trim().to_string(),
        });
    }
    Ok(rows)
}

fn read_jsonl(path: &Path, text: &str, fields: &TextFields) -> Result<Vec<RawRow>> {
    let mut rows = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| data_error(path, format!("line {line}: not a JSON object: {e}")))?;
        let object = value
            .as_object()
            .ok_or_else(|| data_error(path, format!("line {line}: expected a JSON object")))?;
        let get = |key: &str| {
            object.get(key).ok_or_else(|| {
                data_error(
                    path,
                    format!(
                        "line {line}: no key `{key}` (the object has: {})",
                        object
                            .keys()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
        };
        let text = match get(fields.text)? {
            serde_json::Value::String(s) => s.clone(),
            other => {
                return Err(data_error(
                    path,
                    format!(
                        "line {line}: field `{}` = {other}: the text must be a string",
                        fields.text
                    ),
                ));
            }
        };
        let label = match get(fields.label)? {
            serde_json::Value::String(s) => s.trim().to_string(),
            serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
            other => {
                return Err(data_error(
                    path,
                    format!(
                        "line {line}: field `{}` = {other}: the label must be a string or an integer",
                        fields.label
                    ),
                ));
            }
        };
        rows.push(RawRow { line, text, label });
    }
    Ok(rows)
}

/// Reads a labelled-text file. `format` defaults to the one the extension implies.
/// `classes` fixes the class names and their order (a label outside them is an error); without
/// it the classes are the file's distinct labels, sorted.
pub fn read_labelled_text(
    path: &Path,
    format: Option<TextFormat>,
    fields: &TextFields,
    classes: Option<&[String]>,
) -> Result<TextDataset> {
    let format = format
        .or_else(|| TextFormat::from_path(path))
        .ok_or_else(|| {
            data_error(
                path,
                "cannot tell the format from the extension: name it (csv, tsv or jsonl)".into(),
            )
        })?;
    let text = crate::fsutil::read_utf8(path)?;
    parse_labelled_text(path, &text, format, fields, classes)
}

/// Parses labelled text already in memory; `path` names it in errors.
pub fn parse_labelled_text(
    path: &Path,
    text: &str,
    format: TextFormat,
    fields: &TextFields,
    classes: Option<&[String]>,
) -> Result<TextDataset> {
    let rows = match format {
        TextFormat::Jsonl => read_jsonl(path, text, fields)?,
        _ => read_delimited(path, text, format, fields)?,
    };
    if rows.is_empty() {
        return Err(data_error(path, "no examples".into()));
    }
    let class_names: Vec<String> = match classes {
        Some(c) => c.to_vec(),
        None => rows
            .iter()
            .map(|r| r.label.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
    };
    if class_names.len() > MAX_TEXT_CLASSES {
        return Err(data_error(
            path,
            format!(
                "field `{}` holds {} distinct labels; classification needs 2 to {MAX_TEXT_CLASSES} \
                 classes (is it an identifier column?)",
                fields.label,
                class_names.len()
            ),
        ));
    }
    let index: std::collections::HashMap<&str, usize> = class_names
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let mut texts = Vec::with_capacity(rows.len());
    let mut labels = Vec::with_capacity(rows.len());
    for row in rows {
        if row.text.trim().is_empty() {
            return Err(data_error(
                path,
                format!("line {}: field `{}` is empty", row.line, fields.text),
            ));
        }
        if row.label.trim().is_empty() {
            return Err(data_error(
                path,
                format!("line {}: field `{}` is empty", row.line, fields.label),
            ));
        }
        let label = index.get(row.label.as_str()).copied().ok_or_else(|| {
            data_error(
                path,
                format!(
                    "line {}: field `{}` = {:?} is not one of the classes ({})",
                    row.line,
                    fields.label,
                    row.label,
                    class_names.join(", ")
                ),
            )
        })?;
        texts.push(row.text);
        labels.push(label);
    }
    Ok(TextDataset {
        texts,
        labels,
        class_names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: TextFields = TextFields {
        text: "text",
        label: "label",
    };

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn err(path: &Path, classes: Option<&[String]>) -> String {
        read_labelled_text(path, None, &FIELDS, classes)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_three_formats_read_the_same_examples() {
        let dir = tempfile::tempdir().unwrap();
        let csv = write(
            dir.path(),
            "a.csv",
            b"id,label,text\n1,spam,\"Win, now!\"\n2,ham,\"a \"\"quoted\"\"\nline\"\n",
        );
        let tsv = write(
            dir.path(),
            "a.tsv",
            b"id\tlabel\ttext\n1\tspam\tWin, now!\n2\tham\ta \"quoted\"\\nline\n",
        );
        let jsonl = write(
            dir.path(),
            "a.jsonl",
            "\u{feff}{\"text\": \"Win, now!\", \"label\": \"spam\"}\n\n{\"label\": \"ham\", \"text\": \"a \\\"quoted\\\"\\nline\"}\n"
                .as_bytes(),
        );
        let c = read_labelled_text(&csv, None, &FIELDS, None).unwrap();
        assert_eq!(c.texts, ["Win, now!", "a \"quoted\"\nline"]);
        assert_eq!(
            (c.labels.clone(), c.class_names.clone()),
            (vec![1, 0], vec!["ham".to_string(), "spam".into()])
        );
        let j = read_labelled_text(&jsonl, None, &FIELDS, None).unwrap();
        assert_eq!(j, c);
        let t = read_labelled_text(&tsv, None, &FIELDS, None).unwrap();
        assert_eq!(t.texts[0], "Win, now!");
        assert_eq!(t.labels, c.labels);
        let classes = vec!["spam".to_string(), "ham".to_string(), "other".to_string()];
        let fixed = read_labelled_text(&csv, None, &FIELDS, Some(&classes)).unwrap();
        assert_eq!(fixed.labels, [0, 1]);
        assert_eq!(fixed.class_names, classes);
    }

    #[test]
    fn errors_name_the_file_line_field_and_value() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "cols.csv", b"body,label\nhello,ham\n");
        let e = err(&p, None);
        assert!(
            e.contains("cols.csv") && e.contains("no column `text`") && e.contains("`body`"),
            "{e}"
        );

        let p = write(
            dir.path(),
            "empty.jsonl",
            b"{\"text\": \"ok\", \"label\": 1}\n{\"text\": \"  \", \"label\": 2}\n",
        );
        let e = err(&p, None);
        assert!(
            e.contains("empty.jsonl") && e.contains("line 2") && e.contains("`text` is empty"),
            "{e}"
        );

        let p = write(dir.path(), "unknown.csv", b"text,label\nhi,ham\nyo,eggs\n");
        let classes = vec!["ham".to_string(), "spam".to_string()];
        let e = err(&p, Some(&classes));
        assert!(
            e.contains("line 3") && e.contains("\"eggs\"") && e.contains("ham, spam"),
            "{e}"
        );

        let p = write(
            dir.path(),
            "latin1.tsv",
            b"text\tlabel\nok\tham\ncaf\xe9\tham\n",
        );
        let e = err(&p, None);
        assert!(
            e.contains("latin1.tsv")
                && e.contains("line 3")
                && e.contains("UTF-8")
                && e.contains("0xe9"),
            "{e}"
        );

        let p = write(
            dir.path(),
            "key.jsonl",
            b"{\"txt\": \"a\", \"label\": \"x\"}\n",
        );
        let e = err(&p, None);
        assert!(
            e.contains("line 1") && e.contains("no key `text`") && e.contains("`txt`"),
            "{e}"
        );

        let p = write(
            dir.path(),
            "type.jsonl",
            b"{\"text\": \"a\", \"label\": 1.5}\n",
        );
        let e = err(&p, None);
        assert!(e.contains("`label` = 1.5"), "{e}");

        let p = write(dir.path(), "ragged.csv", b"text,label\na,b\nc\n");
        let e = err(&p, None);
        assert!(e.contains("ragged.csv") && e.contains("line 3"), "{e}");

        let p = write(dir.path(), "data.txt", b"text,label\n");
        assert!(err(&p, None).contains("cannot tell the format"));
        let p = write(dir.path(), "none.csv", b"text,label\n");
        assert!(err(&p, None).contains("no examples"));
    }

    #[test]
    fn split_is_seeded_disjoint_and_complete() {
        let ds = TextDataset {
            texts: (0..50).map(|i| format!("t{i}")).collect(),
            labels: (0..50).map(|i| i % 3).collect(),
            class_names: vec!["a".into(), "b".into(), "c".into()],
        };
        let (rest, held) = ds.split(0.2, 7);
        assert_eq!((rest.len(), held.len()), (40, 10));
        assert_eq!(ds.split(0.2, 7), (rest.clone(), held.clone()));
        assert_ne!(ds.split(0.2, 8).1, held);
        let mut all: Vec<_> = rest.texts.iter().chain(&held.texts).cloned().collect();
        all.sort();
        let mut want = ds.texts.clone();
        want.sort();
        assert_eq!(all, want);
    }
}
