//! Opening inputs: plain files, gzip files (also multi-member, as logrotate writes them), zstd files (also
//! multi-frame) and standard input.
//!
//! Compression is recognised by its magic bytes, not by the file name. A compressed file is decoded as it is read,
//! on a thread of its own that hands the parser decoded blocks, so that decoding overlaps with parsing and memory
//! does not follow the file (rotated logs are usually gzipped). A truncated compressed file yields what it holds,
//! with a warning naming the file. Standard input is streamed the same way (`zcat maillog.*.gz | bounces report -`),
//! but can be read only once: where a first pass over the input is needed (the year of yearless syslog lines, the
//! time order of a sending log), it is copied to a temporary file first.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result};
use flate2::read::MultiGzDecoder;

use crate::domain::time::Timestamp;

/// How many bytes of an input [`open_input`] reads ahead, for format detection.
pub const HEAD: usize = 64 << 10;

/// An input opened for reading: its first bytes for format detection, and a way to read it all, block by block.
#[derive(Debug)]
pub struct Opened {
    /// The name to show in messages.
    pub name: String,
    /// Its modification time (stdin: none).
    pub modified: Option<Timestamp>,
    /// Its first bytes, decompressed.
    pub head: Vec<u8>,
    body: Body,
    /// Why it could not be read to the end, once that is known (a compressed input, as it is decoded).
    damage: Arc<Mutex<Option<String>>>,
    /// The part of the file a run with a state file reads (see [`Opened::resume_at`]); None: all of it.
    window: Option<Window>,
}

/// The part of a file that a run with a state file reads: past the bytes an earlier run read, and, for a plain
/// file, up to the end of its last whole line when the run began (a log being written may end mid-line).
#[derive(Debug, Default)]
struct Window {
    /// Bytes at the start that an earlier run read.
    skip: u64,
    /// Where reading stops, if it does before the end.
    end: Option<u64>,
    /// Bytes the last reader handed over.
    read: Arc<std::sync::atomic::AtomicU64>,
}

