//! Tabular classification data from CSV or TSV files: numeric and categorical feature columns
//! and one label column, named in a header row.
//!
//! The training file fixes a [`Schema`]: which columns are features, in which order, whether
//! each is numeric or categorical (one-hot encoded over the levels the training file has), and
//! the class names. Other files (a test file, inputs to predict on) are read with that schema,
//! so that they are encoded exactly as the training file was.
//!
//! Reading is strict. Every problem is an [`Error::Data`] naming the file, the line (1-based
//! physical line: the header is line 1, blank lines count), the column and the value at fault:
//!
//! - an empty cell, a missing-value marker (`NA`, `N/A`, `NaN`, `null`, `None`, `?`, any
//!   case), an infinity or a number beyond `f32`'s range in a numeric column (there is no
//!   silent imputation);
//! - an empty cell in a categorical column;
//! - a categorical level in a test or prediction file that the training file did not have;
//! - a label that is not one of the classes;
//! - a row with the wrong number of fields.
//!
//! Cells are trimmed of surrounding whitespace; `\r\n` line ends and a UTF-8 byte-order mark are
//! accepted; blank lines are skipped. CSV files use RFC 4180 quoting; tab-separated files
//! (`.tsv`, `.tab`, or a tab delimiter) are read without quoting, like the text module's TSV.
//!
//! Column kinds in the training file: a column named in [`ReadOptions::categorical`] is
//! categorical; any other feature column is numeric when none of its cells is text other than a
//! missing-value marker, and categorical otherwise. Category levels and (by default) class
//! names are sorted, numerically when all of them are integers (`"2"` before `"10"`).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

/// The most distinct values a categorical column may have in the training file. One-hot
/// encoding a column with more (an identifier, free text) would make a feature per row; list
/// such a column in [`ReadOptions::ignore`] instead.
pub const MAX_LEVELS: usize = 1000;

/// The most classes a data set may have (what a [`crate::classifier::Label`] holds).
pub const MAX_CLASSES: usize = crate::classifier::MAX_LABELS;

/// How many levels, classes or header names an error message lists before "… and N more".
const SHOWN: usize = 10;

/// Cell values, compared case-insensitively, that mean "missing" in a numeric column.
const MISSING_MARKERS: [&str; 6] = ["na", "n/a", "nan", "null", "none", "?"];

/// How a column is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Column {
    /// A number per row, one feature.
    Numeric {
        /// The column's name in the header.
        name: String,
    },
    /// One of a fixed set of levels per row, one-hot encoded: one feature per level.
    Categorical {
        /// The column's name in the header.
        name: String,
        /// The levels, in feature order (the training file's distinct values, sorted).
        levels: Vec<String>,
    },
}

impl Column {
    /// The column's name in the header.
    pub fn name(&self) -> &str {
        match self {
            Column::Numeric { name } | Column::Categorical { name, .. } => name,
        }
    }

    /// How many features the column encodes to: 1 for a numeric column, the number of levels
    /// for a categorical one.
    pub fn width(&self) -> usize {
        match self {
            Column::Numeric { .. } => 1,
            Column::Categorical { levels, .. } => levels.len(),
        }
    }
}

/// The feature columns after reading the training file: their order and the one-hot levels of
/// categorical ones (so the test file and prediction inputs are encoded identically). Saved in
/// model cards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    /// The feature columns, in feature order.
    pub columns: Vec<Column>,
    /// The label column's name.
    pub label: String,
    /// The class names: label `i` is `class_names[i]`.
    pub class_names: Vec<String>,
}

impl Schema {
    /// The number of features a row encodes to: numeric columns count 1, categorical columns
    /// count their number of levels.
    pub fn num_features(&self) -> usize {
        self.columns.iter().map(Column::width).sum()
    }

    /// One name per feature, in feature order: `"col"` for a numeric column, `"col=level"` for
    /// each level of a categorical one.
    pub fn feature_names(&self) -> Vec<String> {
        let mut names = Vec::with_capacity(self.num_features());
        for column in &self.columns {
            match column {
                Column::Numeric { name } => names.push(name.clone()),
                Column::Categorical { name, levels } => {
                    names.extend(levels.iter().map(|level| format!("{name}={level}")));
                }
            }
        }
        names
    }
}

/// Per-feature standardisation `(x - mean) / std`, computed on training rows (a standard
/// deviation of 0 or one that is not finite is replaced by 1). Saved in model cards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardize {
    /// The mean of each feature.
    pub mean: Vec<f32>,
    /// The (population) standard deviation of each feature, never 0.
    pub std: Vec<f32>,
}

impl Standardize {
    /// The means and standard deviations of `data`'s features. A constant feature (including
    /// every feature of an empty data set) gets its value as mean and 1 as standard deviation,
    /// so that it standardises to exactly 0.
    pub fn of(data: &TabularDataset) -> Self {
        let nf = data.num_features;
        let n = data.len();
        let mut sum = vec![0f64; nf];
        let mut min = vec![f32::INFINITY; nf];
        let mut max = vec![f32::NEG_INFINITY; nf];
        for i in 0..n {
            for (j, &x) in data.row(i).iter().enumerate() {
                sum[j] += f64::from(x);
                min[j] = min[j].min(x);
                max[j] = max[j].max(x);
            }
        }
        let mut mean: Vec<f64> = sum.iter().map(|s| s / n.max(1) as f64).collect();
        let mut sq = vec![0f64; nf];
        for i in 0..n {
            for (j, &x) in data.row(i).iter().enumerate() {
                let d = f64::from(x) - mean[j];
                sq[j] += d * d;
            }
        }
        let mut std = vec![1f32; nf];
        for j in 0..nf {
            if n == 0 {
                mean[j] = 0.0;
            } else if min[j] == max[j] {
                // Constant: its exact value, so that it standardises to exactly 0.
                mean[j] = f64::from(min[j]);
            } else {
                let s = (sq[j] / n as f64).sqrt() as f32;
                if s.is_normal() {
                    std[j] = s;
                }
            }
            if !(mean[j] as f32).is_finite() {
                mean[j] = 0.0;
            }
        }
        Standardize {
            mean: mean.into_iter().map(|m| m as f32).collect(),
            std,
        }
    }

