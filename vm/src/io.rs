//! Reading inputs (CSV or .npy) and writing outputs (CSV), with errors that name the file, row
//! and column.
//!
//! A CSV input holds numbers separated by commas, one row a line; a first row with no number in
//! it is taken for a header of column names and skipped (a row that mixes names and numbers is
//! data, and its first name is reported as not a number). An .npy input holds
//! a vector or a matrix of float64, float32 or int64; it is read straight into one vector, with
//! no text to parse, so inputs of tens of millions of rows cost their own size. It binds to the
//! declared shape: a matrix row by row, a vector one value a line (or one row), a scalar one value.
//! Outputs are written to a temporary file and renamed, so none is ever half-written.

use crate::error::VmError;
use crate::value::{fmt_shape, Plain};
use ndarray::{ArrayD, IxDyn};
use sf_isa::{display_shape, DType, DebugInfo, InputDecl, Segment};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A rectangular table of numbers as read from a file.
pub struct Table {
    pub path: PathBuf,
    pub rows: usize,
    pub cols: usize,
    pub values: Values,
}

pub enum Values {
    Fix(Vec<f64>),
    Int(Vec<i64>),
}

/// Reads an input by its file's extension: `.npy`, else CSV.
pub fn read_table(path: &Path, dtype: DType) -> Result<Table, VmError> {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy")) {
        read_npy(path, dtype)
    } else {
        read_csv(path, dtype)
    }
}

/// An .npy file of float64, float32 or int64, of rank 1 (one value a row) or 2.
pub fn read_npy(path: &Path, dtype: DType) -> Result<Table, VmError> {
    use ndarray_npy::read_npy;
    let data_err = |message: String| VmError::Data { path: path.to_path_buf(), message };
    let table = |shape: &[usize], values: Values| -> Result<Table, VmError> {
        let (rows, cols) = match *shape {
            [n] => (n, 1),
            [r, c] => (r, c),
            _ => return Err(data_err(format!("an array of shape {}; inputs are vectors or matrices", fmt_shape(shape)))),
        };
        Ok(Table { path: path.to_path_buf(), rows, cols, values })
    };
    check_npy_size(path)?;
    match dtype {
        DType::Fix => {
            let a: ArrayD<f64> = match read_npy::<_, ArrayD<f64>>(path) {
                Ok(a) => a,
                Err(_) => read_npy::<_, ArrayD<f32>>(path).map(|a| a.mapv(f64::from)).map_err(|e| data_err(format!("not an .npy file of float64 or float32: {e}")))?,
            };
            if let Some(bad) = a.iter().position(|v| !v.is_finite()) {
                let value = a.iter().nth(bad).copied().unwrap_or(f64::NAN);
                // Rows and columns count from 1, as in a CSV's errors.
                let at = match a.shape() {
                    [_, cols] if *cols > 0 => format!("row {}, column {}", bad / cols + 1, bad % cols + 1),
                    _ => format!("row {}", bad + 1),
                };
                return Err(data_err(format!("{at}: {value} is not a finite number")));
            }
            let shape = a.shape().to_vec();
            table(&shape, Values::Fix(row_major(a)))
        }
        DType::Int => {
            let a: ArrayD<i64> = read_npy(path).map_err(|e| data_err(format!("not an .npy file of int64: {e}")))?;
            let shape = a.shape().to_vec();
            table(&shape, Values::Int(row_major(a)))
        }
        DType::Bool => Err(data_err("bool inputs are not supported yet".into())),
    }
}

/// Compares what an .npy header declares with the file's length and the memory available,
/// before anything is allocated: a header that claims 10^14 elements in a file of 100 bytes is
/// an error naming the file, not an allocation of 800 TB. A header this cannot parse is left to
/// the reader, which names the problem.
fn check_npy_size(path: &Path) -> Result<(), VmError> {
    let data_err = |message: String| VmError::Data { path: path.to_path_buf(), message };
    let Ok(mut file) = std::fs::File::open(path) else { return Ok(()) };
    let Some((shape, item, offset)) = npy_header(&mut file) else { return Ok(()) };
    let length = file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
    let shape_text = format!("({})", shape.iter().map(u64::to_string).collect::<Vec<_>>().join(", "));
    let Some(elements) = sf_isa::elements_within_limit(shape.iter().copied()) else {
        return Err(data_err(format!("the header declares shape {shape_text}, more than 2^40 elements, the most an input may hold")));
    };
    let declared = elements.saturating_mul(item);
    if length.saturating_sub(offset) < declared {
        return Err(data_err(format!(
            "the header declares shape {shape_text} ({declared} bytes of data), but the file holds {} bytes after its header: it is cut short, or its header is wrong",
            length.saturating_sub(offset)
        )));
    }
    crate::limits::Limits::default().fits(elements, &format!("the input of shape {shape_text}")).map_err(|e| data_err(e.to_string()))
}