/// A reader that counts the bytes it hands over.
struct Counted<R> {
    inner: R,
    count: Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Where the bytes of an opened input are.
#[derive(Debug)]
enum Body {
    /// Standard input (decoded, if it is compressed), which can be read only once.
    Once(Once),
    /// A plain file, read from disk as it is parsed, so that its size does not decide the memory used.
    File(std::path::PathBuf),
    /// A gzip or zstd file, decoded as it is read.
    Compressed(std::path::PathBuf),
    /// Standard input copied to a temporary file, to be read more than once.
    Spilled(Spill),
}

/// A temporary file, removed when dropped.
#[derive(Debug)]
struct Spill {
    path: std::path::PathBuf,
}

impl Drop for Spill {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A reader that can be taken once.
struct Once(Mutex<Option<Box<dyn Read + Send>>>);

impl std::fmt::Debug for Once {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Once")
    }
}

impl Opened {
    /// A reader over the whole input, from its start. A compressed input is decoded, and standard input read, on a
    /// thread of its own, ahead of the parser; if a compressed input ends early or is damaged, the reader ends there
    /// and [`Opened::damage`] says why.
    pub fn reader(&self) -> Result<Box<dyn Read + Send + '_>> {
        let Some(window) = &self.window else { return self.whole_reader() };
        window.read.store(0, std::sync::atomic::Ordering::Relaxed);
        let mut reader: Box<dyn Read + Send + '_> = match &self.body {
            Body::File(path) => {
                use std::io::Seek;
                let mut file = File::open(path).with_context(|| format!("{}: cannot open", self.name))?;
                file.seek(io::SeekFrom::Start(window.skip)).with_context(|| format!("{}: cannot read", self.name))?;
                Box::new(file)
            }
            _ => {
                let mut reader = self.whole_reader()?;
                io::copy(&mut (&mut reader).take(window.skip), &mut io::sink())
                    .with_context(|| format!("{}: cannot read", self.name))?;
                reader
            }
        };
        if let Some(end) = window.end {
            reader = Box::new(reader.take(end.saturating_sub(window.skip)));
        }
        Ok(Box::new(Counted { inner: reader, count: window.read.clone() }))
    }

    /// A reader over the whole input, from its start (see [`Opened::reader`]).
    fn whole_reader(&self) -> Result<Box<dyn Read + Send + '_>> {
        let open = |path: &Path| File::open(path).with_context(|| format!("{}: cannot open", self.name));
        Ok(match &self.body {
            Body::Once(once) => match once.0.lock().ok().and_then(|mut r| r.take()) {
                Some(reader) => reader,
                None => anyhow::bail!("{}: standard input can be read only once", self.name),
            },
            // Read on the parsing thread: from the system's cache, a read ahead saved 2% of the time and cost 8 MB.
            Body::File(path) | Body::Spilled(Spill { path }) => Box::new(open(path)?),
            Body::Compressed(path) => {
                let file = open(path)?;
                let decoded = ReadAhead::spawn(move || decoder(file), self.damage.clone())
                    .with_context(|| format!("{}: cannot read", self.name))?;
                Box::new(decoded)
            }
        })
    }

    /// The input, made readable more than once: standard input is copied (decoded) to a temporary file in the
    /// system's temporary directory, removed when the input is dropped. Other inputs are returned as they are.
    pub fn rereadable_copy(self) -> Result<Opened> {
        if self.rereadable() {
            return Ok(self);
        }
        let dir = std::env::temp_dir();
        let stamp = std::time::SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let path = dir.join(format!("bounces-stdin-{}-{stamp}", std::process::id()));
        let spill = Spill { path };
        let mut file =
            std::fs::OpenOptions::new().write(true).create_new(true).open(&spill.path).with_context(|| {
                format!("{}: cannot create a temporary copy of standard input", spill.path.display())
            })?;
        io::copy(&mut self.reader()?, &mut file)
            .with_context(|| format!("{}: cannot copy standard input to it", spill.path.display()))?;
        Ok(Opened { body: Body::Spilled(spill), ..self })
    }

    /// Whether the input is a file on disk (plain or compressed), which a later run can find again: not standard
    /// input, nor a copy of it.
    pub fn is_file(&self) -> bool {
        matches!(self.body, Body::File(_) | Body::Compressed(_))
    }

    /// Reads from now on only the part of the file that a run with a state file reads: past its first `skip` bytes
    /// (read by an earlier run), and, for a plain file, up to the end of its last whole line now. Tells whether the
    /// file's last line was left for a later run, having no line end yet.
    pub fn resume_at(&mut self, skip: u64) -> Result<bool> {
        let end = match &self.body {
            Body::File(path) => Some(whole_lines_end(path).with_context(|| format!("{}: cannot read", self.name))?),
            _ => None,
        };
        let left = end.is_some_and(|(end, size)| end < size);
        self.window = Some(Window { skip, end: end.map(|(end, _)| end.max(skip)), ..Window::default() });
        Ok(left)
    }

    /// The size of a plain file (not of a compressed one, which is known only once decoded, nor of standard input).
    pub fn size(&self) -> Option<u64> {
        match &self.body {
            Body::File(path) => std::fs::metadata(path).ok().map(|m| m.len()),
            _ => None,
        }
    }

    /// Where a file read with [`Opened::resume_at`] was read up to: the bytes skipped and those the last reader
    /// handed over. None for an input read whole.
    pub fn read_up_to(&self) -> Option<u64> {
        self.window.as_ref().map(|w| w.skip + w.read.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Whether the input can be read more than once (a file can; standard input cannot).
    pub fn rereadable(&self) -> bool {
        !matches!(self.body, Body::Once(_))
    }

    /// Why the input could not be read to its end: a compressed input that ends early or is damaged, known once it
    /// has been read.
    pub fn damage(&self) -> Option<String> {
        self.damage.lock().map_or(None, |d| d.clone())
    }
}

/// The end of the last whole line of a file (just past its last line end; 0 without one), and the file's size.
fn whole_lines_end(path: &Path) -> io::Result<(u64, u64)> {
    use std::io::Seek;
    let mut file = File::open(path)?;
    let size = file.metadata()?.len();
    let mut end = size;
    let mut chunk = vec![0; 64 << 10];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let piece = &mut chunk[..(end - start) as usize];
        file.seek(io::SeekFrom::Start(start))?;
        file.read_exact(piece)?;
        if let Some(i) = memchr::memrchr(b'\n', piece) {
            return Ok((start + i as u64 + 1, size));
        }
        end = start;
    }
    Ok((0, size))
}

