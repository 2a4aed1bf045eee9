//! The `.sfbc` module file: a fixed preamble, a bincode header with the chunk table, then chunks.
//!
//! ```text
//! offset 0   8 bytes   magic  "SFBC\0\r\n\x1a"
//! offset 8   u32 LE    format version
//! offset 12  u64 LE    header length H
//! offset 20  H bytes   header (bincode, fixed-width integers): module hash, parties, ring and
//!                      fraction bits, symbols, constants (dtype, shape), chunk table (kind,
//!                      party, item, offset, length, hash)
//! then       chunks    code and debug info: each one bincode value, its bytes cut into parts
//!                      at the chunk limit; constants: raw little-endian 8-byte elements,
//!                      split into parts at the chunk limit. Every chunk's BLAKE3 hash is in
//!                      the chunk table.
//! ```
//!
//! The module hash is BLAKE3 over the header with the hash field zeroed; since the header holds
//! every chunk's hash, it covers the whole file. Chunks are read on demand, so a party's VM reads
//! only its own code chunk and the debug information.

use crate::instr::{PartyId, Segment};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub const MAGIC: [u8; 8] = *b"SFBC\0\r\n\x1a";
pub const FORMAT_VERSION: u32 = 1;
/// No chunk is larger than this unless the compiler is told otherwise.
pub const DEFAULT_CHUNK_LIMIT: u64 = 64 << 20;
const PREAMBLE: u64 = 20;
/// A header larger than this is not one the compiler wrote.
const HEADER_LIMIT: u64 = 16 << 20;
/// Bincode refuses to allocate more than this for one decoded chunk.
const DECODE_LIMIT: usize = 1 << 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChunkKind {
    /// One party's segment.
    Code,
    /// Source text and locations, for error messages that name the `.sf` line.
    Debug,
    /// A part of public constant number `item`.
    Constant,
}

/// A public constant embedded at compile time (`load`).
#[derive(Clone, Debug, PartialEq)]
pub struct Constant {
    pub shape: Vec<u64>,
    pub values: ConstValues,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ConstValues {
    Fix(Vec<f64>),
    Int(Vec<i64>),
}

impl Constant {
    pub fn dtype(&self) -> crate::DType {
        match self.values {
            ConstValues::Fix(_) => crate::DType::Fix,
            ConstValues::Int(_) => crate::DType::Int,
        }
    }

    fn len(&self) -> usize {
        match &self.values {
            ConstValues::Fix(v) => v.len(),
            ConstValues::Int(v) => v.len(),
        }
    }

    /// Elements `range` as little-endian bytes.
    fn bytes(&self, range: std::ops::Range<usize>) -> Vec<u8> {
        match &self.values {
            ConstValues::Fix(v) => v[range].iter().flat_map(|x| x.to_le_bytes()).collect(),
            ConstValues::Int(v) => v[range].iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }
}

/// What the header says of a constant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConstantInfo {
    pub dtype: crate::DType,
    pub shape: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkEntry {
    pub kind: ChunkKind,
    pub party: Option<PartyId>,
    /// For a constant part: the constant's number.
    pub item: u32,
    pub offset: u64,
    pub len: u64,
    pub hash: [u8; 32],
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub module_hash: [u8; 32],
    pub parties: Vec<String>,
    pub ring_bits: u32,
    pub frac_bits: u32,
    /// Names of the shape symbols (`n`, `d`), indexed by `SymId`.
    pub symbols: Vec<String>,
    pub constants: Vec<ConstantInfo>,
    pub chunks: Vec<ChunkEntry>,
}

impl Header {
    /// The hex form of the module hash, as parties compare it.
    pub fn hash_hex(&self) -> String {
        self.module_hash.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn compute_hash(&self) -> [u8; 32] {
        let mut copy = self.clone();
        copy.module_hash = [0; 32];
        let bytes = encode(&copy).unwrap_or_default();
        *blake3::hash(&bytes).as_bytes()
    }

    fn chunk_name(&self, index: usize) -> String {
        let entry = &self.chunks[index];
        let what = match entry.kind {
            ChunkKind::Code => "code",
            ChunkKind::Debug => "debug-info",
            ChunkKind::Constant => return format!("chunk {index} (part of constant {})", entry.item),
        };
        match entry.party.and_then(|p| self.parties.get(p as usize)) {
            Some(party) => format!("chunk {index} ({what}, party {party})"),
            None => format!("chunk {index} ({what})"),
        }
    }
}

/// A source location, as the debug info stores it for each instruction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLoc {
    pub line: u32,
    pub col: u32,
    pub end_line: u32,
    pub end_col: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DebugInfo {
    pub file: String,
    pub source: String,
    pub locs: Vec<SourceLoc>,
}

impl DebugInfo {
    /// `file.sf:12` for a location index, or the file alone when the index is unknown.
    pub fn describe(&self, loc: u32) -> String {
        match self.locs.get(loc as usize) {
            Some(l) => format!("{}:{}", self.file, l.line),
            None => self.file.clone(),
        }
    }