/// The shape, item size and data offset an .npy header declares, if it can be read.
fn npy_header(file: &mut std::fs::File) -> Option<(Vec<u64>, u64, u64)> {
    use std::io::Read;
    let mut lead = [0u8; 12];
    file.read_exact(&mut lead[..10]).ok()?;
    if &lead[..6] != b"\x93NUMPY" {
        return None;
    }
    let (len, start) = match lead[6] {
        1 => (u16::from_le_bytes([lead[8], lead[9]]) as usize, 10),
        2 | 3 => {
            file.read_exact(&mut lead[10..12]).ok()?;
            (u32::from_le_bytes([lead[8], lead[9], lead[10], lead[11]]) as usize, 12)
        }
        _ => return None,
    };
    if len > 1 << 20 {
        return None;
    }
    let mut header = vec![0u8; len];
    file.read_exact(&mut header).ok()?;
    let header = String::from_utf8(header).ok()?;
    let after = |key: &str| header.find(key).map(|at| &header[at + key.len()..]);
    let descr = after("'descr':")?.trim_start().strip_prefix('\'')?;
    let item: u64 = descr[..descr.find('\'')?].trim_start_matches(['<', '>', '|', '=']).get(1..)?.parse().ok()?;
    let shape = after("'shape':")?.trim_start().strip_prefix('(')?;
    let shape = &shape[..shape.find(')')?];
    let dims = shape.split(',').map(str::trim).filter(|d| !d.is_empty()).map(|d| d.parse().ok()).collect::<Option<Vec<u64>>>()?;
    Some((dims, item, (start + len) as u64))
}

/// The elements in row-major order, without a copy when they already lie so.
fn row_major<T: Clone>(a: ArrayD<T>) -> Vec<T> {
    if a.is_standard_layout() {
        let len = a.len();
        let (mut v, offset) = a.into_raw_vec_and_offset();
        let start = offset.unwrap_or(0);
        if start == 0 && v.len() == len {
            return v;
        }
        v.truncate(start + len);
        return v.split_off(start);
    }
    a.iter().cloned().collect()
}

pub fn read_csv(path: &Path, dtype: DType) -> Result<Table, VmError> {
    let data_err = |message: String| VmError::Data { path: path.to_path_buf(), message };
    let file = std::fs::File::open(path).map_err(|e| data_err(format!("cannot open: {e}")))?;
    // The file may hold more numbers than memory: checked as they come, a million at a time,
    // after the file itself (a line is read whole, and one line may be the whole file).
    let limits = crate::limits::Limits::default();
    if let (Ok(meta), Some(available)) = (file.metadata(), limits.memory) {
        if meta.len() > available {
            return Err(data_err(format!("the file's {} bytes are more than the {available} bytes of memory this machine has available", meta.len())));
        }
    }
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(file);
    let mut cols = None;
    let mut rows = 0;
    let mut header = None;
    let (mut fix, mut int) = (Vec::new(), Vec::new());
    let mut next_check = 1 << 20;
    for record in reader.records() {
        if fix.len() + int.len() >= next_check {
            limits.fits(next_check as u64, &format!("the input, at row {},", rows + 1)).map_err(|e| data_err(e.to_string()))?;
            next_check += 1 << 20;
        }
        let record = record.map_err(|e| data_err(format!("cannot read: {e}")))?;
        let row = record.position().map_or(rows + 1, |p| p.line() as usize);
        if record.len() == 1 && record[0].is_empty() {
            continue;
        }
        // A first row with no number in it is a header: column names, skipped.
        if cols.is_none() && header.is_none() && record.iter().all(|f| f.parse::<f64>().is_err()) {
            header = Some((row, record.len()));
            continue;
        }
        match (cols, header) {
            (None, Some((h, c))) if c != record.len() => {
                return Err(data_err(format!("row {row} has {} columns, but the header (row {h}) names {c}", record.len())));
            }
            (None, _) => cols = Some((row, record.len())),
            (Some((first, c)), _) if c != record.len() => {
                return Err(data_err(format!("row {row} has {} columns, but row {first} has {c}", record.len())));
            }
            _ => {}
        }
        for (i, field) in record.iter().enumerate() {
            let bad = |what: &str| data_err(format!("row {row}, column {}: `{field}` is not {what}", i + 1));
            match dtype {
                DType::Fix => match field.parse::<f64>() {
                    Ok(v) if v.is_finite() => fix.push(v),
                    _ => return Err(bad("a finite number")),
                },
                DType::Int => int.push(field.parse::<i64>().map_err(|_| bad("an integer"))?),
                DType::Bool => return Err(data_err("bool inputs are not supported yet".into())),
            }
        }
        rows += 1;
    }
    let Some((_, cols)) = cols else {
        return Err(data_err(match header {
            Some((h, _)) => format!("the file has a header (row {h}) but no rows of numbers"),
            None => "the file is empty".into(),
        }));
    };
    let values = if dtype == DType::Int { Values::Int(int) } else { Values::Fix(fix) };
    Ok(Table { path: path.to_path_buf(), rows, cols, values })
}