/// Opens a file (or `-` for standard input) for reading. Every input is read as it is parsed, compressed ones
/// decoded on a thread of their own; standard input can be read only once.
pub fn open_input(path: &Path) -> Result<Opened> {
    if path.as_os_str() == "-" {
        return open_stdin(Box::new(io::stdin()));
    }
    let name = path.display().to_string();
    let file = File::open(path).with_context(|| format!("{name}: cannot open: check the path and permissions"))?;
    let modified = modified_time(&file);
    let mut head = Vec::with_capacity(HEAD);
    file.take(HEAD as u64).read_to_end(&mut head).with_context(|| format!("{name}: cannot read"))?;
    let damage = Arc::new(Mutex::new(None));
    if is_compressed(&head) {
        // The first decoded bytes, for detection; a damaged file is reported when it is read.
        let file = File::open(path).with_context(|| format!("{name}: cannot open"))?;
        let mut decoded = Vec::with_capacity(HEAD);
        let _ = decoder(file).0.take(HEAD as u64).read_to_end(&mut decoded);
        return Ok(Opened {
            name,
            modified,
            head: decoded,
            body: Body::Compressed(path.to_path_buf()),
            damage,
            window: None,
        });
    }
    Ok(Opened { name, modified, head, body: Body::File(path.to_path_buf()), damage, window: None })
}

/// Opens standard input (`input`): its first bytes are read for detection, then given back in front of the rest. A
/// compressed stream is decoded on a thread of its own from the start.
fn open_stdin(mut input: Box<dyn Read + Send>) -> Result<Opened> {
    let name = "<stdin>".to_string();
    let damage = Arc::new(Mutex::new(None));
    let mut raw = Vec::with_capacity(HEAD);
    (&mut input).take(HEAD as u64).read_to_end(&mut raw).context("cannot read standard input")?;
    let rest: Box<dyn Read + Send> = Box::new(io::Cursor::new(raw.clone()).chain(input));
    let mut head = raw;
    let rest: Box<dyn Read + Send> = if is_compressed(&head) {
        let mut decoded =
            ReadAhead::spawn(move || decoder(rest), damage.clone()).context("cannot read standard input")?;
        head = Vec::with_capacity(HEAD);
        (&mut decoded).take(HEAD as u64).read_to_end(&mut head).context("cannot read standard input")?;
        Box::new(io::Cursor::new(head.clone()).chain(decoded))
    } else {
        Box::new(ReadAhead::spawn(move || (rest, None), damage.clone()).context("cannot read standard input")?)
    };
    let body = Body::Once(Once(Mutex::new(Some(rest))));
    Ok(Opened { name, modified: None, head, body, damage, window: None })
}

/// Whether an input's first bytes are gzip's or zstd's magic number.
fn is_compressed(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b]) || head.starts_with(&ZSTD_MAGIC)
}

/// A decoder for a gzip (every member) or zstd (every frame) stream, told apart by its magic bytes, and the name of
/// the format.
fn decoder(file: impl Read + Send + 'static) -> (Box<dyn Read + Send>, Option<&'static str>) {
    let mut file = BufReader::with_capacity(1 << 20, file);
    let zstd = io::BufRead::fill_buf(&mut file).is_ok_and(|b| b.starts_with(&ZSTD_MAGIC));
    if zstd {
        (Box::new(ZstdFrames::Between(file)), Some("zstd"))
    } else {
        (Box::new(MultiGzDecoder::new(file)), Some("gzip"))
    }
}

/// An input read on a thread of its own (a compressed one decoded there), which sends blocks ahead of the reader:
/// decoding, and waiting on a pipe, are then done while the blocks before are parsed and joined, rather than between
/// them. Blocks come back to the reading thread once used, so that the same few are filled again.
struct ReadAhead {
    blocks: Receiver<io::Result<Vec<u8>>>,
    spent: SyncSender<Vec<u8>>,
    block: Vec<u8>,
    at: usize,
}