    /// The text of the source line of a location, trimmed.
    pub fn line_text(&self, loc: u32) -> Option<&str> {
        let l = self.locs.get(loc as usize)?;
        self.source.lines().nth(l.line.checked_sub(1)? as usize).map(str::trim)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("a chunk limit of {limit} bytes is too small; give --chunk-size at least 8 bytes")]
    ChunkLimit { limit: u64 },
    #[error("cannot encode {what}: {message}")]
    Encode { what: String, message: String },
}

/// Everything that can be wrong with a module file. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not an sfbc module (wrong magic bytes); compile it with `sfc compile`")]
    BadMagic { path: PathBuf },
    #[error("{path} is module format version {found}, but this sfvm reads version {supported}; recompile it with the matching sfc")]
    Version { path: PathBuf, found: u32, supported: u32 },
    #[error("{path} is truncated: {what} ends at byte {end}, but the file has {size} bytes")]
    Truncated { path: PathBuf, what: String, end: u64, size: u64 },
    #[error("{path}: the header is corrupted ({detail})")]
    HeaderCorrupt { path: PathBuf, detail: String },
    #[error("{path}: {chunk} is corrupted (its hash does not match the chunk table)")]
    ChunkCorrupt { path: PathBuf, chunk: String },
    #[error("{path}: {chunk} cannot be decoded ({detail})")]
    ChunkDecode { path: PathBuf, chunk: String, detail: String },
    #[error("{path} has no {what}")]
    Missing { path: PathBuf, what: String },
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_fixed_int_encoding().with_limit::<DECODE_LIMIT>()
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, bincode::error::EncodeError> {
    bincode::serde::encode_to_vec(value, config())
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    match bincode::serde::decode_from_slice::<T, _>(bytes, config()) {
        Ok((value, used)) if used == bytes.len() => Ok(value),
        Ok((_, used)) => Err(format!("{} trailing bytes", bytes.len() - used)),
        Err(e) => Err(e.to_string()),
    }
}

/// The body of one chunk, produced when it is hashed and again when it is written, so that a
/// large constant is never held twice in memory.
enum Body<'a> {
    /// A part of an encoded segment or of the debug info.
    Encoded(&'a [u8]),
    ConstantPart(&'a Constant, std::ops::Range<usize>),
}

impl Body<'_> {
    fn bytes(&self) -> std::borrow::Cow<'_, [u8]> {
        match self {
            Body::Encoded(b) => std::borrow::Cow::Borrowed(b),
            Body::ConstantPart(c, range) => std::borrow::Cow::Owned(c.bytes(range.clone())),
        }
    }
}

/// Writes a module atomically: to a temporary file beside `path`, then renamed into place.
#[allow(clippy::too_many_arguments)]
pub fn write_module(
    path: &Path,
    parties: Vec<String>,
    frac_bits: u32,
    symbols: Vec<String>,
    segments: &[Segment],
    debug: &DebugInfo,
    constants: &[Constant],
    chunk_limit: u64,
) -> Result<Header, WriteError> {
    let enc_err = |what: &str, e: bincode::error::EncodeError| WriteError::Encode { what: what.to_string(), message: e.to_string() };
    if chunk_limit < 8 {
        return Err(WriteError::ChunkLimit { limit: chunk_limit });
    }
    let mut encoded: Vec<(ChunkKind, Option<PartyId>, Vec<u8>)> = Vec::new();
    for seg in segments {
        let what = format!("the code of party {}", parties.get(seg.party as usize).map_or("?", |s| s));
        encoded.push((ChunkKind::Code, Some(seg.party), encode(seg).map_err(|e| enc_err(&what, e))?));
    }
    encoded.push((ChunkKind::Debug, None, encode(debug).map_err(|e| enc_err("debug info", e))?));
    // Code and debug info are cut into parts at the limit, numbered by `item`, so that no
    // program is too large for a module.
    let mut bodies: Vec<(ChunkKind, Option<PartyId>, u32, Body)> = Vec::new();
    for (kind, party, bytes) in &encoded {
        let parts = bytes.chunks(chunk_limit as usize).enumerate();
        bodies.extend(parts.map(|(part, piece)| (*kind, *party, part as u32, Body::Encoded(piece))));
    }
    let per_part = (chunk_limit / 8) as usize;
    for (id, c) in constants.iter().enumerate() {
        let len = c.len();
        if len as u64 != c.shape.iter().product::<u64>() {
            return Err(WriteError::Encode { what: format!("constant {id}"), message: "its shape does not match its values".into() });
        }
        let mut start = 0;
        loop {
            let end = (start + per_part).min(len);
            bodies.push((ChunkKind::Constant, None, id as u32, Body::ConstantPart(c, start..end)));
            start = end;
            if start >= len {
                break;
            }
        }
    }
    let mut entries = Vec::with_capacity(bodies.len());
    for (kind, party, item, body) in &bodies {
        let bytes = body.bytes();
        entries.push(ChunkEntry { kind: *kind, party: *party, item: *item, offset: 0, len: bytes.len() as u64, hash: *blake3::hash(&bytes).as_bytes() });
    }
    let mut header = Header {
        module_hash: [0; 32],
        parties,
        ring_bits: crate::RING_BITS,
        frac_bits,
        symbols,
        constants: constants.iter().map(|c| ConstantInfo { dtype: c.dtype(), shape: c.shape.clone() }).collect(),
        chunks: entries,
    };
    // The header's encoded size does not depend on the offsets (fixed-width integers).
    let header_len = encode(&header).map_err(|e| enc_err("header", e))?.len() as u64;
    let mut offset = PREAMBLE + header_len;
    for entry in &mut header.chunks {
        entry.offset = offset;
        offset += entry.len;
    }
    header.module_hash = header.compute_hash();
    let header_bytes = encode(&header).map_err(|e| enc_err("header", e))?;

    let io = |source| WriteError::Io { path: path.to_path_buf(), source };
    let tmp = path.with_extension("sfbc.tmp");
    let result = (|| {
        let mut f = std::io::BufWriter::new(File::create(&tmp)?);
        f.write_all(&MAGIC)?;
        f.write_all(&FORMAT_VERSION.to_le_bytes())?;
        f.write_all(&header_len.to_le_bytes())?;
        f.write_all(&header_bytes)?;
        for (_, _, _, body) in &bodies {
            f.write_all(&body.bytes())?;
        }
        f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(header)
}

/// An open module whose preamble, header and chunk table have been validated.
pub struct ModuleFile {
    path: PathBuf,
    file: File,
    pub header: Header,
}

impl ModuleFile {
    pub fn open(path: &Path) -> Result<ModuleFile, LoadError> {
        let io = |source| LoadError::Io { path: path.to_path_buf(), source };
        let mut file = File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        let truncated = |what: &str, end: u64| LoadError::Truncated {
            path: path.to_path_buf(),
            what: what.to_string(),
            end,
            size,
        };
        let mut preamble = [0u8; PREAMBLE as usize];
        let n = read_up_to(&mut file, &mut preamble).map_err(io)?;
        if n < 8 || preamble[..8] != MAGIC {
            return Err(LoadError::BadMagic { path: path.to_path_buf() });
        }
        if n < PREAMBLE as usize {
            return Err(truncated("the preamble", PREAMBLE));
        }
        let version = u32::from_le_bytes(preamble[8..12].try_into().unwrap_or_default());
        if version != FORMAT_VERSION {
            return Err(LoadError::Version { path: path.to_path_buf(), found: version, supported: FORMAT_VERSION });
        }
        let header_len = u64::from_le_bytes(preamble[12..20].try_into().unwrap_or_default());
        let corrupt = |detail: String| LoadError::HeaderCorrupt { path: path.to_path_buf(), detail };
        if header_len > HEADER_LIMIT {
            return Err(corrupt(format!("header length {header_len} is implausible")));
        }
        if PREAMBLE + header_len > size {
            return Err(truncated("the header", PREAMBLE + header_len));
        }
        let mut bytes = vec![0u8; header_len as usize];
        file.read_exact(&mut bytes).map_err(io)?;
        let header: Header = decode(&bytes).map_err(corrupt)?;
        if header.compute_hash() != header.module_hash {
            return Err(corrupt("module hash does not match".to_string()));
        }
        if header.ring_bits != crate::RING_BITS || header.frac_bits == 0 || header.frac_bits >= 64 {
            return Err(corrupt(format!(
                "ring of {} bits with {} fraction bits is not supported",
                header.ring_bits, header.frac_bits
            )));
        }
        for (i, c) in header.chunks.iter().enumerate() {
            let end = c.offset.checked_add(c.len).ok_or_else(|| corrupt(format!("chunk {i} has an impossible extent")))?;
            if c.offset < PREAMBLE + header_len {
                return Err(corrupt(format!("{} overlaps the header", header.chunk_name(i))));
            }
            if c.party.is_some_and(|p| p as usize >= header.parties.len()) {
                return Err(corrupt(format!("chunk {i} names a party that does not exist")));
            }
            if end > size {
                return Err(truncated(&header.chunk_name(i), end));
            }
        }
        Ok(ModuleFile { path: path.to_path_buf(), file, header })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads chunk `index` and checks its hash.
    fn chunk_bytes(&mut self, index: usize) -> Result<Vec<u8>, LoadError> {
        let entry = self.header.chunks[index].clone();
        let io = |source| LoadError::Io { path: self.path.clone(), source };
        self.file.seek(SeekFrom::Start(entry.offset)).map_err(io)?;
        let mut body = vec![0u8; entry.len as usize];
        self.file.read_exact(&mut body).map_err(io)?;
        if *blake3::hash(&body).as_bytes() != entry.hash {
            return Err(LoadError::ChunkCorrupt { path: self.path.clone(), chunk: self.header.chunk_name(index) });
        }
        Ok(body)
    }

    /// Public constant `id`, read part by part, every part's hash checked.
    pub fn constant(&mut self, id: u32) -> Result<Constant, LoadError> {
        let info = self.header.constants.get(id as usize).cloned().ok_or_else(|| LoadError::Missing {
            path: self.path.clone(),
            what: format!("constant {id}"),
        })?;
        let parts: Vec<usize> = (0..self.header.chunks.len()).filter(|&i| self.header.chunks[i].kind == ChunkKind::Constant && self.header.chunks[i].item == id).collect();
        let len = info.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d)).unwrap_or(u64::MAX);
        let total: u64 = parts.iter().map(|&i| self.header.chunks[i].len).sum();
        if total != len.saturating_mul(8) {
            return Err(LoadError::ChunkDecode {
                path: self.path.clone(),
                chunk: format!("constant {id}"),
                detail: format!("its parts hold {total} bytes for {len} elements"),
            });
        }
        // Part by part: the bytes of one part at a time, never the whole constant twice.
        let word = |c: &[u8]| {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            w
        };
        let n = (total / 8) as usize;
        let mut values = match info.dtype {
            crate::DType::Int => ConstValues::Int(Vec::with_capacity(n)),
            _ => ConstValues::Fix(Vec::with_capacity(n)),
        };
        for i in parts {
            let bytes = self.chunk_bytes(i)?;
            match &mut values {
                ConstValues::Int(v) => v.extend(bytes.chunks_exact(8).map(|c| i64::from_le_bytes(word(c)))),
                ConstValues::Fix(v) => v.extend(bytes.chunks_exact(8).map(|c| f64::from_le_bytes(word(c)))),
            }
        }
        Ok(Constant { shape: info.shape, values })
    }

    /// Reads the parts of one encoded value (a segment, or the debug info), every part's hash
    /// checked, and decodes them as one; `what` names it when it is missing.
    fn parts<T: DeserializeOwned>(&mut self, kind: ChunkKind, party: Option<PartyId>, what: &str) -> Result<(T, String), LoadError> {
        let parts: Vec<usize> = (0..self.header.chunks.len()).filter(|&i| self.header.chunks[i].kind == kind && self.header.chunks[i].party == party).collect();
        let (Some(&first), Some(&last)) = (parts.first(), parts.last()) else {
            return Err(LoadError::Missing { path: self.path.clone(), what: what.to_string() });
        };
        let name = if parts.len() == 1 { self.header.chunk_name(first) } else { format!("{} to {last}", self.header.chunk_name(first)) };
        let path = self.path.clone();
        let decode_error = |detail: String| LoadError::ChunkDecode { path: path.clone(), chunk: name.clone(), detail };
        if let Some(k) = parts.iter().enumerate().position(|(k, &i)| self.header.chunks[i].item != k as u32) {
            return Err(decode_error(format!("its part {k} is numbered {}", self.header.chunks[parts[k]].item)));
        }
        let mut body = Vec::with_capacity(parts.iter().map(|&i| self.header.chunks[i].len as usize).sum());
        for &i in &parts {
            body.extend(self.chunk_bytes(i)?);
        }
        let value = decode(&body).map_err(decode_error)?;
        Ok((value, name))
    }

    /// The segment of `party`, and nothing of any other party's.
    pub fn segment(&mut self, party: PartyId) -> Result<Segment, LoadError> {
        let (seg, name): (Segment, String) = self.parts(ChunkKind::Code, Some(party), &format!("code for party {party}"))?;
        if seg.party != party {
            return Err(LoadError::ChunkDecode { path: self.path.clone(), chunk: name, detail: format!("it holds the segment of party {}", seg.party) });
        }
        Ok(seg)
    }

    pub fn debug_info(&mut self) -> Result<DebugInfo, LoadError> {
        Ok(self.parts(ChunkKind::Debug, None, "debug info")?.0)
    }
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instr::{Instr, Literal};

    fn sample(dir: &Path) -> PathBuf {
        let path = dir.join("m.sfbc");
        let seg = |party| Segment {
            party,
            inputs: vec![],
            n_regs: 1,
            body: crate::Block { code: vec![Instr::Const { dst: 0, value: Literal::Fix(1.5) }], locs: vec![0] },
        };
        let debug = DebugInfo {
            file: "m.sf".into(),
            source: "let a = 1.5;\n".into(),
            locs: vec![SourceLoc { line: 1, col: 1, end_line: 1, end_col: 12 }],
        };
        let constant = Constant { shape: vec![3, 2], values: ConstValues::Fix(vec![0.5, -1.0, 2.0, 3.5, 0.0, 1e9]) };
        // A small chunk limit splits the constant into several parts.
        write_module(&path, vec!["alice".into(), "bob".into()], 40, vec![], &[seg(0), seg(1)], &debug, &[constant], 1024)
            .expect("write");
        path
    }

    fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sf-isa-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("tempdir");
        d
    }

    #[test]
    fn round_trip() {
        let dir = tempdir("rt");
        let path = sample(&dir);
        let mut m = ModuleFile::open(&path).expect("open");
        assert_eq!(m.header.parties, vec!["alice", "bob"]);
        assert_eq!(m.segment(1).expect("segment").party, 1);
        assert_eq!(m.debug_info().expect("debug").file, "m.sf");
        let c = m.constant(0).expect("constant");
        assert_eq!(c.values, ConstValues::Fix(vec![0.5, -1.0, 2.0, 3.5, 0.0, 1e9]));
    }

    #[test]
    fn constants_are_split_at_the_chunk_limit() {
        let dir = tempdir("split");
        let path = dir.join("c.sfbc");
        let debug = DebugInfo { file: "c.sf".into(), source: String::new(), locs: vec![] };
        let values: Vec<i64> = (0..1000).collect();
        let c = Constant { shape: vec![1000], values: ConstValues::Int(values.clone()) };
        let header = write_module(&path, vec!["a".into(), "b".into()], 40, vec![], &[], &debug, &[c], 800).expect("write");
        let parts = header.chunks.iter().filter(|c| c.kind == ChunkKind::Constant).count();
        assert_eq!(parts, 10);
        assert!(header.chunks.iter().all(|c| c.len <= 800));
        assert_eq!(ModuleFile::open(&path).expect("open").constant(0).expect("read").values, ConstValues::Int(values));
    }

    #[test]
    fn every_flipped_byte_is_rejected() {
        let dir = tempdir("flip");
        let path = sample(&dir);
        let good = std::fs::read(&path).expect("read");
        let bad_path = dir.join("bad.sfbc");
        for i in 0..good.len() {
            let mut bytes = good.clone();
            bytes[i] ^= 0x40;
            std::fs::write(&bad_path, &bytes).expect("write");
            let result = ModuleFile::open(&bad_path).and_then(|mut m| {
                m.segment(0)?;
                m.segment(1)?;
                m.constant(0)?;
                m.debug_info()
            });
            let err = result.expect_err(&format!("flipped byte {i} was accepted"));
            assert!(err.to_string().contains("bad.sfbc"), "{err}");
        }
    }

    #[test]
    fn code_and_debug_info_are_cut_into_parts_at_the_chunk_limit() {
        let dir = tempdir("parts");
        let path = dir.join("p.sfbc");
        let code: Vec<Instr> = (0..200).map(|i| Instr::Const { dst: i, value: Literal::Fix(i as f64) }).collect();
        let seg = Segment { party: 0, inputs: vec![], n_regs: 200, body: crate::Block { locs: vec![0; code.len()], code } };
        let other = Segment { party: 1, ..seg.clone() };
        let debug = DebugInfo { file: "p.sf".into(), source: "let a = 1.5;\n".repeat(50), locs: vec![SourceLoc { line: 1, col: 1, end_line: 1, end_col: 12 }] };
        let limit = 256;
        let header = write_module(&path, vec!["alice".into(), "bob".into()], 40, vec![], &[seg.clone(), other], &debug, &[], limit).expect("write");
        let count = |kind, party| header.chunks.iter().filter(|c| c.kind == kind && c.party == party).count();
        assert!(count(ChunkKind::Code, Some(0)) > 4 && count(ChunkKind::Debug, None) > 1, "{:?}", header.chunks);
        assert!(header.chunks.iter().all(|c| c.len <= limit));
        let mut m = ModuleFile::open(&path).expect("open");
        assert_eq!(m.segment(0).expect("segment"), seg);
        assert_eq!(m.debug_info().expect("debug"), debug);
        assert!(write_module(&path, vec!["a".into(), "b".into()], 40, vec![], &[seg], &debug, &[], 4).is_err(), "a limit under 8 bytes is refused");
    }

    #[test]
    fn truncation_and_version_are_named() {
        let dir = tempdir("trunc");
        let path = sample(&dir);
        let good = std::fs::read(&path).expect("read");
        let bad = dir.join("t.sfbc");
        std::fs::write(&bad, &good[..good.len() - 3]).expect("write");
        let err = ModuleFile::open(&bad).err().expect("truncated accepted").to_string();
        assert!(err.contains("truncated"), "{err}");
        let mut v = good.clone();
        v[8] = 9;
        std::fs::write(&bad, &v).expect("write");
        let err = ModuleFile::open(&bad).err().expect("version accepted").to_string();
        assert!(err.contains("version 9"), "{err}");
    }

    /// A header whose hash is right but whose chunk table points past the end of the file, or
    /// into the header: each refused, naming the chunk.
    #[test]
    fn a_chunk_table_pointing_outside_the_file_is_named() {
        let dir = tempdir("outside");
        let path = sample(&dir);
        let good = std::fs::read(&path).expect("read");
        let header = ModuleFile::open(&path).expect("open").header;
        let rewrite = |edit: &dyn Fn(&mut Header)| -> String {
            let mut h = header.clone();
            edit(&mut h);
            h.module_hash = h.compute_hash();
            let bytes = encode(&h).expect("encode");
            let mut file = good[..PREAMBLE as usize].to_vec();
            file.extend_from_slice(&bytes);
            file.extend_from_slice(&good[PREAMBLE as usize + bytes.len()..]);
            let bad = dir.join("outside.sfbc");
            std::fs::write(&bad, &file).expect("write");
            ModuleFile::open(&bad).err().expect("accepted").to_string()
        };
        let err = rewrite(&|h| h.chunks[1].offset = good.len() as u64);
        assert!(err.contains("outside.sfbc") && err.contains("chunk 1 (code, party bob)") && err.contains("truncated"), "{err}");
        let err = rewrite(&|h| h.chunks[0].offset = 3);
        assert!(err.contains("chunk 0 (code, party alice) overlaps the header"), "{err}");
        let err = rewrite(&|h| h.chunks[2].len = u64::MAX);
        assert!(err.contains("chunk 2 has an impossible extent"), "{err}");
    }
}