/// Shapes a table as the input declaration says, binding shape symbols in `bindings`.
pub fn bind_input(decl: &InputDecl, table: Table, symbols: &[String], bindings: &mut [Option<u64>]) -> Result<Plain, VmError> {
    let declared = format!("{}{}", decl.dtype, display_shape(&decl.shape, symbols));
    let err = |message: String| VmError::Data { path: table.path.clone(), message };
    let shape: Vec<usize> = match decl.shape.len() {
        0 if table.rows * table.cols == 1 => vec![],
        1 if table.cols == 1 => vec![table.rows],
        1 if table.rows == 1 => vec![table.cols],
        2 => vec![table.rows, table.cols],
        0 | 1 => {
            return Err(err(format!("has {} rows of {} values, but input `{}` is declared {declared}", table.rows, table.cols, decl.name)))
        }
        _ => return Err(err(format!("input `{}` has rank {}; CSV holds rank 2 at most", decl.name, decl.shape.len()))),
    };
    for (axis, (dim, &actual)) in decl.shape.iter().zip(&shape).enumerate() {
        let counted = match (shape.len(), axis) {
            (2, 0) => format!("{actual} rows"),
            (2, _) => format!("{actual} columns"),
            _ => format!("{actual} values"),
        };
        match (dim.as_const(), dim.terms.as_slice()) {
            (Some(c), _) if c as usize == actual => {}
            (Some(c), _) => return Err(err(format!("has {counted}, but input `{}` is declared {declared} (expected {c})", decl.name))),
            (None, [(sym, 1)]) if dim.constant == 0 => {
                let slot = bindings.get_mut(*sym as usize).ok_or_else(|| VmError::Internal("symbol out of range".into()))?;
                match *slot {
                    Some(b) if b as usize != actual => {
                        let name = symbols.get(*sym as usize).map_or("?", String::as_str);
                        return Err(err(format!("has {counted}, but `{name}` is already {b} from another input of this party")));
                    }
                    _ => *slot = Some(actual as u64),
                }
            }
            _ => return Err(VmError::Internal(format!("input dimension {} is not a symbol", dim.display(symbols)))),
        }
    }
    let shaped = |e: ndarray::ShapeError| VmError::Internal(e.to_string());
    Ok(match table.values {
        Values::Fix(v) => Plain::Fix(ArrayD::from_shape_vec(IxDyn(&shape), v).map_err(shaped)?),
        Values::Int(v) => Plain::Int(ArrayD::from_shape_vec(IxDyn(&shape), v).map_err(shaped)?),
    })
}

/// Reads and shapes the inputs `segment` declares, taking each file from `files` (input name,
/// path); binds the shape symbols they determine. `prefix` is how the command line names the
/// party's inputs (`alice.` in sim mode, nothing in party mode), for the messages.
pub fn load_inputs(segment: &Segment, party: &str, prefix: &str, files: &mut Vec<(String, PathBuf)>, symbols: &[String], debug: &DebugInfo) -> Result<(Vec<Plain>, Vec<Option<u64>>), VmError> {
    let mut bindings = vec![None; symbols.len()];
    let mut inputs = Vec::new();
    for decl in &segment.inputs {
        let Some(pos) = files.iter().position(|(n, _)| *n == decl.name) else {
            let shape = if decl.shape.is_empty() { String::new() } else { display_shape(&decl.shape, symbols) };
            return Err(VmError::Input(format!("missing --input {prefix}{}=FILE ({} declares it {}{shape} @{party})", decl.name, debug.describe(decl.loc), decl.dtype)));
        };
        let (_, path) = files.remove(pos);
        let named = |e: VmError| VmError::At { location: format!("input {prefix}{} of {party}", decl.name), line: None, error: Box::new(e) };
        let table = read_table(&path, decl.dtype).map_err(named)?;
        inputs.push(bind_input(decl, table, symbols, &mut bindings).map_err(named)?);
    }
    if let Some((name, _)) = files.first() {
        let known: Vec<String> = segment.inputs.iter().map(|d| format!("{prefix}{}", d.name)).collect();
        let known = if known.is_empty() { format!("{party} has no inputs") } else { format!("the inputs of {party} are {}", known.join(", ")) };
        return Err(VmError::Input(format!("--input {prefix}{name}: the program has no such input; {known}")));
    }
    Ok((inputs, bindings))
}