impl ReadAhead {
    /// Starts reading what `open` gives: the reader, and for a compressed one the format's name, in which case an
    /// error is damage (the reader ends there and `damage` says why) rather than an error of the reader. Fails
    /// only if the system cannot start a thread.
    fn spawn(
        open: impl FnOnce() -> (Box<dyn Read + Send>, Option<&'static str>) + Send + 'static,
        damage: Arc<Mutex<Option<String>>>,
    ) -> io::Result<ReadAhead> {
        const BLOCK: usize = 1 << 20;
        // Two blocks waiting are enough to keep the parser fed; each more is memory held for nothing.
        const AHEAD: usize = 2;
        let (send, blocks) = sync_channel::<io::Result<Vec<u8>>>(AHEAD);
        // One used block waits to be filled again; others the reading thread has not taken back yet are freed.
        let (spent, returned) = sync_channel::<Vec<u8>>(1);
        std::thread::Builder::new().name("read-ahead".into()).spawn(move || {
            let (mut reader, codec) = open();
            let mut total = 0u64;
            loop {
                let mut block = returned.try_recv().unwrap_or_default();
                block.clear();
                block.reserve_exact(BLOCK);
                // Up to a block, into the vector's room without zeroing it first; what came before an error stays.
                let failed = (&mut reader).take(BLOCK as u64).read_to_end(&mut block).err();
                let n = block.len();
                total += n as u64;
                let sent = n == 0 || send.send(Ok(block)).is_ok();
                if let Some(e) = failed {
                    match codec {
                        Some(codec) => {
                            let why = format!(
                                "{codec} data ends early or is damaged ({e}); the {total} bytes before it were read"
                            );
                            if let Ok(mut d) = damage.lock() {
                                *d = Some(why);
                            }
                        }
                        None => {
                            let _ = send.send(Err(e));
                        }
                    }
                    return;
                }
                if n < BLOCK || !sent {
                    return;
                }
            }
        })?;
        Ok(ReadAhead { blocks, spent, block: Vec::new(), at: 0 })
    }
}

impl Read for ReadAhead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.block.len() {
            match self.blocks.recv() {
                Ok(block) => {
                    let used = std::mem::replace(&mut self.block, block?);
                    self.at = 0;
                    // The reading thread has room for it, or is gone; either way the block is not needed here.
                    let _ = self.spent.try_send(used);
                }
                // The reading thread is done (its last block sent, or stopped by damage it reported).
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.block.len() - self.at);
        buf[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// The frames of a zstd stream decoded one after the other, skippable frames skipped.
enum ZstdFrames<R: Read> {
    /// Before a frame (or at the end).
    Between(R),
    /// Inside a frame.
    In(Box<ruzstd::decoding::StreamingDecoder<Prefixed<R>, ruzstd::decoding::FrameDecoder>>),
    /// After an error.
    Done,
}

/// A reader that gives back four bytes already read (a frame's magic number) before the rest.
struct Prefixed<R> {
    magic: [u8; 4],
    at: usize,
    inner: R,
}

impl<R: Read> Read for Prefixed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at < 4 {
            let n = buf.len().min(4 - self.at);
            buf[..n].copy_from_slice(&self.magic[self.at..self.at + n]);
            self.at += n;
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

impl<R: Read> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match std::mem::replace(self, ZstdFrames::Done) {
                ZstdFrames::Done => return Ok(0),
                ZstdFrames::In(mut frame) => {
                    let n = frame.read(buf)?;
                    if n > 0 {
                        *self = ZstdFrames::In(frame);
                        return Ok(n);
                    }
                    *self = ZstdFrames::Between(frame.into_inner().inner);
                }
                ZstdFrames::Between(mut inner) => {
                    let mut magic = [0u8; 4];
                    let mut got = 0;
                    while got < 4 {
                        match inner.read(&mut magic[got..])? {
                            0 => break,
                            k => got += k,
                        }
                    }
                    match got {
                        0 => return Ok(0),
                        1..=3 => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "a frame cut short")),
                        _ => {}
                    }
                    if (0x184D_2A50..=0x184D_2A5F).contains(&u32::from_le_bytes(magic)) {
                        let mut length = [0u8; 4];
                        inner.read_exact(&mut length)?;
                        let length = u64::from(u32::from_le_bytes(length));
                        if io::copy(&mut (&mut inner).take(length), &mut io::sink())? < length {
                            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "a skippable frame cut short"));
                        }
                        *self = ZstdFrames::Between(inner);
                        continue;
                    }
                    let frame = ruzstd::decoding::StreamingDecoder::new(Prefixed { magic, at: 0, inner })
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                    *self = ZstdFrames::In(Box::new(frame));
                }
            }
        }
    }
}

