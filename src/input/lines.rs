//! Splitting a buffer into lines and parsing them on all cores.
//!
//! A buffer is cut into ranges at line ends; each range is parsed by a rayon worker that knows its first line number,
//! and the results come back in file order, so that the result does not depend on the number of threads.

use rayon::prelude::*;

/// Lines longer than this are counted as malformed instead of being parsed.
pub const MAX_LINE: usize = 1 << 20;

/// What a parser made of one line.
#[derive(Debug)]
pub enum Parsed<T> {
    /// The line gave a record.
    Used(T),
    /// The line is well formed but not about delivery.
    Ignored,
    /// The line could not be read; why.
    Malformed(String),
}

/// Parses every line of `bytes` with `parse(line_number, line)` in parallel; returns the results with their line
/// numbers, in file order. Line ends (`\n`, `\r\n`) are removed; invalid UTF-8 is replaced.
pub fn parse_lines<T, F>(bytes: &[u8], parse: F) -> Vec<(u64, Parsed<T>)>
where
    T: Send,
    F: Fn(u64, &str) -> Parsed<T> + Sync,
{
    parse_lines_at(bytes, 1, parse)
}

/// [`parse_lines`] for a block of a larger input whose first line is number `first_line`.
pub fn parse_lines_at<T, F>(bytes: &[u8], first_line: u64, parse: F) -> Vec<(u64, Parsed<T>)>
where
    T: Send,
    F: Fn(u64, &str) -> Parsed<T> + Sync,
{
    let chunks = parse_chunks_at(bytes, first_line, parse);
    let mut all = Vec::with_capacity(chunks.iter().map(Vec::len).sum());
    for chunk in chunks {
        all.extend(chunk);
    }
    all
}

/// [`parse_lines_at`], with the results left in the ranges they were parsed in (in input order): a caller that
/// goes through them once need not have them copied into one vector.
pub fn parse_chunks_at<T, F>(bytes: &[u8], first_line: u64, parse: F) -> Vec<Vec<(u64, Parsed<T>)>>
where
    T: Send,
    F: Fn(u64, &str) -> Parsed<T> + Sync,
{
    map_chunks(bytes, first_line, |first, chunk| parse_chunk(chunk, first, &parse))
}

/// The size of the ranges [`map_chunks`] and [`map_csv_chunks`] cut a block into, to be parsed on all cores.
const CHUNK: usize = 256 << 10;

/// Cuts `bytes` into ranges of whole lines of about 256 KiB and maps each with `f(number of its first line, range)`
/// on all cores; the results come back in input order. For work that is cheaper done a range at a time than a line
/// at a time, such as encoding output rows.
pub fn map_chunks<R, F>(bytes: &[u8], first_line: u64, f: F) -> Vec<R>
where
    R: Send,
    F: Fn(u64, &[u8]) -> R + Sync,
{
    map_ranges(bytes, &line_ranges(bytes, first_line).0, f)
}

/// A range of a block of lines: where it starts and ends, and the number of its first line.
pub type Range = (usize, usize, u64);

/// Cuts `bytes` into ranges of whole lines of about 256 KiB, as [`map_chunks`] maps them; also gives the number of
/// line ends in all. The reader of a stream counts a block's lines anyway, to number the next: it cuts the block
/// as it counts ([`Block::Lines`]), so that the block is not gone through again to be cut before it is parsed.
fn line_ranges(bytes: &[u8], first_line: u64) -> (Vec<Range>, u64) {
    let mut ranges = Vec::with_capacity(bytes.len() / CHUNK + 1);
    let mut start = 0;
    let mut line = first_line;
    while start < bytes.len() {
        let mut end = (start + CHUNK).min(bytes.len());
        if end < bytes.len() {
            end = memchr::memchr(b'\n', &bytes[end..]).map_or(bytes.len(), |i| end + i + 1);
        }
        ranges.push((start, end, line));
        line += memchr::memchr_iter(b'\n', &bytes[start..end]).count() as u64;
        start = end;
    }
    (ranges, line - first_line)
}

/// [`map_chunks`] for CSV `bytes` that start at a record's start: each range ends where a record ends, at a line end
/// outside double quotes (see [`csv_records_end`]), so that each can be read by a CSV reader of its own. Line
/// numbers count every line end, quoted ones too, as a CSV reader's positions do.
pub fn map_csv_chunks<R, F>(bytes: &[u8], first_line: u64, f: F) -> Vec<R>
where
    R: Send,
    F: Fn(u64, &[u8]) -> R + Sync,
{
    let mut ranges = Vec::new();
    let (mut start, mut line, mut lines) = (0, first_line, 0);
    let mut quoted = false;
    for i in memchr::memchr2_iter(b'"', b'\n', bytes) {
        if bytes[i] == b'"' {
            quoted = !quoted;
            continue;
        }
        lines += 1;
        if !quoted && i + 1 - start >= CHUNK {
            ranges.push((start, i + 1, line));
            (start, line, lines) = (i + 1, line + lines, 0);
        }
    }
    if start < bytes.len() {
        ranges.push((start, bytes.len(), line));
    }
    map_ranges(bytes, &ranges, f)
}