/// Writes `DIR/<party>/<name>.csv` atomically: a vector one value a line, a matrix one row a line.
pub fn write_output(dir: &Path, party: &str, name: &str, value: &Plain) -> Result<PathBuf, VmError> {
    let folder = dir.join(party);
    let path = folder.join(format!("{name}.csv"));
    let io = |source| VmError::Output { path: path.clone(), source };
    std::fs::create_dir_all(&folder).map_err(io)?;
    let text = match value {
        Plain::Fix(a) => format_rows(a, |v| format!("{v:?}")),
        Plain::Int(a) => format_rows(a, |v| v.to_string()),
        Plain::Bool(a) => format_rows(a, |&v| u8::from(v).to_string()),
    };
    let text = text.map_err(|shape| VmError::Value(format!("output `{name}` has shape {shape}; CSV holds rank 2 at most")))?;
    write_atomically(&path, text.as_bytes()).map_err(io)?;
    Ok(path)
}

/// Writes `bytes` to `path` through a temporary file beside it, synced and renamed, so that
/// no half-written file is ever left (the temporary goes on failure).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn format_rows<T>(a: &ArrayD<T>, fmt: impl Fn(&T) -> String) -> Result<String, String> {
    let mut out = String::new();
    match a.ndim() {
        0 | 1 => a.iter().for_each(|v| {
            out.push_str(&fmt(v));
            out.push('\n');
        }),
        2 => {
            for row in a.rows() {
                let cells: Vec<String> = row.iter().map(&fmt).collect();
                out.push_str(&cells.join(","));
                out.push('\n');
            }
        }
        _ => return Err(fmt_shape(a.shape())),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(name: &str, text: &str) -> Result<Table, String> {
        let dir = std::env::temp_dir().join(format!("sf-io-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let path = dir.join(format!("{name}.csv"));
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
        let table = read_csv(&path, DType::Fix).map_err(|e| e.to_string());
        let _ = std::fs::remove_dir_all(&dir);
        table
    }

    fn values(t: &Table) -> Vec<f64> {
        match &t.values {
            Values::Fix(v) => v.clone(),
            Values::Int(v) => v.iter().map(|&x| x as f64).collect(),
        }
    }

    #[test]
    fn a_header_row_is_detected_and_skipped() {
        let with = csv("with", "age, income\n31,5.5\n47,6.25\n").expect("a table");
        let without = csv("without", "31,5.5\n47,6.25\n").expect("a table");
        for t in [&with, &without] {
            assert_eq!((t.rows, t.cols), (2, 2));
            assert_eq!(values(t), [31.0, 5.5, 47.0, 6.25]);
        }
        // Quoted names, and names that look like words around numbers, are still a header.
        let quoted = csv("quoted", "\"x 1\",\"x 2\"\n1,2\n").expect("a table");
        assert_eq!((quoted.rows, quoted.cols), (1, 2));
    }

    #[test]
    fn header_errors_name_the_row() {
        let e = csv("mixed", "id,3\n1,2\n").err().expect("an error");
        assert!(e.contains("row 1, column 1: `id` is not a finite number"), "{e}");
        let e = csv("narrow", "a,b,c\n1,2\n").err().expect("an error");
        assert!(e.contains("row 2 has 2 columns, but the header (row 1) names 3"), "{e}");
        let e = csv("only", "a,b\n").err().expect("an error");
        assert!(e.contains("header (row 1) but no rows of numbers"), "{e}");
        let e = csv("late", "a,b\n1,2\nc,d\n").err().expect("an error");
        assert!(e.contains("row 3, column 1: `c`"), "a second row of names is data: {e}");
    }
}
