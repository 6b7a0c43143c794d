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
    const CHUNK: usize = 4 << 20;
    let mut ranges = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let mut end = (start + CHUNK).min(bytes.len());
        if end < bytes.len() {
            end = memchr::memchr(b'\n', &bytes[end..]).map_or(bytes.len(), |i| end + i + 1);
        }
        ranges.push((start, end));
        start = end;
    }
    let mut first_lines = Vec::with_capacity(ranges.len());
    let mut line = 1u64;
    for &(s, e) in &ranges {
        first_lines.push(line);
        line += memchr::memchr_iter(b'\n', &bytes[s..e]).count() as u64;
        if e == bytes.len() && e > s && bytes[e - 1] != b'\n' {
            line += 1;
        }
    }
    let chunks: Vec<Vec<(u64, Parsed<T>)>> = ranges
        .par_iter()
        .zip(first_lines)
        .map(|(&(s, e), first)| {
            let mut out = Vec::new();
            for (i, raw) in split(&bytes[s..e]).enumerate() {
                let n = first + i as u64;
                let parsed = if raw.len() > MAX_LINE {
                    Parsed::Malformed(format!("line of {} bytes is longer than the limit of {MAX_LINE}", raw.len()))
                } else {
                    parse(n, &String::from_utf8_lossy(raw))
                };
                out.push((n, parsed));
            }
            out
        })
        .collect();
    chunks.into_iter().flatten().collect()
}

/// How many lines of `bytes` are not valid UTF-8, and the number of the first. Valid text is checked at memory
/// speed; only a file with bad bytes is looked at line by line.
pub fn invalid_utf8_lines(bytes: &[u8]) -> (u64, Option<u64>) {
    if std::str::from_utf8(bytes).is_ok() {
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

/// The lines of a buffer without their line ends; a last line without `\n` counts.
fn split(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
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
    fn invalid_utf8_is_read_lossily() {
        let out = parse_lines(b"caf\xe9\n", |_, l| Parsed::Used(l.to_string()));
        assert!(matches!(&out[0].1, Parsed::Used(s) if s == "caf\u{fffd}"));
        assert_eq!(invalid_utf8_lines(b"ok\ncaf\xe9\nok\n\xff"), (2, Some(2)));
        assert_eq!(invalid_utf8_lines("caf\u{e9}\n".as_bytes()), (0, None));
    }
}