/// Maps each range `(start, end, number of its first line)` of `bytes` with `f` on all cores, in input order.
pub fn map_ranges<R, F>(bytes: &[u8], ranges: &[Range], f: F) -> Vec<R>
where
    R: Send,
    F: Fn(u64, &[u8]) -> R + Sync,
{
    ranges.par_iter().map(|&(s, e, first)| f(first, &bytes[s..e])).collect()
}

/// Parses the lines of `chunk`, whose first line is number `first`, one after the other. Over-long lines are
/// malformed; invalid UTF-8 is replaced.
pub fn parse_chunk<T>(chunk: &[u8], first: u64, parse: impl FnMut(u64, &str) -> Parsed<T>) -> Vec<(u64, Parsed<T>)> {
    parse_chunk_into(chunk, first, parse, Vec::new()).0
}

/// [`parse_chunk`] into `out`, emptied first: a vector whose room is used again. Also gives the chunk's lines that
/// are not valid UTF-8 (how many, and the number of the first), found on the way.
fn parse_chunk_into<T>(
    chunk: &[u8],
    first: u64,
    mut parse: impl FnMut(u64, &str) -> Parsed<T>,
    mut out: Vec<(u64, Parsed<T>)>,
) -> (ParsedLines<T>, InvalidLines) {
    // Log lines are seldom shorter than 128 bytes: room for them all at once, so that records are not moved as a
    // new vector grows (one used again keeps the room it grew to).
    out.clear();
    let room = chunk.len() / 128 + 1;
    if out.capacity() < room {
        // Fresh room rather than more: growing would copy the old room, which holds nothing now.
        out = Vec::with_capacity(room);
    }
    // Valid text (nearly every chunk) is checked once, at memory speed, rather than line by line.
    let text = valid_text(chunk);
    let (mut invalid, mut first_invalid) = (0, None);
    for (i, raw) in split(chunk).enumerate() {
        let n = first + i as u64;
        let line = match text {
            // The same line in the checked text: it starts and ends at line ends, so on character boundaries.
            Some(text) => {
                let at = raw.as_ptr() as usize - chunk.as_ptr() as usize;
                Ok(&text[at..at + raw.len()])
            }
            None => std::str::from_utf8(raw).map_err(|_| {
                invalid += 1;
                first_invalid.get_or_insert(n);
            }),
        };
        let parsed = match line {
            _ if raw.len() > MAX_LINE => {
                Parsed::Malformed(format!("line of {} bytes is longer than the limit of {MAX_LINE}", raw.len()))
            }
            Ok(line) => parse(n, line),
            Err(()) => parse(n, &String::from_utf8_lossy(raw)),
        };
        out.push((n, parsed));
    }
    (out, (invalid, first_invalid))
}