    /// Writes the standardised `row` into `out`.
    ///
    /// # Panics
    ///
    /// When `row`, `out` and the statistics do not all have the same length.
    pub fn apply_into(&self, row: &[f32], out: &mut [f32]) {
        assert!(
            row.len() == self.mean.len() && out.len() == self.mean.len(),
            "Standardize::apply_into: row has {} features, out {}, the statistics {}",
            row.len(),
            out.len(),
            self.mean.len()
        );
        for (((o, &x), &m), &s) in out.iter_mut().zip(row).zip(&self.mean).zip(&self.std) {
            *o = (x - m) / s;
        }
    }
}

/// Encoded rows with integer labels.
#[derive(Debug, Clone, PartialEq)]
pub struct TabularDataset {
    /// Row-major, `len() × num_features`: encoded (one-hot expanded) but not standardised.
    pub features: Vec<f32>,
    /// One label per row, in `0..num_classes`.
    pub labels: Vec<crate::classifier::Label>,
    /// Features per row.
    pub num_features: usize,
    /// The number of classes (the schema's class names).
    pub num_classes: usize,
}

impl TabularDataset {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The features of row `i`.
    ///
    /// # Panics
    ///
    /// When `i >= self.len()`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.features[i * self.num_features..(i + 1) * self.num_features]
    }

    /// The rows at `indices`, in that order (repeats allowed).
    ///
    /// # Panics
    ///
    /// When an index is out of range.
    pub fn subset(&self, indices: &[usize]) -> Self {
        let mut features = Vec::with_capacity(indices.len() * self.num_features);
        for &i in indices {
            features.extend_from_slice(self.row(i));
        }
        TabularDataset {
            features,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            num_features: self.num_features,
            num_classes: self.num_classes,
        }
    }

    /// The SHA-256 (64 lowercase hex characters) of the dimensions (row count, features per
    /// row, classes, each as a little-endian `u64`), every feature's `f32` little-endian bytes
    /// and the label bytes: what recorded soft labels are tied to.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for dim in [self.len(), self.num_features, self.num_classes] {
            h.update((dim as u64).to_le_bytes());
        }
        let mut buf = Vec::with_capacity(4 * 4096);
        for chunk in self.features.chunks(4096) {
            buf.clear();
            for x in chunk {
                buf.extend_from_slice(&x.to_le_bytes());
            }
            h.update(&buf);
        }
        h.update(crate::classifier::label_bytes(&self.labels));
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A seeded stratified split, `(rest, held_out)`, each in the original row order and the
    /// same for the same `seed`. Of each class's `n` rows, `round(fraction * n)` chosen at
    /// random are held out, and at least one when `n >= 2` and `fraction > 0`; unless
    /// `fraction >= 1`, at least one row of each class stays in `rest` (so a class with a
    /// single row is never held out). `fraction` is clamped to `[0, 1]` (NaN counts as 0).
    pub fn split_stratified(&self, fraction: f64, seed: u64) -> (Self, Self) {
        let (rest, held) = crate::split::stratified_split(&self.labels, fraction, seed);
        (self.subset(&rest), self.subset(&held))
    }
}

/// Options for reading the training file.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions<'a> {
    /// The label column's name.
    pub label: &'a str,
    /// Columns to one-hot encode even if they look numeric (codes, zip codes). Any other
    /// feature column holding text is categorical anyway.
    pub categorical: &'a [String],
    /// Columns to drop (identifiers, leaks).
    pub ignore: &'a [String],
    /// The class names in label order; a label outside them is an error. Default: the
    /// distinct labels, sorted (numerically when all are integers: `"2"` before `"10"`).
    pub classes: Option<&'a [String]>,
    /// The field delimiter. Default: a tab for `.tsv`/`.tab` files, otherwise a comma.
    pub delimiter: Option<u8>,
}

impl<'a> ReadOptions<'a> {
    /// Options with the label column named and every other option at its default.
    pub fn new(label: &'a str) -> Self {
        ReadOptions {
            label,
            categorical: &[],
            ignore: &[],
            classes: None,
            delimiter: None,
        }
    }
}

/// Reads the training file: infers the schema (column kinds, sorted category levels, classes)
/// and encodes every row.
pub fn read_training(path: &Path, opts: &ReadOptions) -> Result<(TabularDataset, Schema)> {
    let text = crate::fsutil::read_utf8(path)?;
    parse_training(path, &text, opts)
}

/// Reads another file (a test file, inputs to predict on) with the training file's schema.
/// Columns not in the schema are ignored. With `labelled = false` the label column may be
/// absent (and is ignored when present) and every label is 0.
pub fn read_with_schema(
    path: &Path,
    schema: &Schema,
    delimiter: Option<u8>,
    labelled: bool,
) -> Result<TabularDataset> {
    let text = crate::fsutil::read_utf8(path)?;
    parse_with_schema(path, &text, schema, delimiter, labelled)
}