fn modified_time(file: &File) -> Option<Timestamp> {
    file.metadata()
        .ok()
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| Timestamp::from_millis(d.as_millis() as i64))
}

/// The magic number that starts a zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

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

    /// Reads a file through [`open_input`]: its head, all of it, and why it stopped early.
    fn stream(data: &[u8]) -> (Vec<u8>, Vec<u8>, Option<String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, data).unwrap();
        let opened = open_input(&path).unwrap();
        let mut all = Vec::new();
        opened.reader().unwrap().read_to_end(&mut all).unwrap();
        (opened.head.clone(), all, opened.damage())
    }

    #[test]
    fn compressed_files_are_decoded_as_they_are_read() {
        // Several megabytes, so that the decoding thread hands over several blocks.
        let text: Vec<u8> = (0..200_000).flat_map(|i| format!("line {i}\n").into_bytes()).collect();
        let mut two = gz(&text);
        two.extend(gz(b"last\n"));
        let (head, all, damage) = stream(&two);
        assert_eq!((head.as_slice(), damage), (&text[..HEAD], None));
        assert_eq!((&all[..text.len()], &all[text.len()..]), (text.as_slice(), &b"last\n"[..]));
        let (_, all, damage) = stream(&two[..two.len() / 2]);
        assert!(!all.is_empty() && text.starts_with(&all), "what it holds, in order");
        assert!(damage.is_some_and(|d| d.starts_with("gzip data ends early or is damaged")));

        let level = ruzstd::encoding::CompressionLevel::Fastest;
        let mut zst = ruzstd::encoding::compress_to_vec(&text[..], level);
        zst.extend([0x50, 0x2a, 0x4d, 0x18, 2, 0, 0, 0, 9, 9]);
        zst.extend(ruzstd::encoding::compress_to_vec(&b"last\n"[..], level));
        let (head, all, damage) = stream(&zst);
        assert_eq!((head.len(), &all[text.len()..], damage), (HEAD, &b"last\n"[..], None));
        let (_, _, damage) = stream(&zst[..zst.len() - 3]);
        assert!(damage.is_some_and(|d| d.starts_with("zstd data ends early or is damaged")));
        assert_eq!(stream(b"plain\n"), (b"plain\n".to_vec(), b"plain\n".to_vec(), None));
    }

    #[test]
    fn read_ahead_gives_every_block_and_keeps_a_readers_error() {
        // Several blocks, read in pieces smaller than a block, so that blocks are handed back and filled again.
        let text: Vec<u8> = (0..600_000).flat_map(|i| format!("line {i}\n").into_bytes()).collect();
        let source = io::Cursor::new(text.clone());
        let damage = Arc::new(Mutex::new(None));
        let mut ahead = ReadAhead::spawn(move || (Box::new(source), None), damage.clone()).unwrap();
        let (mut all, mut piece) = (Vec::new(), vec![0u8; 4096]);
        loop {
            match ahead.read(&mut piece).unwrap() {
                0 => break,
                n => all.extend_from_slice(&piece[..n]),
            }
        }
        assert!(all == text && damage.lock().unwrap().is_none());
        // Standard input goes through it too.
        let stdin = open_stdin(Box::new(io::Cursor::new(text.clone()))).unwrap();
        let mut all = Vec::new();
        stdin.reader().unwrap().read_to_end(&mut all).unwrap();
        assert_eq!((&stdin.head[..], all == text), (&text[..HEAD], true));

        /// Gives `left` bytes, then fails.
        struct Failing {
            left: usize,
        }
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.left == 0 {
                    return Err(io::Error::other("disk on fire"));
                }
                let n = buf.len().min(self.left).min(1000);
                buf[..n].fill(b'x');
                self.left -= n;
                Ok(n)
            }
        }
        let damage = Arc::new(Mutex::new(None));
        let mut ahead = ReadAhead::spawn(move || (Box::new(Failing { left: 3 << 20 }), None), damage.clone()).unwrap();
        let mut got = vec![0u8; 4096];
        let mut total = 0;
        let err = loop {
            match ahead.read(&mut got) {
                Ok(0) => panic!("the error is not lost"),
                Ok(n) => total += n,
                Err(e) => break e,
            }
        };
        assert_eq!((total, err.to_string(), damage.lock().unwrap().clone()), (3 << 20, "disk on fire".into(), None));
    }
}
