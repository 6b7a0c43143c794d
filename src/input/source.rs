//! Opening inputs: plain files, gzip files (also multi-member, as logrotate writes them), zstd files (also
//! multi-frame) and standard input.
//!
//! Compression is recognised by its magic bytes, not by the file name. A truncated compressed file yields what it
//! holds, with a warning naming the file.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result};
use flate2::read::MultiGzDecoder;

use crate::domain::time::Timestamp;

/// One input, read whole.
#[derive(Debug)]
pub struct InputFile {
    /// The name to show in messages (`-` is shown as `<stdin>`).
    pub name: String,
    /// Its bytes, decompressed.
    pub bytes: Vec<u8>,
    /// Its modification time (stdin: none).
    pub modified: Option<Timestamp>,
    /// Why it could not be read to the end, if it could not.
    pub truncated: Option<String>,
}

/// How many bytes of an input [`open_input`] reads ahead, for format detection.
pub const HEAD: usize = 64 << 10;

/// An input opened for reading: its first bytes for format detection, and a way to read it all, block by block.
#[derive(Debug)]
pub struct Opened {
    /// The name to show in messages.
    pub name: String,
    /// Its modification time (stdin: none).
    pub modified: Option<Timestamp>,
    /// Why it could not be read to the end, if it could not (compressed inputs, known once decoded).
    pub truncated: Option<String>,
    /// Its first bytes, decompressed.
    pub head: Vec<u8>,
    body: Body,
}

/// Where the bytes of an opened input are.
#[derive(Debug)]
enum Body {
    /// Decoded in memory: compressed files and standard input.
    Memory(Vec<u8>),
    /// A plain file, read from disk as it is parsed, so that its size does not decide the memory used.
    File(std::path::PathBuf),
}

impl Opened {
    /// A reader over the whole input, from its start.
    pub fn reader(&self) -> Result<Box<dyn Read + Send + '_>> {
        Ok(match &self.body {
            Body::Memory(bytes) => Box::new(bytes.as_slice()),
            Body::File(path) => Box::new(File::open(path).with_context(|| format!("{}: cannot open", self.name))?),
        })
    }

    /// The whole input in memory.
    pub fn into_input(self) -> Result<InputFile> {
        let bytes = match self.body {
            Body::Memory(bytes) => bytes,
            Body::File(path) => std::fs::read(&path).with_context(|| format!("{}: cannot read", self.name))?,
        };
        Ok(InputFile { name: self.name, bytes, modified: self.modified, truncated: self.truncated })
    }
}

/// Opens a file (or `-` for standard input) for reading. Compressed files (recognised by their magic bytes) and
/// standard input are decoded into memory; plain files are read as they are parsed.
pub fn open_input(path: &Path) -> Result<Opened> {
    if path.as_os_str() == "-" {
        let input = read_input(path)?;
        let head = input.bytes[..input.bytes.len().min(HEAD)].to_vec();
        return Ok(Opened {
            name: input.name,
            modified: None,
            truncated: input.truncated,
            head,
            body: Body::Memory(input.bytes),
        });
    }
    let name = path.display().to_string();
    let file = File::open(path).with_context(|| format!("{name}: cannot open: check the path and permissions"))?;
    let modified = modified_time(&file);
    let mut head = Vec::with_capacity(HEAD);
    file.take(HEAD as u64).read_to_end(&mut head).with_context(|| format!("{name}: cannot read"))?;
    if head.starts_with(&[0x1f, 0x8b]) || head.starts_with(&ZSTD_MAGIC) {
        let input = read_input(path)?;
        let head = input.bytes[..input.bytes.len().min(HEAD)].to_vec();
        return Ok(Opened { name, modified, truncated: input.truncated, head, body: Body::Memory(input.bytes) });
    }
    Ok(Opened { name, modified, truncated: None, head, body: Body::File(path.to_path_buf()) })
}

fn modified_time(file: &File) -> Option<Timestamp> {
    file.metadata()
        .ok()
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| Timestamp::from_millis(d.as_millis() as i64))
}