/// [`read_training`] on text already in memory; `origin` names it in errors and its extension
/// sets the default delimiter.
pub fn parse_training(
    origin: &Path,
    text: &str,
    opts: &ReadOptions,
) -> Result<(TabularDataset, Schema)> {
    let table = read_table(origin, text, opts.delimiter)?;
    let err = |message: String| data_error(origin, message);

    let label_at = table.column(origin, opts.label, "for the label")?;
    let mut ignored = HashSet::new();
    for name in opts.ignore {
        let at = table.column(origin, name, "listed in `ignore`")?;
        if at == label_at {
            return Err(err(format!(
                "column {name:?} is the label column; it cannot be ignored"
            )));
        }
        ignored.insert(at);
    }
    let mut forced = HashSet::new();
    for name in opts.categorical {
        let at = table.column(origin, name, "listed in `categorical`")?;
        if at == label_at {
            return Err(err(format!(
                "column {name:?} is the label column; it cannot be a categorical feature"
            )));
        }
        if ignored.contains(&at) {
            return Err(err(format!(
                "column {name:?} is listed both in `ignore` and in `categorical`"
            )));
        }
        forced.insert(at);
    }

    // Classes.
    let label_name = &table.header[label_at];
    for row in &table.rows {
        if row.cell(label_at).is_empty() {
            return Err(err(format!(
                "line {}, column {label_name:?}: empty label",
                row.line
            )));
        }
    }
    let class_names: Vec<String> = match opts.classes {
        Some(classes) => {
            let mut seen = HashSet::new();
            for class in classes {
                if !seen.insert(class.as_str()) {
                    return Err(err(format!(
                        "the class list names {class:?} twice (classes: {})",
                        quoted_list(classes)
                    )));
                }
            }
            classes.to_vec()
        }
        None => sorted_numeric_aware(table.rows.iter().map(|r| r.cell(label_at))),
    };
    check_class_count(origin, &class_names, opts.classes.is_some())?;

    // Feature columns.
    let mut columns = Vec::new();
    let mut sources = Vec::new();
    for (at, name) in table.header.iter().enumerate() {
        if at == label_at || ignored.contains(&at) {
            continue;
        }
        let numeric = !forced.contains(&at)
            && table
                .rows
                .iter()
                .all(|r| !matches!(classify(r.cell(at)), Cell::NotNumber));
        let column = if numeric {
            Column::Numeric { name: name.clone() }
        } else {
            for row in &table.rows {
                if row.cell(at).is_empty() {
                    return Err(err(format!(
                        "line {}, column {name:?}: empty cell (categorical columns need a value in every row)",
                        row.line
                    )));
                }
            }
            let levels = sorted_numeric_aware(table.rows.iter().map(|r| r.cell(at)));
            if levels.len() > MAX_LEVELS {
                return Err(err(format!(
                    "column {name:?} has {} distinct values, more than {MAX_LEVELS} to one-hot encode; \
                     list it in `ignore` if it is an identifier",
                    levels.len()
                )));
            }
            Column::Categorical {
                name: name.clone(),
                levels,
            }
        };
        columns.push(column);
        sources.push(at);
    }
    if columns.is_empty() {
        return Err(err(format!(
            "no feature columns: the header has only the label and ignored columns ({})",
            quoted_list(&table.header)
        )));
    }

    let schema = Schema {
        columns,
        label: label_name.clone(),
        class_names,
    };
    let data = encode(origin, &table, &schema, &sources, Some(label_at), true)?;
    Ok((data, schema))
}

/// [`read_with_schema`] on text already in memory; `origin` names it in errors and its
/// extension sets the default delimiter.
pub fn parse_with_schema(
    origin: &Path,
    text: &str,
    schema: &Schema,
    delimiter: Option<u8>,
    labelled: bool,
) -> Result<TabularDataset> {
    check_class_count(origin, &schema.class_names, true)?;
    if schema.columns.is_empty() {
        return Err(data_error(
            origin,
            "the schema has no feature columns".into(),
        ));
    }
    let table = read_table(origin, text, delimiter)?;
    let mut sources = Vec::with_capacity(schema.columns.len());
    for column in &schema.columns {
        sources.push(table.column(origin, column.name(), "(a feature of the training file)")?);
    }
    let label_at = if labelled {
        Some(table.column(origin, &schema.label, "for the label")?)
    } else {
        None
    };
    encode(origin, &table, schema, &sources, label_at, false)
}

// ---------------------------------------------------------------------------------------------
// Reading the table.

fn data_error(path: &Path, message: String) -> Error {
    Error::Data {
        path: path.to_path_buf(),
        message,
    }
}

/// One data row: the line it starts on and its fields.
struct Row {
    line: u64,
    record: csv::StringRecord,
}

impl Row {
    /// The trimmed field at `at` (empty past the end, which `read_table` rules out).
    fn cell(&self, at: usize) -> &str {
        self.record.get(at).unwrap_or("").trim()
    }
}

/// A header and the data rows, each row as wide as the header.
struct Table {
    header: Vec<String>,
    rows: Vec<Row>,
}

impl Table {
    /// The index of the column `name`, or an error listing the header.
    fn column(&self, origin: &Path, name: &str, role: &str) -> Result<usize> {
        self.header.iter().position(|h| h == name).ok_or_else(|| {
            data_error(
                origin,
                format!(
                    "no column {name:?} {role} (the header has: {})",
                    quoted_list(&self.header)
                ),
            )
        })
    }
}

fn resolve_delimiter(origin: &Path, delimiter: Option<u8>) -> Result<u8> {
    let d = delimiter.unwrap_or_else(|| {
        let ext = origin
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("tsv" | "tab") => b'\t',
            _ => b',',
        }
    });
    if !d.is_ascii() || matches!(d, b'"' | b'\n' | b'\r') {
        return Err(data_error(
            origin,
            format!(
                "delimiter {:?} cannot be used: it must be an ASCII character other than a quote or a line end",
                char::from(d)
            ),
        ));
    }
    Ok(d)
}

/// Physical line numbers of byte offsets. (The `csv` crate's own record positions are off
/// after `\r\n` line ends and blank lines, so they are not used for messages.)
struct Lines<'t> {
    text: &'t [u8],
    /// The byte offset at which each line starts; `starts[0] == 0`.
    starts: Vec<usize>,
}

impl<'t> Lines<'t> {
    /// Indexes `text`'s lines, ended by `\n`, `\r\n` or a lone `\r`.
    fn new(text: &'t [u8]) -> Self {
        let mut starts = vec![0];
        for (i, &b) in text.iter().enumerate() {
            if b == b'\n' || (b == b'\r' && text.get(i + 1) != Some(&b'\n')) {
                starts.push(i + 1);
            }
        }
        Lines { text, starts }
    }

    /// The 1-based line of the record the `csv` reader reports at `position`: the reported byte
    /// offset can lie before the record, on the line ends (and blank lines) that precede it.
    fn of(&self, position: Option<&csv::Position>) -> u64 {
        let Some(position) = position else {
            return 0;
        };
        let mut at = usize::try_from(position.byte()).unwrap_or(usize::MAX);
        while at < self.text.len() && matches!(self.text[at], b'\r' | b'\n') {
            at += 1;
        }
        self.starts.partition_point(|&start| start <= at) as u64
    }
}

