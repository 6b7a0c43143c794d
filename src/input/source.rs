//! Opening inputs: plain files, gzip files (also multi-member, as logrotate writes them) and standard input.
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

/// Reads a file (or `-` for standard input), decompressing gzip.
pub fn read_input(path: &Path) -> Result<InputFile> {
    if path.as_os_str() == "-" {
        let mut raw = Vec::new();
        io::stdin().lock().read_to_end(&mut raw).context("cannot read standard input")?;
        return Ok(decode("<stdin>".into(), raw, None));
    }
    let name = path.display().to_string();
    let mut file = File::open(path).with_context(|| format!("{name}: cannot open: check the path and permissions"))?;
    let modified = file
        .metadata()
        .ok()
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| Timestamp::from_millis(d.as_millis() as i64));
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
    } else {
        InputFile { name, bytes: raw, modified, truncated: None }
    }
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
        let plain = decode("x".into(), b"plain".to_vec(), None);
        assert_eq!(plain.bytes, b"plain");
    }
}