/// The first `a` followed by `b` in `s`: `": "` or `", "` found with memchr, without building a substring searcher,
/// for the separators every log line is split on.
pub fn find_pair(s: &str, a: u8, b: u8) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut from = 0;
    while let Some(i) = memchr::memchr(a, &bytes[from..]) {
        let at = from + i;
        if bytes.get(at + 1) == Some(&b) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Where `needle` (not empty) first occurs in `s`: found by its first byte with memchr, then compared, where
/// `str::find` builds a two-way searcher on every call, which costs more than the search in a log line.
pub fn find_str(s: &str, needle: &str) -> Option<usize> {
    let (bytes, n) = (s.as_bytes(), needle.as_bytes());
    let (&first, _) = n.split_first()?;
    let mut from = 0;
    while let Some(i) = memchr::memchr(first, &bytes[from..]) {
        let at = from + i;
        if bytes[at..].starts_with(n) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// A piece of an input read block by block.
pub enum Block<'a> {
    /// Whole lines (the input's last line may lack its `\n`), the number of the first, and the lines cut into
    /// ranges at line ends, as [`map_chunks`] cuts them: [`map_ranges`] maps them on all cores. (A CSV block's
    /// ranges may end inside a quoted field: CSV is cut with [`map_csv_chunks`].)
    Lines(&'a [u8], u64, &'a [Range]),
    /// A line longer than [`MAX_LINE`], skipped without being held whole: its number and length.
    TooLong(u64, u64),
}

/// Reads `reader` in blocks of about `size` bytes cut at line ends and hands them to `f` in order, so that an input
/// of any size is parsed in bounded memory. Lines longer than [`MAX_LINE`] are skipped and reported as such.
pub fn for_each_block<R: std::io::Read>(
    reader: R,
    size: usize,
    f: impl FnMut(Block<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    for_each_block_cut(reader, size, lines_end, f)
}

/// The end of the last whole line in `buf`: just after its last line end.
pub fn lines_end(buf: &[u8]) -> Option<usize> {
    memchr::memrchr(b'\n', buf).map(|i| i + 1)
}

/// The end of the last whole CSV record in `buf`, which starts at a record's start: just after the last line end
/// outside double quotes (RFC 4180 quotes a field holding a line end, and doubles the quotes inside it).
pub fn csv_records_end(buf: &[u8]) -> Option<usize> {
    let mut quoted = false;
    let mut end = None;
    for i in memchr::memchr2_iter(b'"', b'\n', buf) {
        if buf[i] == b'"' {
            quoted = !quoted;
        } else if !quoted {
            end = Some(i + 1);
        }
    }
    end
}

/// [`for_each_block`] with blocks cut by `cut`, which gives the end of the last whole record of a buffer: CSV
/// blocks are cut with [`csv_records_end`], so that a quoted line end stays inside its record. A record with no end
/// within two [`MAX_LINE`]s is skipped up to the next line end, and reported as too long.
pub fn for_each_block_cut<R: std::io::Read>(
    reader: R,
    size: usize,
    cut: impl Fn(&[u8]) -> Option<usize>,
    f: impl FnMut(Block<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    blocks_from(reader, 1, size, cut, f)
}

/// [`for_each_block_cut`] with the first line read numbered `first_line`.
fn blocks_from<R: std::io::Read>(
    reader: R,
    first_line: u64,
    size: usize,
    cut: impl Fn(&[u8]) -> Option<usize>,
    mut f: impl FnMut(Block<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    // One buffer, lent to `f` and filled again.
    read_blocks(reader, first_line, size, cut, |block| match block {
        Filled::Lines(buf, end, first, ranges) => f(Block::Lines(&buf[..end], first, &ranges)).map(|()| Some(buf)),
        Filled::TooLong(line, len) => f(Block::TooLong(line, len)).map(|()| None),
    })
}

/// A piece of an input read by [`read_blocks`].
enum Filled {
    /// A buffer whose first `end` bytes are whole lines, the number of the first, and those bytes cut into ranges
    /// (see [`Block::Lines`]). The buffer is as long as `read_blocks` made it, so that it is filled again without
    /// being zeroed.
    Lines(Vec<u8>, usize, u64, Vec<Range>),
    /// A line longer than [`MAX_LINE`], skipped: its number and length.
    TooLong(u64, u64),
}

/// Reads `reader` as [`for_each_block_cut`] does, handing `f` each block's buffer itself: `f` gives back a buffer
/// of the same length (the one it was given, or an earlier one) for the next block, or None to have one made. The
/// few bytes of the last line not yet whole are copied into it; the block is not copied.
fn read_blocks<R: std::io::Read>(
    mut reader: R,
    first_line: u64,
    size: usize,
    cut: impl Fn(&[u8]) -> Option<usize>,
    mut f: impl FnMut(Filled) -> anyhow::Result<Option<Vec<u8>>>,
) -> anyhow::Result<()> {
    let size = size.max(2 * MAX_LINE + 2);
    // Filled up to `len`: zeroed once, not each time it is filled again.
    let fresh = || vec![0; size * 2];
    let mut buf: Vec<u8> = fresh();
    let mut tail = Vec::new();
    let mut len = 0;
    let mut line = first_line;
    // Bytes of an over-long line still being skipped.
    let mut skipping: Option<u64> = None;
    let mut eof = false;
    while !eof || len > 0 {
        while !eof && len < size {
            let to = buf.len().min(len + (size - len).max(64 << 10));
            let n = loop {
                match reader.read(&mut buf[len..to]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                }
            };
            len += n;
            eof = n == 0;
        }
        if let Some(skipped) = skipping {
            match memchr::memchr(b'\n', &buf[..len]) {
                Some(i) => {
                    f(Filled::TooLong(line, skipped + i as u64))?;
                    line += 1;
                    skipping = None;
                    buf.copy_within(i + 1..len, 0);
                    len -= i + 1;
                }
                None if eof => {
                    f(Filled::TooLong(line, skipped + len as u64))?;
                    len = 0;
                }
                None => {
                    skipping = Some(skipped + len as u64);
                    len = 0;
                }
            }
            continue;
        }
        let end = match cut(&buf[..len]) {
            Some(i) => i,
            // No record end in a whole block, or in what is left at the end, but a line end: a `"` opened a quoted
            // cell that is not closed (a stray quote in a CSV). Its line goes alone, for the parser to report, and
            // the lines after it are read as they are, rather than lost with it.
            None if eof => memchr::memchr(b'\n', &buf[..len]).filter(|&i| i + 1 < len).map_or(len, |i| i + 1),
            None => match memchr::memchr(b'\n', &buf[..len.min(MAX_LINE + 1)]) {
                Some(i) => i + 1,
                None => {
                    // No line end in a whole block: the line is too long.
                    skipping = Some(len as u64);
                    len = 0;
                    continue;
                }
            },
        };
        if end > 0 {
            let first = line;
            let (ranges, lines) = line_ranges(&buf[..end], first);
            line += lines;
            if eof && end == len && buf[end - 1] != b'\n' {
                line += 1;
            }
            // The few bytes after the block, for the next buffer.
            tail.clear();
            tail.extend_from_slice(&buf[end..len]);
            buf = f(Filled::Lines(std::mem::take(&mut buf), end, first, ranges))?
                .filter(|b| b.len() == size * 2)
                .unwrap_or_else(fresh);
            buf[..tail.len()].copy_from_slice(&tail);
            len -= end;
        }
    }
    Ok(())
}

/// A block parsed by [`pipeline_blocks_cut`], handed on in input order.
pub enum ParsedBlock<T> {
    /// A block of whole lines: what `parse` made of it, its size, and its lines that are not valid UTF-8 (how many,
    /// and the number of the first).
    Block(T, u64, (u64, Option<u64>)),
    /// A line longer than [`MAX_LINE`], skipped: its number and length.
    TooLong(u64, u64),
}

/// Reads `reader` in blocks cut by `cut` (see [`for_each_block_cut`]), and parses each block with `parse(block,
/// number of its first line)` (which may use all cores) while `handle` takes the block before it: reading and
/// parsing the next block overlaps with joining and replaying the last. `handle` gets the blocks in input order.
pub fn pipeline_blocks_cut<T: Send>(
    reader: impl std::io::Read + Send,
    size: usize,
    cut: impl Fn(&[u8]) -> Option<usize> + Send,
    parse: impl Fn(&[u8], u64) -> T + Sync,
    handle: impl FnMut(ParsedBlock<T>) -> anyhow::Result<()> + Send,
) -> anyhow::Result<()> {
    // The block's bad lines are counted beside its parsing, not before it.
    let parse = |bytes: &[u8], first, _: &[Range]| {
        let ((count, at), parsed) = rayon::join(|| invalid_utf8_lines(bytes), || parse(bytes, first));
        (parsed, (count, at.map(|n| n + first - 1)))
    };
    pipeline_checked_blocks(reader, 1, size, cut, parse, handle)
}

/// [`pipeline_blocks_cut`] for a `parse` that finds a block's lines that are not valid UTF-8 itself, as it reads
/// them (how many, and the number of the first): the text is then checked once rather than twice. The first line
/// read is numbered `first_line`.
///
/// Each block is parsed on all cores while `handle` takes the one before it. With more than one core, the blocks
/// are read on a thread of their own, one block ahead: read on the calling thread, between two blocks, the copy
/// from the system left every worker idle. The reading thread only reads: parsing further ahead, beside a `handle`
/// whose steps only one core can take, made three threads take turns on two cores and slowed those steps down.
/// With one core (`-j 1`), the calling thread reads, so that the run keeps to one core.
fn pipeline_checked_blocks<T: Send>(
    reader: impl std::io::Read + Send,
    first_line: u64,
    size: usize,
    cut: impl Fn(&[u8]) -> Option<usize> + Send,
    parse: impl Fn(&[u8], u64, &[Range]) -> (T, InvalidLines) + Sync,
    mut handle: impl FnMut(ParsedBlock<T>) -> anyhow::Result<()> + Send,
) -> anyhow::Result<()> {
    let mut pending: Option<ParsedBlock<T>> = None;
    let mut step = |block: Block<'_>| match block {
        Block::TooLong(line, len) => {
            if let Some(previous) = pending.take() {
                handle(previous)?;
            }
            handle(ParsedBlock::TooLong(line, len))
        }
        Block::Lines(bytes, first, ranges) => {
            let previous = pending.take();
            let (parsed, handled) = rayon::join(
                || {
                    let (parsed, invalid) = parse(bytes, first, ranges);
                    ParsedBlock::Block(parsed, bytes.len() as u64, invalid)
                },
                || previous.map_or(Ok(()), &mut handle),
            );
            pending = Some(parsed);
            handled
        }
    };
    if rayon::current_num_threads() > 1 {
        std::thread::scope(|scope| {
            let (ahead, blocks) = std::sync::mpsc::sync_channel(1);
            // The blocks' buffers, handed back once parsed, to be filled again.
            let (give_back, spares) = std::sync::mpsc::channel::<Vec<u8>>();
            // Each block goes over in the buffer it was read into, and the next is read into a spare one.
            let read = move || {
                read_blocks(reader, first_line, size, cut, |block| {
                    let piece = match block {
                        Filled::Lines(buf, end, first, ranges) => Ok((buf, end, first, ranges)),
                        Filled::TooLong(line, len) => Err((line, len)),
                    };
                    // Fails only when `handle` has stopped at an error, which is the one to report.
                    ahead.send(piece).map_err(|_| anyhow::anyhow!("the reading was stopped"))?;
                    Ok(spares.try_recv().ok())
                })
            };
            let reader = std::thread::Builder::new().name("read".into()).spawn_scoped(scope, read)?;
            // On an error, `blocks` is dropped, which stops the reading thread at its next block.
            let handled = blocks.into_iter().try_for_each(|piece| match piece {
                Ok((buf, end, first, ranges)) => {
                    let done = step(Block::Lines(&buf[..end], first, &ranges));
                    let _ = give_back.send(buf);
                    done
                }
                Err((line, len)) => step(Block::TooLong(line, len)),
            });
            let read = reader.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            handled.and(read)
        })?;
    } else {
        blocks_from(reader, first_line, size, cut, step)?;
    }
    match pending {
        Some(last) => handle(last),
        None => Ok(()),
    }
}

/// The lines of a range, each with its number and what it says.
type ParsedLines<T> = Vec<(u64, Parsed<T>)>;

/// The lines of a range that are not valid UTF-8: how many, and the number of the first.
type InvalidLines = (u64, Option<u64>);

/// How many bytes of a log are read and parsed at a time.
pub const STREAM_BLOCK: usize = 2 << 20;

/// What [`stream_lines`] hands on.
pub enum Streamed<T> {
    /// A line's record, with the line's number.
    Record(u64, T),
    /// The end of a block: what its records made can be handed on.
    EndOfBlock,
}

/// Reads a log line by line in blocks of [`STREAM_BLOCK`], as [`pipeline_blocks_cut`] does: each block's lines are
/// parsed by `parse` on all cores while the block before is handled. Every line is counted in `stats` as read, and
/// as ignored or malformed where `parse` says so; `advanced` is told the size of each block; `handle` gets each
/// record with its line number (and counts it as used, or as malformed), then the end of its block. An error from
/// `handle` stops the reading, and is returned.
pub fn stream_lines<T: Send>(
    reader: impl std::io::Read + Send,
    stats: &mut super::FileStats,
    advanced: &mut (dyn FnMut(u64) + Send),
    parse: impl Fn(u64, &str) -> Parsed<T> + Sync,
    mut handle: impl FnMut(Streamed<T>, &mut super::FileStats) -> anyhow::Result<()> + Send,
) -> anyhow::Result<()> {
    stream_line_blocks(reader, stats, advanced, parse, |block, stats| {
        // After an error the block's other records are only counted as read: the run stops with the error.
        let mut failed = Ok(());
        block.account(stats, |line, record, stats| {
            if failed.is_ok() {
                failed = handle(Streamed::Record(line, record), stats);
            }
        });
        failed?;
        handle(Streamed::EndOfBlock, stats)
    })
}

/// A block's lines as parsed, range by range in input order, for [`stream_line_blocks`]'s handler to go through
/// once with [`ParsedBlockLines::account`].
pub struct ParsedBlockLines<T>(Vec<ParsedLines<T>>);

impl<T> ParsedBlockLines<T> {
    /// Counts every line in `stats` as read, and as ignored or malformed where its parser said so, and hands each
    /// record to `record` with its line number (which counts it as used, or as malformed), in input order.
    pub fn account(&mut self, stats: &mut super::FileStats, mut record: impl FnMut(u64, T, &mut super::FileStats)) {
        for chunk in &mut self.0 {
            for (line, p) in chunk.drain(..) {
                stats.read += 1;
                match p {
                    Parsed::Used(r) => record(line, r, stats),
                    Parsed::Ignored => stats.ignored += 1,
                    Parsed::Malformed(why) => stats.malformed(line, why),
                }
            }
        }
    }
}

/// [`stream_lines`] with each block handed over whole: `handle` can then go through its records inside work it
/// runs beside other work, rather than one record at a time before any of it starts. Lines `handle` does not
/// [`ParsedBlockLines::account`] for are dropped uncounted.
pub fn stream_line_blocks<T: Send>(
    reader: impl std::io::Read + Send,
    stats: &mut super::FileStats,
    advanced: &mut (dyn FnMut(u64) + Send),
    parse: impl Fn(u64, &str) -> Parsed<T> + Sync,
    mut handle: impl FnMut(&mut ParsedBlockLines<T>, &mut super::FileStats) -> anyhow::Result<()> + Send,
) -> anyhow::Result<()> {
    // The vectors of records, handed back once emptied and filled again: fresh ones for every block were memory
    // the allocator gave back to the system and took again, a page fault for every few records.
    let spare: std::sync::Mutex<Vec<ParsedLines<T>>> = std::sync::Mutex::default();
    let parse = |bytes: &[u8], _, ranges: &[Range]| {
        let chunks = map_ranges(bytes, ranges, |first, chunk| {
            let room = spare.lock().ok().and_then(|mut s| s.pop()).unwrap_or_default();
            parse_chunk_into(chunk, first, &parse, room)
        });
        let invalid = chunks.iter().fold((0, None), |(count, at), (_, (n, first))| (count + n, at.or(*first)));
        (ParsedBlockLines(chunks.into_iter().map(|(lines, _)| lines).collect::<Vec<_>>()), invalid)
    };
    // Lines an earlier run read (`--state`) were skipped: numbers go on after them.
    let first_line = stats.resumed_after + 1;
    pipeline_checked_blocks(reader, first_line, STREAM_BLOCK, lines_end, parse, |block| {
        let mut parsed = match block {
            ParsedBlock::TooLong(line, len) => {
                stats.read += 1;
                stats.malformed(line, format!("line of {len} bytes is longer than the limit of {MAX_LINE}"));
                return Ok(());
            }
            ParsedBlock::Block(parsed, bytes, invalid_utf8) => {
                advanced(bytes);
                stats.add_invalid_utf8(invalid_utf8);
                parsed
            }
        };
        let handled = handle(&mut parsed, stats);
        if let Ok(mut spare) = spare.lock() {
            spare.extend(parsed.0.into_iter().map(|mut chunk| {
                chunk.clear();
                chunk
            }));
        }
        handled
    })
}

/// How many lines of `bytes` are not valid UTF-8, and the number of the first. Valid text is checked at memory
/// speed; only a file with bad bytes is looked at line by line.
pub fn invalid_utf8_lines(bytes: &[u8]) -> (u64, Option<u64>) {
    if valid_text(bytes).is_some() {
        return (0, None);
    }
    let mut count = 0;
    let mut first = None;
    for (i, line) in split(bytes).enumerate() {
        if std::str::from_utf8(line).is_err() {
            count += 1;
            first.get_or_insert(i as u64 + 1);
        }
    }
    (count, first)
}

/// `bytes` as text, if they are valid UTF-8. Every byte of every input is checked once, so with the vector
/// instructions of the machine (`simdutf8`): std's check takes a word at a time, and took 2% of a Postfix report's
/// instructions.
pub fn valid_text(bytes: &[u8]) -> Option<&str> {
    simdutf8::basic::from_utf8(bytes).ok()
}

/// The lines of a buffer without their line ends; a last line without `\n` counts.
pub fn split(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (line, tail) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = tail;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_str_finds_the_first_occurrence() {
        assert_eq!(find_str("a H=x H=y", " H="), Some(1));
        assert_eq!(find_str("defer (-44): x: y", ": "), Some(11));
        assert_eq!(find_str("HH=", " H="), None);
        assert_eq!(find_str("ab", "abc"), None);
        assert_eq!(find_str("é: x", ": "), Some(2));
        assert_eq!(find_str("x", ""), None);
    }

    #[test]
    fn csv_ranges_end_where_records_end() {
        // Records with a quoted line end placed across every range boundary: no range may end inside one.
        let mut csv = String::new();
        while csv.len() < 3 * CHUNK {
            csv.push_str("a,\"b\nc\"\"d\",e\n");
            csv.push_str("f,g\n");
        }
        let ranges = map_csv_chunks(csv.as_bytes(), 5, |first, range| (first, range.to_vec()));
        assert!(ranges.len() >= 3);
        let mut line = 5;
        let mut whole = Vec::new();
        for (first, range) in &ranges {
            assert_eq!(*first, line, "the number of a range's first line");
            let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(&range[..]);
            for record in reader.records() {
                let record = record.unwrap();
                let cells: Vec<&str> = record.iter().collect();
                assert!(cells == ["a", "b\nc\"d", "e"] || cells == ["f", "g"], "a range cut a record: {cells:?}");
            }
            line += range.iter().filter(|&&b| b == b'\n').count() as u64;
            whole.extend_from_slice(range);
        }
        assert_eq!(whole, csv.as_bytes());
        assert!(map_csv_chunks(b"", 1, |_, r| r.len()).is_empty());
        assert_eq!(map_csv_chunks(b"x,\"y", 1, |_, r| r.len()), [4], "an unterminated last record");
    }

    #[test]
    fn blocks_read_ahead_come_in_order_and_stop_at_the_first_error() {
        // About 24 blocks, read on a thread of their own (the pool has two workers).
        let text: Vec<u8> = (0..1_000_000u64).flat_map(|n| format!("line {n:>44}\n").into_bytes()).collect();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let parsed = std::sync::atomic::AtomicUsize::new(0);
        let parse = |bytes: &[u8], first: u64| {
            parsed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            ((first, bytes.len() as u64), bytes.to_vec())
        };
        let mut seen = Vec::new();
        let mut whole = Vec::new();
        pool.install(|| {
            pipeline_blocks_cut(&text[..], STREAM_BLOCK, lines_end, parse, |block| {
                if let ParsedBlock::Block((got, bytes), size, _) = block {
                    seen.push((got, size));
                    whole.extend_from_slice(&bytes);
                }
                Ok(())
            })
        })
        .unwrap();
        assert!(seen.len() > 20);
        let mut next = (1, 0);
        for &((first, len), size) in &seen {
            assert_eq!((first, len), (next.0, size), "blocks in order, each parsed once");
            next = (first + len / 50, next.1 + size);
        }
        assert_eq!(next.1, text.len() as u64);
        // Each block's buffer is handed over and filled again: the blocks hold the text, byte for byte.
        assert!(whole == text, "the blocks put together are the text");
        // An error from `handle` is the one reported, and the reading stops soon after it.
        parsed.store(0, std::sync::atomic::Ordering::Relaxed);
        let mut handled = 0;
        let result = pool.install(|| {
            pipeline_blocks_cut(&text[..], STREAM_BLOCK, lines_end, parse, |_| {
                handled += 1;
                if handled == 2 { Err(anyhow::anyhow!("stop here")) } else { Ok(()) }
            })
        });
        assert_eq!(result.unwrap_err().to_string(), "stop here");
        assert_eq!(handled, 2);
        assert!(parsed.load(std::sync::atomic::Ordering::Relaxed) <= 3);
    }

    #[test]
    fn streamed_lines_count_bad_utf8_in_every_chunk_and_block() {
        // Several blocks of several chunks each; bad bytes in a late chunk of the first block and in a later block.
        let mut text = Vec::new();
        let bad = [9_000u64, 9_001, 70_000];
        for n in 1..=80_000u64 {
            text.extend_from_slice(format!("line {n:>60}").as_bytes());
            if bad.contains(&n) {
                text.push(0xff);
            }
            text.push(b'\n');
        }
        let mut stats = super::super::FileStats::default();
        let mut used = 0;
        stream_lines(
            &text[..],
            &mut stats,
            &mut |_| {},
            |_, line| Parsed::Used(line.len()),
            |streamed, _| {
                if let Streamed::Record(..) = streamed {
                    used += 1;
                }
                Ok(())
            },
        )
        .unwrap();
        assert!(text.len() > 2 * STREAM_BLOCK);
        assert_eq!((used, stats.read), (80_000, 80_000));
        assert_eq!(stats.invalid_utf8, (3, Some(9_000)));
    }

    #[test]
    fn numbers_lines_and_strips_line_ends() {
        let out = parse_lines(b"a\r\nb\n\nc", |n, l| Parsed::Used(format!("{n}:{l}")));
        let got: Vec<String> = out
            .into_iter()
            .map(|(_, p)| match p {
                Parsed::Used(s) => s,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(got, ["1:a", "2:b", "3:", "4:c"]);
        assert!(parse_lines(b"", |_, _| Parsed::<()>::Ignored).is_empty());
    }

    #[test]
    fn csv_blocks_keep_quoted_line_ends_inside_their_records() {
        assert_eq!(csv_records_end(b"a,\"x\ny\",b\nc,\"z"), Some(10));
        assert_eq!(csv_records_end(b"a,\"x\ny"), None);
        assert_eq!(csv_records_end(b"a,\"\"\"q\"\"\"\n"), Some(10), "doubled quotes");
        // Over three blocks, every block ends with a whole record, and the records come through in order.
        let rows = 150_000;
        let text: String = (0..rows).map(|i| format!("d,\"{i}\nsecond line\",x\n")).collect();
        let mut seen = Vec::new();
        let parse = |bytes: &[u8], first: u64| {
            let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(bytes);
            let cells: Vec<String> = reader.records().map(|r| r.unwrap()[1].to_string()).collect();
            (first, cells, csv_records_end(bytes) == Some(bytes.len()))
        };
        pipeline_blocks_cut(text.as_bytes(), 0, csv_records_end, parse, |block| {
            let ParsedBlock::Block((first, cells, whole), ..) = block else { panic!("no row is too long") };
            assert!(whole);
            assert_eq!(first, seen.len() as u64 * 2 + 1, "two lines a record");
            seen.extend(cells);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen.len(), rows);
        assert!(seen.iter().enumerate().all(|(i, c)| *c == format!("{i}\nsecond line")));
    }

    #[test]
    fn a_block_comes_cut_into_numbered_ranges_at_line_ends() {
        // Lines of changing lengths, over several blocks of several ranges each, the last without its line end.
        let text: String = (0..60_000).map(|i| format!("line {i} {}\n", "x".repeat(i % 97))).collect();
        let text = &text[..text.len() - 1];
        let line_of = |at: usize| 1 + memchr::memchr_iter(b'\n', &text.as_bytes()[..at]).count() as u64;
        let (mut offset, mut blocks, mut ranges_seen) = (0, 0, 0);
        for_each_block(text.as_bytes(), 0, |b| {
            let Block::Lines(bytes, first, ranges) = b else { panic!("no line is too long") };
            assert_eq!(first, line_of(offset));
            assert_eq!(ranges, &line_ranges(bytes, first).0[..], "as map_chunks cuts the block");
            let mut start = 0;
            for &(s, e, line) in ranges {
                assert_eq!((s, line), (start, line_of(offset + s)));
                assert!(e == bytes.len() || bytes[e - 1] == b'\n');
                start = e;
            }
            assert_eq!(start, bytes.len());
            (offset, blocks, ranges_seen) = (offset + bytes.len(), blocks + 1, ranges_seen + ranges.len());
            Ok(())
        })
        .unwrap();
        assert_eq!(offset, text.len());
        assert!(blocks > 1 && ranges_seen > blocks, "{blocks} blocks, {ranges_seen} ranges");
    }

    #[test]
    fn blocks_cut_at_line_ends_and_skip_long_lines() {
        let long = "x".repeat(3 * MAX_LINE);
        let text = format!("a\nb\n{long}\nc\nd");
        let mut seen = Vec::new();
        for_each_block(text.as_bytes(), 1, |b| {
            match b {
                Block::Lines(bytes, first, _) => {
                    for (i, l) in split(bytes).enumerate() {
                        let l =
                            if l.len() > 10 { format!("{} bytes", l.len()) } else { String::from_utf8_lossy(l).into() };
                        seen.push(format!("{}:{l}", first + i as u64));
                    }
                }
                Block::TooLong(n, len) => seen.push(format!("{n}:long {len}")),
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, ["1:a", "2:b", &format!("3:long {}", 3 * MAX_LINE), "4:c", "5:d"]);
    }

    #[test]
    fn blocks_read_ahead_skip_long_lines_and_keep_the_lines_around_them() {
        // Blocks read on a thread of their own, each in its own buffer, around a line too long for any block.
        let mut text = Vec::new();
        for n in 1..=600_000u64 {
            if n == 90_000 {
                text.extend(std::iter::repeat_n(b'x', 3 * MAX_LINE));
            } else {
                text.extend_from_slice(format!("line {n}").as_bytes());
            }
            text.push(b'\n');
        }
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let parse = |bytes: &[u8], first: u64| {
            split(bytes).enumerate().map(|(i, l)| (first + i as u64, l.to_vec())).collect::<Vec<_>>()
        };
        let (mut lines, mut long) = (Vec::new(), Vec::new());
        pool.install(|| {
            pipeline_blocks_cut(&text[..], 1, lines_end, parse, |block| {
                match block {
                    ParsedBlock::Block(got, ..) => lines.extend(got),
                    ParsedBlock::TooLong(n, len) => long.push((n, len)),
                }
                Ok(())
            })
        })
        .unwrap();
        assert_eq!(long, [(90_000, 3 * MAX_LINE as u64)]);
        assert_eq!(lines.len(), 599_999);
        for (n, line) in lines {
            assert_eq!(line, format!("line {n}").into_bytes());
        }
    }

    #[test]
    fn pairs() {
        assert_eq!(find_pair("a:b: c", b':', b' '), Some(3));
        assert_eq!(find_pair("a:b", b':', b' '), None);
        assert_eq!(find_pair("x, y", b',', b' '), Some(1));
    }

    #[test]
    fn invalid_utf8_is_read_lossily() {
        let out = parse_lines(b"caf\xe9\n", |_, l| Parsed::Used(l.to_string()));
        assert!(matches!(&out[0].1, Parsed::Used(s) if s == "caf\u{fffd}"));
        assert_eq!(invalid_utf8_lines(b"ok\ncaf\xe9\nok\n\xff"), (2, Some(2)));
        assert_eq!(invalid_utf8_lines("caf\u{e9}\n".as_bytes()), (0, None));
    }

    proptest::proptest! {
        /// A chunk read as one piece of text gives each line as reading it line by line does.
        #[test]
        fn chunks_read_as_line_by_line(chunk in proptest::collection::vec(
            proptest::sample::select(vec![b'a', b'\n', b'\r', 0xc3, 0xa9, 0xff, b' ']), 0..64)) {
            let got = parse_chunk(&chunk, 7, |n, l| Parsed::Used(format!("{n}:{l}")));
            let want: Vec<String> = split(&chunk)
                .enumerate()
                .map(|(i, raw)| format!("{}:{}", 7 + i, String::from_utf8_lossy(raw)))
                .collect();
            let got: Vec<String> = got
                .into_iter()
                .map(|(_, p)| match p {
                    Parsed::Used(s) => s,
                    _ => String::new(),
                })
                .collect();
            proptest::prop_assert_eq!(got, want);
        }
    }
}