/// Reads a file (or `-` for standard input), decompressing gzip and zstd.
pub fn read_input(path: &Path) -> Result<InputFile> {
    if path.as_os_str() == "-" {
        let mut raw = Vec::new();
        io::stdin().lock().read_to_end(&mut raw).context("cannot read standard input")?;
        return Ok(decode("<stdin>".into(), raw, None));
    }
    let name = path.display().to_string();
    let mut file = File::open(path).with_context(|| format!("{name}: cannot open: check the path and permissions"))?;
    let modified = modified_time(&file);
    let mut raw = Vec::new();
    file.read_to_end(&mut raw).with_context(|| format!("{name}: cannot read"))?;
    Ok(decode(name, raw, modified))
}

fn decode(name: String, raw: Vec<u8>, modified: Option<Timestamp>) -> InputFile {
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut bytes = Vec::with_capacity(raw.len() * 6);
        let truncated = match MultiGzDecoder::new(raw.as_slice()).read_to_end(&mut bytes) {
            Ok(_) => None,
            Err(e) => {
                Some(format!("gzip data ends early or is damaged ({e}); the {} bytes before it were read", bytes.len()))
            }
        };
        InputFile { name, bytes, modified, truncated }
    } else if raw.starts_with(&ZSTD_MAGIC) {
        let (bytes, truncated) = unzstd(&raw);
        InputFile { name, bytes, modified, truncated }
    } else {
        InputFile { name, bytes: raw, modified, truncated: None }
    }
}

/// The magic number that starts a zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Decodes every frame of zstd data (skippable frames skipped): the bytes, and why decoding stopped early.
fn unzstd(raw: &[u8]) -> (Vec<u8>, Option<String>) {
    let mut bytes = Vec::with_capacity(raw.len() * 8);
    let mut rest = raw;
    while !rest.is_empty() {
        let magic = u32::from_le_bytes([
            rest[0],
            rest.get(1).copied().unwrap_or(0),
            rest.get(2).copied().unwrap_or(0),
            rest.get(3).copied().unwrap_or(0),
        ]);
        if (0x184D_2A50..=0x184D_2A5F).contains(&magic) && rest.len() >= 8 {
            let length = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
            rest = rest.get(8 + length..).unwrap_or(&[]);
            continue;
        }
        let result = ruzstd::decoding::StreamingDecoder::new(&mut rest)
            .map_err(|e| e.to_string())
            .and_then(|mut d| d.read_to_end(&mut bytes).map_err(|e| e.to_string()));
        if let Err(e) = result {
            let why =
                format!("zstd data ends early or is damaged ({e}); the {} bytes before it were read", bytes.len());
            return (bytes, Some(why));
        }
    }
    (bytes, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn multi_member_and_truncated_gzip() {
        let mut two = gz(b"one\n");
        two.extend(gz(b"two\n"));
        let f = decode("x.gz".into(), two, None);
        assert_eq!((f.bytes.as_slice(), f.truncated), (&b"one\ntwo\n"[..], None));
        let whole = gz(&b"line\n".repeat(1000));
        let f = decode("x.gz".into(), whole[..whole.len() - 10].to_vec(), None);
        assert!(f.truncated.is_some());
        let mut zst = ruzstd::encoding::compress_to_vec(&b"one\n"[..], ruzstd::encoding::CompressionLevel::Fastest);
        zst.extend([0x50, 0x2a, 0x4d, 0x18, 2, 0, 0, 0, 9, 9]);
        zst.extend(ruzstd::encoding::compress_to_vec(&b"two\n"[..], ruzstd::encoding::CompressionLevel::Fastest));
        let f = decode("x.zst".into(), zst.clone(), None);
        assert_eq!((f.bytes.as_slice(), f.truncated), (&b"one\ntwo\n"[..], None));
        let f = decode("x.zst".into(), zst[..zst.len() - 3].to_vec(), None);
        assert!(f.truncated.is_some());
        let plain = decode("x".into(), b"plain".to_vec(), None);
        assert_eq!(plain.bytes, b"plain");
    }
}