fn read_table(origin: &Path, text: &str, delimiter: Option<u8>) -> Result<Table> {
    let delimiter = resolve_delimiter(origin, delimiter)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines = Lines::new(text.as_bytes());
    let mut builder = csv::ReaderBuilder::new();
    builder
        .has_headers(true)
        .flexible(true)
        .delimiter(delimiter);
    if delimiter == b'\t' {
        builder.quoting(false);
    }
    let mut reader = builder.from_reader(text.as_bytes());
    let csv_error = |e: csv::Error| {
        let line = lines.of(e.position()).max(1);
        data_error(origin, format!("line {line}: {e}"))
    };
    let header_record = reader.headers().map_err(csv_error)?;
    let header_line = lines.of(header_record.position()).max(1);
    let header: Vec<String> = header_record.iter().map(|h| h.trim().to_string()).collect();
    if header.is_empty() || header.iter().all(String::is_empty) {
        return Err(data_error(
            origin,
            "no header row: the first line must name the columns".into(),
        ));
    }
    let mut seen = HashSet::new();
    for (i, name) in header.iter().enumerate() {
        if name.is_empty() {
            return Err(data_error(
                origin,
                format!(
                    "line {header_line}: column {} has no name in the header (every column needs one)",
                    i + 1
                ),
            ));
        }
        if !seen.insert(name.as_str()) {
            return Err(data_error(
                origin,
                format!("line {header_line}: the header names column {name:?} twice"),
            ));
        }
    }

    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(csv_error)? {
        if record.len() == 1 && record[0].trim().is_empty() {
            continue; // a line of only spaces
        }
        let line = lines.of(record.position());
        if record.len() != header.len() {
            return Err(data_error(
                origin,
                format!(
                    "line {line}: {} fields, but the header has {} columns",
                    record.len(),
                    header.len()
                ),
            ));
        }
        rows.push(Row {
            line,
            record: std::mem::take(&mut record),
        });
    }
    if rows.is_empty() {
        return Err(data_error(origin, "no data rows (only a header)".into()));
    }
    Ok(Table { header, rows })
}

// ---------------------------------------------------------------------------------------------
// Cells, sorting and encoding.

/// What a cell of a (possibly) numeric column holds.
enum Cell {
    Number(f32),
    Empty,
    /// A missing-value marker (`NA`, `NaN`, ...).
    Missing,
    /// A number too large for `f32`, or an infinity.
    NotFinite,
    NotNumber,
}

fn classify(cell: &str) -> Cell {
    if cell.is_empty() {
        return Cell::Empty;
    }
    if MISSING_MARKERS.iter().any(|m| cell.eq_ignore_ascii_case(m)) {
        return Cell::Missing;
    }
    match cell.parse::<f64>() {
        Ok(x) if x.is_nan() => Cell::Missing,
        Ok(x) if (x as f32).is_finite() => Cell::Number(x as f32),
        Ok(_) => Cell::NotFinite,
        Err(_) => Cell::NotNumber,
    }
}

/// The distinct values, sorted by their integer value when all are integers (ties by text),
/// otherwise as text.
fn sorted_numeric_aware<'s>(values: impl Iterator<Item = &'s str>) -> Vec<String> {
    let distinct: BTreeSet<&str> = values.collect();
    let ints: Option<Vec<(i64, &str)>> = distinct
        .iter()
        .map(|v| v.parse::<i64>().ok().map(|i| (i, *v)))
        .collect();
    match ints {
        Some(mut ints) => {
            ints.sort_unstable();
            ints.into_iter().map(|(_, v)| v.to_string()).collect()
        }
        None => distinct.into_iter().map(str::to_string).collect(),
    }
}

/// `"a", "b", "c"`, or the first few of a long list and how many more.
fn quoted_list(items: &[String]) -> String {
    let mut s = items
        .iter()
        .take(SHOWN)
        .map(|i| format!("{i:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        s.push_str(&format!(", … and {} more", items.len() - SHOWN));
    }
    s
}

fn check_class_count(origin: &Path, class_names: &[String], given: bool) -> Result<()> {
    let n = class_names.len();
    if (2..=MAX_CLASSES).contains(&n) {
        return Ok(());
    }
    let whose = if given {
        "the class list has"
    } else {
        "the label column has"
    };
    Err(data_error(
        origin,
        format!(
            "{whose} {n} class{} ({}); classification needs 2 to {MAX_CLASSES}",
            if n == 1 { "" } else { "es" },
            quoted_list(class_names)
        ),
    ))
}

/// How one schema column turns a cell into features.
enum Encoder<'s> {
    Numeric,
    Categorical(HashMap<&'s str, usize>),
}

/// Encodes every row of `table`: schema column `k` reads the table's column `sources[k]`.
/// `training` only changes the wording of errors.
fn encode(
    origin: &Path,
    table: &Table,
    schema: &Schema,
    sources: &[usize],
    label_at: Option<usize>,
    training: bool,
) -> Result<TabularDataset> {
    let err = |message: String| data_error(origin, message);
    let num_features = schema.num_features();
    let size = table.rows.len().checked_mul(num_features).ok_or_else(|| {
        err(format!(
            "{} rows × {num_features} features is too large",
            table.rows.len()
        ))
    })?;
    let encoders: Vec<Encoder> = schema
        .columns
        .iter()
        .map(|c| match c {
            Column::Numeric { .. } => Encoder::Numeric,
            Column::Categorical { levels, .. } => Encoder::Categorical(
                levels
                    .iter()
                    .enumerate()
                    .rev() // the first of duplicated levels wins
                    .map(|(i, l)| (l.as_str(), i))
                    .collect(),
            ),
        })
        .collect();
    let classes: HashMap<&str, crate::classifier::Label> = schema
        .class_names
        .iter()
        .enumerate()
        .rev()
        .map(|(i, c)| (c.as_str(), i as crate::classifier::Label))
        .collect();
    let where_from = if training {
        ""
    } else {
        " in the training file"
    };

    let mut features = Vec::with_capacity(size);
    let mut labels = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        let line = row.line;
        for ((column, encoder), &at) in schema.columns.iter().zip(&encoders).zip(sources) {
            let name = column.name();
            let value = row.cell(at);
            match encoder {
                Encoder::Numeric => match classify(value) {
                    Cell::Number(x) => features.push(x),
                    Cell::Empty => {
                        return Err(err(format!(
                            "line {line}, column {name:?}: empty cell (numeric columns need a number in every row; there is no imputation)"
                        )));
                    }
                    Cell::Missing => {
                        return Err(err(format!(
                            "line {line}, column {name:?}: {value:?} is a missing value (numeric columns need a number in every row; there is no imputation)"
                        )));
                    }
                    Cell::NotFinite => {
                        return Err(err(format!(
                            "line {line}, column {name:?}: {value:?} is not a finite 32-bit number"
                        )));
                    }
                    Cell::NotNumber => {
                        return Err(err(format!(
                            "line {line}, column {name:?}: {value:?} is not a number (the column is numeric{where_from})"
                        )));
                    }
                },
                Encoder::Categorical(levels) => {
                    if value.is_empty() {
                        return Err(err(format!(
                            "line {line}, column {name:?}: empty cell (categorical columns need a value in every row)"
                        )));
                    }
                    let Some(&hot) = levels.get(value) else {
                        let known = match column {
                            Column::Categorical { levels, .. } => quoted_list(levels),
                            Column::Numeric { .. } => String::new(),
                        };
                        return Err(err(format!(
                            "line {line}, column {name:?}: {value:?} is not a level of the column{where_from} (known levels: {known})"
                        )));
                    };
                    let start = features.len();
                    features.resize(start + column.width(), 0.0);
                    features[start + hot] = 1.0;
                }
            }
        }
        let label = match label_at {
            None => 0,
            Some(at) => {
                let value = row.cell(at);
                *classes.get(value).ok_or_else(|| {
                    err(format!(
                        "line {line}, column {:?}: {value:?} is not one of the classes ({})",
                        schema.label,
                        quoted_list(&schema.class_names)
                    ))
                })?
            }
        };
        labels.push(label);
    }
    Ok(TabularDataset {
        features,
        labels,
        num_features,
        num_classes: schema.class_names.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::PathBuf;

    fn origin() -> PathBuf {
        PathBuf::from("train.csv")
    }

    fn message(e: Error) -> String {
        match e {
            Error::Data { path, message } => {
                assert_eq!(path, origin());
                message
            }
            other => panic!("expected a data error, got {other:?}"),
        }
    }

    fn train(text: &str, opts: &ReadOptions) -> (TabularDataset, Schema) {
        parse_training(&origin(), text, opts).expect("parses")
    }

    fn train_err(text: &str, opts: &ReadOptions) -> String {
        message(parse_training(&origin(), text, opts).expect_err("should fail"))
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    const MIXED: &str = "id, age ,colour,size,species\r\n\
                         1, 30, red ,2,cat\r\n\
                         2,40,blue,10,dog\r\n\
                         3,50.5,red,2,cat\r\n\
                         \r\n\
                         4,-1e1,green,3,bird\r\n";

    #[test]
    fn mixed_file_round_trips_with_one_hot_encoding() {
        let ignore = strings(&["id"]);
        let categorical = strings(&["size"]);
        let opts = ReadOptions {
            ignore: &ignore,
            categorical: &categorical,
            ..ReadOptions::new("species")
        };
        let (data, schema) = train(MIXED, &opts);
        assert_eq!(
            schema,
            Schema {
                columns: vec![
                    Column::Numeric { name: "age".into() },
                    Column::Categorical {
                        name: "colour".into(),
                        levels: strings(&["blue", "green", "red"]),
                    },
                    Column::Categorical {
                        name: "size".into(),
                        levels: strings(&["2", "3", "10"]),
                    },
                ],
                label: "species".into(),
                class_names: strings(&["bird", "cat", "dog"]),
            }
        );
        assert_eq!(schema.num_features(), 7);
        assert_eq!(
            schema.feature_names(),
            strings(&[
                "age",
                "colour=blue",
                "colour=green",
                "colour=red",
                "size=2",
                "size=3",
                "size=10"
            ])
        );
        assert_eq!(data.len(), 4);
        assert_eq!(data.num_features, 7);
        assert_eq!(data.num_classes, 3);
        assert_eq!(data.labels, vec![1, 2, 1, 0]);
        assert_eq!(data.row(0), &[30.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
        assert_eq!(data.row(1), &[40.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        assert_eq!(data.row(2), &[50.5, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
        assert_eq!(data.row(3), &[-10.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0]);

        // The schema survives a model card (JSON) unchanged, in the tagged form.
        let json = serde_json::to_string(&schema).unwrap();
        assert!(
            json.contains(r#"{"kind":"numeric","name":"age"}"#),
            "{json}"
        );
        assert!(json.contains(r#""kind":"categorical""#), "{json}");
        assert_eq!(serde_json::from_str::<Schema>(&json).unwrap(), schema);
    }

    #[test]
    fn text_columns_are_categorical_without_being_named() {
        let (_, schema) = train("x,c,y\n1,a,0\n2,b,1\n", &ReadOptions::new("y"));
        assert!(matches!(schema.columns[1], Column::Categorical { .. }));
        assert!(matches!(schema.columns[0], Column::Numeric { .. }));
    }

    #[test]
    fn integer_labels_sort_numerically_and_classes_can_be_given() {
        let text = "x,y\n1,10\n2,2\n3,1\n";
        let (data, schema) = train(text, &ReadOptions::new("y"));
        assert_eq!(schema.class_names, strings(&["1", "2", "10"]));
        assert_eq!(data.labels, vec![2, 1, 0]);

        let classes = strings(&["10", "2", "1", "3"]);
        let opts = ReadOptions {
            classes: Some(&classes),
            ..ReadOptions::new("y")
        };
        let (data, schema) = train(text, &opts);
        assert_eq!(schema.class_names, classes);
        assert_eq!(data.num_classes, 4);
        assert_eq!(data.labels, vec![0, 1, 2]);
    }

    #[test]
    fn test_file_is_encoded_with_the_training_schema() {
        let ignore = strings(&["id"]);
        let categorical = strings(&["size"]);
        let opts = ReadOptions {
            ignore: &ignore,
            categorical: &categorical,
            ..ReadOptions::new("species")
        };
        let (_, schema) = train(MIXED, &opts);
        // Other column order, an extra column, fewer levels than training, no id column.
        let test = "species,size,extra,colour,age\ndog,3,x,red,1\ncat,10,y,red,2\n";
        let data = parse_with_schema(&origin(), test, &schema, None, true).unwrap();
        assert_eq!(data.num_features, 7);
        assert_eq!(data.num_classes, 3);
        assert_eq!(data.labels, vec![2, 1]);
        assert_eq!(data.row(0), &[1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0]);
        assert_eq!(data.row(1), &[2.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0]);

        // Prediction inputs: no label column, labels 0.
        let inputs = "age\tcolour\tsize\n7\tblue\t2\n";
        let data =
            parse_with_schema(Path::new("inputs.tsv"), inputs, &schema, None, false).unwrap();
        assert_eq!(data.labels, vec![0]);
        assert_eq!(data.row(0), &[7.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);

        // The label column is required when labelled.
        let e = parse_with_schema(
            &origin(),
            "age,colour,size\n7,blue,2\n",
            &schema,
            None,
            true,
        )
        .unwrap_err();
        assert!(message(e).contains(r#"no column "species" for the label"#));
    }

    #[test]
    fn test_file_errors_name_line_column_and_value() {
        let (_, schema) = train(
            "age,colour,y\n1,red,a\n2,blue,b\n3,green,a\n",
            &ReadOptions::new("y"),
        );
        let check = |text: &str, expected: &str| {
            let e = parse_with_schema(&origin(), text, &schema, None, true).unwrap_err();
            let m = message(e);
            assert!(m.contains(expected), "{m:?} should contain {expected:?}");
        };
        check(
            "age,colour,y\n1,red,a\n1,red,a\nabc,red,b\n",
            r#"line 4, column "age": "abc" is not a number (the column is numeric in the training file)"#,
        );
        check(
            "age,colour,y\n1,purple,a\n",
            r#"line 2, column "colour": "purple" is not a level of the column in the training file (known levels: "blue", "green", "red")"#,
        );
        check(
            "age,colour,y\n1,red,c\n",
            r#"line 2, column "y": "c" is not one of the classes ("a", "b")"#,
        );
        check("colour,y\nred,a\n", r#"no column "age""#);
        check(
            "age,colour,y\n1,,a\n",
            r#"line 2, column "colour": empty cell"#,
        );
        check(
            "age,colour,y\nNA,red,a\n",
            r#"line 2, column "age": "NA" is a missing value"#,
        );
    }

    #[test]
    fn unknown_level_lists_only_the_first_levels() {
        let mut text = String::from("x,c,y\n");
        for i in 0..30 {
            text.push_str(&format!("1,L{i:02},{}\n", i % 2));
        }
        let (_, schema) = train(&text, &ReadOptions::new("y"));
        let e = parse_with_schema(&origin(), "x,c,y\n1,zzz,0\n", &schema, None, true).unwrap_err();
        let m = message(e);
        assert!(m.contains(r#""zzz""#) && m.contains(r#""L00""#), "{m}");
        assert!(m.contains("and 20 more") && !m.contains("L29"), "{m}");
    }

    #[test]
    fn training_errors_name_line_column_and_value() {
        let y = ReadOptions::new("y");
        let check = |text: &str, opts: &ReadOptions, expected: &str| {
            let m = train_err(text, opts);
            assert!(m.contains(expected), "{m:?} should contain {expected:?}");
        };
        check("", &y, "no header row");
        check("x,y\n", &y, "no data rows");
        check("x,y\n\n \n", &y, "no data rows");
        check("x,x,y\n1,2,a\n", &y, r#"the header names column "x" twice"#);
        check("x,,y\n1,2,a\n", &y, "column 2 has no name");
        check(
            "x,z\n1,a\n2,b\n",
            &y,
            r#"no column "y" for the label (the header has: "x", "z")"#,
        );
        let ignore = strings(&["id"]);
        check(
            "x,y\n1,a\n2,b\n",
            &ReadOptions {
                ignore: &ignore,
                ..y
            },
            r#"no column "id" listed in `ignore`"#,
        );
        let categorical = strings(&["kind"]);
        check(
            "x,y\n1,a\n2,b\n",
            &ReadOptions {
                categorical: &categorical,
                ..y
            },
            r#"no column "kind" listed in `categorical`"#,
        );
        let label = strings(&["y"]);
        check(
            "x,y\n1,a\n2,b\n",
            &ReadOptions {
                ignore: &label,
                ..y
            },
            "is the label column",
        );
        check("x,y\n1,a\n,b\n", &y, r#"line 3, column "x": empty cell"#);
        // Physical line numbers: blank lines and quoted line breaks count.
        check(
            "x,c,y\n1,\"p\nq\",a\n\n2,r,b\n\r\n,r,b\n",
            &y,
            r#"line 7, column "x": empty cell"#,
        );
        for (text, line) in [
            ("x,y\r\n1,a\r\n,b\r\n", 3),
            ("x,y\r\n1,a\r\n\r\n\r\n,b\r\n", 5),
            ("\n\nx,y\r\r1,a\r,b", 6),
            ("x,y\n\n1,a\n  \n,b\n", 5),
        ] {
            check(text, &y, &format!(r#"line {line}, column "x": empty cell"#));
        }
        check(
            "\nx,x,y\n1,2,a\n",
            &y,
            r#"line 2: the header names column "x" twice"#,
        );
        check(
            "x,y\n1,a\nNaN,b\n",
            &y,
            r#"line 3, column "x": "NaN" is a missing value"#,
        );
        check(
            "x,y\n1,a\n?,b\n",
            &y,
            r#"line 3, column "x": "?" is a missing value"#,
        );
        check(
            "x,y\n1,a\n-inf,b\n",
            &y,
            r#"line 3, column "x": "-inf" is not a finite"#,
        );
        check(
            "x,y\n1,a\n1e39,b\n",
            &y,
            r#"line 3, column "x": "1e39" is not a finite"#,
        );
        check(
            "x,c,y\n1,p,a\n2,,b\n",
            &y,
            r#"line 3, column "c": empty cell"#,
        );
        check("x,y\n1,a\n2,\n", &y, r#"line 3, column "y": empty label"#);
        check("x,y\n1,a\n2,a\n", &y, "the label column has 1 class ");
        check(
            "x,y\n1,a\n2,b,3\n3,a\n",
            &y,
            "line 3: 3 fields, but the header has 2 columns",
        );
        check(
            "x,y\n1,a\n2\n",
            &y,
            "line 3: 1 fields, but the header has 2 columns",
        );
        check("y\na\nb\n", &y, "no feature columns");
        let classes = strings(&["a", "b"]);
        check(
            "x,y\n1,a\n2,b\n3,c\n",
            &ReadOptions {
                classes: Some(&classes),
                ..y
            },
            r#"line 4, column "y": "c" is not one of the classes ("a", "b")"#,
        );
        let dup = strings(&["a", "b", "a"]);
        check(
            "x,y\n1,a\n2,b\n",
            &ReadOptions {
                classes: Some(&dup),
                ..y
            },
            r#"names "a" twice"#,
        );
        let mut many = String::from("x,y\n");
        for i in 0..=MAX_CLASSES {
            many.push_str(&format!("1,c{i}\n"));
        }
        check(&many, &y, "the label column has 65536 classes");
        let mut ids = String::from("x,id,y\n");
        for i in 0..=MAX_LEVELS {
            ids.push_str(&format!("1,u{i},{}\n", i % 2));
        }
        check(&ids, &y, r#"column "id" has 1001 distinct values"#);
        check(
            "x,y\n1,a\n2,b\n",
            &ReadOptions {
                delimiter: Some(b'"'),
                ..y
            },
            "delimiter",
        );
    }

    #[test]
    fn quoted_fields_tabs_and_byte_order_mark() {
        let (data, schema) = train(
            "\u{feff}\"x\",\"c\",y\n\"1.5\",\"New York, NY\",a\n2,Paris,b\n",
            &ReadOptions::new("y"),
        );
        assert_eq!(
            schema.feature_names(),
            strings(&["x", "c=New York, NY", "c=Paris"])
        );
        assert_eq!(data.row(0), &[1.5, 1.0, 0.0]);

        let (data, _) = parse_training(
            Path::new("t.TSV"),
            "x\ty\n1\ta\n2\tb\n",
            &ReadOptions::new("y"),
        )
        .unwrap();
        assert_eq!(data.features, vec![1.0, 2.0]);

        let (data, _) = train(
            "x;y\n1;a\n2;b\n",
            &ReadOptions {
                delimiter: Some(b';'),
                ..ReadOptions::new("y")
            },
        );
        assert_eq!(data.features, vec![1.0, 2.0]);
    }

    #[test]
    fn files_on_disk_and_bad_utf8() {
        let dir = std::env::temp_dir().join(format!("tabular-data-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let train_path = dir.join("train.tsv");
        std::fs::write(&train_path, "x\tc\ty\n1\tu\ta\n2\tv\tb\n").unwrap();
        let (data, schema) = read_training(&train_path, &ReadOptions::new("y")).unwrap();
        assert_eq!(data.len(), 2);

        let test_path = dir.join("test.tsv");
        std::fs::write(&test_path, "x\tc\ty\n3\tv\ta\n").unwrap();
        let test = read_with_schema(&test_path, &schema, None, true).unwrap();
        assert_eq!(test.features, vec![3.0, 0.0, 1.0]);

        let bad = dir.join("bad.csv");
        std::fs::write(&bad, b"x,y\n1,a\n2,\xff\n").unwrap();
        match read_training(&bad, &ReadOptions::new("y")).unwrap_err() {
            Error::Data { path, message } => {
                assert_eq!(path, bad);
                assert!(message.contains("line 3: not valid UTF-8"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        match read_training(&dir.join("absent.csv"), &ReadOptions::new("y")).unwrap_err() {
            Error::Io { path, .. } => assert_eq!(path, dir.join("absent.csv")),
            other => panic!("{other:?}"),
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `n` rows per class: label `c` repeated, feature = row index.
    fn classes_of_sizes(sizes: &[usize]) -> TabularDataset {
        let mut labels = Vec::new();
        for (c, &n) in sizes.iter().enumerate() {
            labels.extend(std::iter::repeat_n(c as u16, n));
        }
        // Interleave so that classes are not contiguous.
        labels.sort_by_key(|&y| (y as usize * 7919) % 13);
        TabularDataset {
            features: (0..labels.len()).map(|i| i as f32).collect(),
            num_features: 1,
            num_classes: sizes.len(),
            labels,
        }
    }

    fn count(labels: &[u16], c: u16) -> usize {
        labels.iter().filter(|&&y| y == c).count()
    }

    #[test]
    fn stratified_split_is_deterministic_disjoint_complete_and_proportional() {
        let data = classes_of_sizes(&[100, 50, 10, 3, 1]);
        let (rest, held) = data.split_stratified(0.2, 7);
        let (rest2, held2) = data.split_stratified(0.2, 7);
        assert_eq!(rest, rest2);
        assert_eq!(held, held2);
        let (_, held3) = data.split_stratified(0.2, 8);
        assert_ne!(held, held3, "another seed draws other rows");

        // Features are row indices: disjoint, complete, each in file order.
        let r: Vec<usize> = rest.features.iter().map(|&x| x as usize).collect();
        let h: Vec<usize> = held.features.iter().map(|&x| x as usize).collect();
        assert!(r.windows(2).all(|w| w[0] < w[1]));
        assert!(h.windows(2).all(|w| w[0] < w[1]));
        let mut all: Vec<usize> = r.iter().chain(&h).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..data.len()).collect::<Vec<_>>());
        for (&i, &y) in r.iter().zip(&rest.labels).chain(h.iter().zip(&held.labels)) {
            assert_eq!(data.labels[i], y);
        }

        // round(0.2 n), at least 1 for n >= 2, none from a class of 1.
        for (c, expected) in [(0u16, 20), (1, 10), (2, 2), (3, 1), (4, 0)] {
            assert_eq!(count(&held.labels, c), expected, "class {c}");
            assert_eq!(count(&rest.labels, c), count(&data.labels, c) - expected);
        }
        assert_eq!(rest.num_classes, 5);
        assert_eq!(held.num_classes, 5);

        // Edges: nothing held out, everything held out, never a whole class below 1.
        let (rest, held) = data.split_stratified(0.0, 1);
        assert_eq!((rest.len(), held.len()), (data.len(), 0));
        let (rest, held) = data.split_stratified(1.0, 1);
        assert_eq!((rest.len(), held.len()), (0, data.len()));
        let (rest, _) = data.split_stratified(0.99, 1);
        for c in 0..5 {
            assert!(count(&rest.labels, c) >= 1);
        }
        let (rest, held) = data.split_stratified(f64::NAN, 1);
        assert_eq!((rest.len(), held.len()), (data.len(), 0));
    }

    #[test]
    fn subset_and_fingerprint() {
        let (data, _) = train("x,c,y\n1,u,a\n2,v,b\n3,u,a\n", &ReadOptions::new("y"));
        let sub = data.subset(&[2, 0]);
        assert_eq!(sub.features, vec![3.0, 1.0, 0.0, 1.0, 1.0, 0.0]);
        assert_eq!(sub.labels, vec![0, 0]);
        let fp = data.fingerprint();
        assert_eq!(fp.len(), 64);
        assert!(
            fp.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(fp, data.clone().fingerprint());
        assert_ne!(fp, data.subset(&[0, 1, 2, 2]).fingerprint());
        let mut other = data.clone();
        other.labels[0] = 1;
        assert_ne!(fp, other.fingerprint());
        let mut other = data.clone();
        other.num_classes = 3;
        assert_ne!(fp, other.fingerprint());
    }

    #[test]
    fn standardize_gives_mean_0_std_1_and_handles_constant_columns() {
        let (data, _) = train(
            "a,b,k,y\n1,0.1,5,p\n2,0.1,5,q\n3,0.1,5,p\n10,0.1,5,q\n-4,0.1,5,p\n",
            &ReadOptions::new("y"),
        );
        let s = Standardize::of(&data);
        assert_eq!(s.std[1], 1.0);
        assert_eq!(s.std[2], 1.0);
        let nf = data.num_features;
        let mut out = vec![0f32; nf];
        let mut rows = Vec::new();
        for i in 0..data.len() {
            s.apply_into(data.row(i), &mut out);
            rows.push(out.clone());
        }
        let n = rows.len() as f64;
        let mean = |j: usize| rows.iter().map(|r| f64::from(r[j])).sum::<f64>() / n;
        let var = |j: usize| {
            rows.iter()
                .map(|r| (f64::from(r[j]) - mean(j)).powi(2))
                .sum::<f64>()
                / n
        };
        assert!(mean(0).abs() < 1e-6, "{}", mean(0));
        assert!((var(0) - 1.0).abs() < 1e-5, "{}", var(0));
        for row in &rows {
            assert_eq!(row[1], 0.0, "a constant column standardises to exactly 0");
            assert_eq!(row[2], 0.0);
        }

        let empty = data.subset(&[]);
        let s = Standardize::of(&empty);
        assert_eq!(s.mean, vec![0.0; nf]);
        assert_eq!(s.std, vec![1.0; nf]);
    }

    #[test]
    #[should_panic(expected = "Standardize::apply_into")]
    fn standardize_refuses_a_row_of_the_wrong_width() {
        let s = Standardize {
            mean: vec![0.0; 2],
            std: vec![1.0; 2],
        };
        s.apply_into(&[1.0], &mut [0.0; 2]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn parse_training_never_panics(text in any::<String>()) {
            let _ = parse_training(&origin(), &text, &ReadOptions::new("y"));
        }

        #[test]
        fn parse_training_never_panics_on_csv_like_text(
            body in "[ab01y.,;\"\t\r\n ?e+-]{0,300}",
        ) {
            let text = format!("a,b,y\n{body}");
            let _ = parse_training(&origin(), &text, &ReadOptions::new("y"));
        }

        #[test]
        fn parsed_rows_are_consistent(
            rows in prop::collection::vec(
                (
                    // Mostly numbers / mostly levels, with some noise.
                    prop_oneof![40 => "-?[0-9]{1,3}(\\.[0-9])?", 1 => "[ab0-9 .?e+-]{0,4}"],
                    prop_oneof![40 => "[abc]", 1 => "[ab0-9 .e-]{0,3}"],
                    "[01a]",
                    "\r?\n",
                ),
                1..25,
            ),
            categorical in any::<bool>(),
            ignore in any::<bool>(),
            given_classes in any::<bool>(),
            fraction in -0.5f64..1.5,
            seed in any::<u64>(),
        ) {
            let mut text = String::from("a,b,y\n");
            for (a, b, y, end) in &rows {
                text.push_str(&format!("{a},{b},{y}{end}"));
            }
            let cat = strings(&["a"]);
            let ign = strings(&["b"]);
            let classes = strings(&["0", "1", "a"]);
            let opts = ReadOptions {
                categorical: if categorical { &cat } else { &[] },
                ignore: if ignore { &ign } else { &[] },
                classes: given_classes.then_some(classes.as_slice()),
                ..ReadOptions::new("y")
            };
            match parse_training(&origin(), &text, &opts) {
                Ok((data, schema)) => {
                    prop_assert_eq!(data.len(), rows.len());
                    prop_assert_eq!(data.features.len(), data.len() * schema.num_features());
                    prop_assert!(data.labels.iter().all(|&y| (y as usize) < data.num_classes));
                    let (rest, held) = data.split_stratified(fraction, seed);
                    prop_assert_eq!(rest.len() + held.len(), data.len());
                    let s = Standardize::of(&data);
                    prop_assert!(s.std.iter().all(|&x| x.is_finite() && x > 0.0));
                    prop_assert_eq!(data.fingerprint().len(), 64);
                    let again = parse_with_schema(&origin(), &text, &schema, None, true);
                    prop_assert_eq!(again.ok(), Some(data));
                    let _ = parse_with_schema(&origin(), &text, &schema, None, false);
                }
                Err(e) => {
                    // An error about a cell names the line the row is on and the cell's value.
                    let m = message(e);
                    if let Some((line, rest)) =
                        m.strip_prefix("line ").and_then(|r| r.split_once(", column "))
                    {
                        let line: usize = line.parse().unwrap();
                        prop_assert!((2..rows.len() + 2).contains(&line), "{}", m);
                        let (a, b, y, _) = &rows[line - 2];
                        let cell = match rest.as_bytes().get(1) {
                            Some(b'a') => a,
                            Some(b'b') => b,
                            _ => y,
                        }
                        .trim();
                        if cell.is_empty() {
                            prop_assert!(rest.contains("empty"), "{}", m);
                        } else {
                            prop_assert!(rest.contains(&format!("{cell:?}")), "{}", m);
                        }
                    }
                }
            }
        }
    }
}
