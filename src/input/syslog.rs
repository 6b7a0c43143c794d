//! The syslog frame shared by Postfix and Sendmail logs: the time, the host and the program before each message,
//! and the years that traditional syslog times leave out.
//!
//! A traditional syslog time has no year, so a line's year is known only from the whole file: the year of its
//! first line (given with `--year`, or counted back from the file's modification time), plus one each time the
//! month goes backwards. Nor has it an offset: it is the server's wall clock, placed by the zone of `--tz` (see
//! [`crate::domain::zone`]) once its year is known.

use crate::domain::attempt::Source;
use crate::domain::time::{
    LineYear, Timestamp, YearCounter, YearlessTime, infer_first_year, month_from_abbrev, parse_clock,
};
use crate::domain::zone::{Zone, ZoneClock};

use super::FileStats;

/// A line's time: complete, or a syslog time whose year is found from the whole file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineTime {
    /// The line carried its year and its offset (RFC 3339 with `Z` or `+01:00`).
    Full(Timestamp),
    /// The line carried its year but no offset (`2026-11-26T03:30:13`, `YYYY Mon DD ...`): the server's wall clock,
    /// held as if UTC until the zone (`--tz`) places it.
    Local(Timestamp),
    /// `Mon DD HH:MM:SS`: the server's wall clock, without its year.
    Yearless(YearlessTime),
}

impl LineTime {
    /// The instant: a yearless time gets the year `years` has reached (see [`YearCounter`]), and a wall-clock time
    /// is placed by `zone`. A date that does not exist in its year (29 February) is why the line is malformed.
    pub fn resolve(self, years: &mut YearCounter, zone: &mut ZoneClock) -> Result<Timestamp, String> {
        match self {
            LineTime::Full(t) => Ok(t),
            LineTime::Local(t) => Ok(zone.to_utc(t)),
            LineTime::Yearless(t) => match t.resolve(years) {
                LineYear::Valid(t) => Ok(zone.to_utc(t)),
                LineYear::NoSuchDay => Err(format!("{}-{:02}-{:02} does not exist", years.current(), t.month, t.day)),
            },
        }
    }

    /// The time with its year, as the line wrote it (a wall-clock time as if UTC); None for a yearless one.
    pub fn with_year(self) -> Option<Timestamp> {
        match self {
            LineTime::Full(t) | LineTime::Local(t) => Some(t),
            LineTime::Yearless(_) => None,
        }
    }
}

/// The parts of a syslog line.
#[derive(Debug, PartialEq, Eq)]
pub struct SyslogLine<'a> {
    /// When.
    pub time: LineTime,
    /// The host that logged it.
    pub host: &'a str,
    /// The program, without its pid (`postfix/smtp`).
    pub program: &'a str,
    /// The text after `program[pid]: `.
    pub message: &'a str,
}

/// Reads the syslog frame of a line: traditional (`Nov 26 03:30:13 host prog[pid]: msg`), RFC 3339
/// (`2026-11-26T03:30:13.123+00:00 host prog[pid]: msg`) or `2013 Jun 16 16:05:06.123 host prog[pid]: msg`.
pub fn parse_syslog(line: &str) -> Option<SyslogLine<'_>> {
    let (time, rest) = match traditional_time(line.as_bytes()) {
        Some(t) => (LineTime::Yearless(t), &line[TRADITIONAL_LEN..]),
        None => time_prefix(line)?,
    };
    frame(time, rest)
}

/// The length of a traditional syslog time with its space: `Nov 26 03:30:13 `.
const TRADITIONAL_LEN: usize = 16;

/// The time of a line that starts as nearly every syslog line does, `Mon DD HH:MM:SS ` with a two-digit or
/// space-padded day, read at fixed places; None for any other start, which [`time_prefix`] then reads. Gives what
/// `time_prefix` gives for the lines it reads (a property test checks it): every log line starts here.
fn traditional_time(b: &[u8]) -> Option<YearlessTime> {
    let b = b.get(..TRADITIONAL_LEN)?;
    if b[3] != b' ' || b[6] != b' ' || b[9] != b':' || b[12] != b':' || b[15] != b' ' {
        return None;
    }
    let digit = |i: usize| b[i].is_ascii_digit().then(|| u32::from(b[i] - b'0'));
    let tens = if b[4] == b' ' { 0 } else { digit(4)? };
    let day = tens * 10 + digit(5)?;
    let (h, m, s) = (digit(7)? * 10 + digit(8)?, digit(10)? * 10 + digit(11)?, digit(13)? * 10 + digit(14)?);
    if !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let month = month_from_abbrev(&b[..3])?;
    Some(YearlessTime { month, day: day as u8, ms_of_day: (h * 3600 + m * 60 + s) * 1000 })
}

/// The time at the start of a line in any of the forms [`parse_syslog`] reads, and the rest of the line.
fn time_prefix(line: &str) -> Option<(LineTime, &str)> {
    let b = line.as_bytes();
    Some(if b.len() > 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' {
        let end = line.find(' ')?;
        let (t, stated) = Timestamp::parse_zoned(&line[..end])?;
        (if stated { LineTime::Full(t) } else { LineTime::Local(t) }, &line[end + 1..])
    } else if b.len() > 20 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b' ' {
        let year: i32 = line[..4].parse().ok()?;
        let (t, rest) = yearless(&line[5..])?;
        (LineTime::Local(t.in_year(year)?), rest)
    } else {
        let (t, rest) = yearless(line)?;
        (LineTime::Yearless(t), rest)
    })
}

/// The host, program and message after a line's time. The host is short, so it is found byte by byte rather than
/// by memchr, whose set-up costs more than such a scan; the tag's end is found by memchr, which is faster there.
fn frame(time: LineTime, rest: &str) -> Option<SyslogLine<'_>> {
    let rest = rest.trim_start();
    let space = rest.bytes().position(|c| c == b' ')?;
    let (host, rest) = (&rest[..space], &rest[space + 1..]);
    let colon = super::lines::find_pair(rest, b':', b' ')?;
    let tag = &rest.as_bytes()[..colon];
    let program = &rest[..tag.iter().position(|&c| c == b'[').unwrap_or(colon)];
    if program.is_empty() || program.bytes().any(|c| c == b' ') {
        return None;
    }
    Some(SyslogLine { time, host, program, message: &rest[colon + 2..] })
}

/// `Mon DD HH:MM:SS[.fff]` (day space-padded or not) at the start of `s`.
fn yearless(s: &str) -> Option<(YearlessTime, &str)> {
    let b = s.as_bytes();
    let month = month_from_abbrev(b.get(..3)?)?;
    let rest = s.get(3..)?.trim_start_matches(' ');
    let day_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    if !(1..=2).contains(&day_len) {
        return None;
    }
    let day: u8 = rest[..day_len].parse().ok()?;
    let rest = rest[day_len..].strip_prefix(' ')?;
    let (ms, tail) = parse_clock(rest.as_bytes())?;
    if day == 0 || day > 31 {
        return None;
    }
    let consumed = rest.len() - tail.len();
    Some((YearlessTime { month, day, ms_of_day: ms as u32 }, &rest[consumed..]))
}

/// The traditional syslog time at the start of a line, if it has one (`Nov 26 03:30:13 ...`).
pub fn yearless_prefix(line: &[u8]) -> Option<YearlessTime> {
    let head = &line[..line.len().min(32)];
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).ok()?,
    };
    yearless(text).map(|(t, _)| t)
}

/// Gives every record an instant: syslog times get the year of the file's first line (`year`, or inferred from
/// `modified`) plus one for each time the month goes backwards, and wall-clock times are placed by `zone`. A date
/// that does not exist in its year (29 February) makes the line malformed.
pub fn resolve_years<R>(
    records: Vec<(Source, LineTime, R)>,
    year: Option<i32>,
    modified: Timestamp,
    zone: &Zone,
    stats: &mut FileStats,
) -> Vec<(Source, Timestamp, R)> {
    let yearless: Vec<_> = records
        .iter()
        .filter_map(|(_, t, _)| match t {
            LineTime::Yearless(t) => Some(*t),
            LineTime::Full(_) | LineTime::Local(_) => None,
        })
        .collect();
    let first_year = year.unwrap_or_else(|| infer_first_year(&yearless, modified));
    let (mut years, mut clock) = (YearCounter::new(first_year), ZoneClock::new(zone));
    let mut out = Vec::with_capacity(records.len());
    for (source, time, record) in records {
        match time.resolve(&mut years, &mut clock) {
            Ok(time) => out.push((source, time, record)),
            Err(why) => {
                stats.used -= 1;
                stats.malformed(source.line, why);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syslog_frames() {
        let l = parse_syslog("Nov  2 09:00:01 mta1 postfix/smtp[3249]: 6E4F7A6E69: to=<a@b>").unwrap();
        assert_eq!(l.time, LineTime::Yearless(YearlessTime { month: 11, day: 2, ms_of_day: 32_401_000 }));
        assert_eq!((l.host, l.program, l.message), ("mta1", "postfix/smtp", "6E4F7A6E69: to=<a@b>"));
        let l = parse_syslog("2023-03-14T00:08:33.579644+01:00 helga postfix/smtpd[297535]: x: y").unwrap();
        assert_eq!(l.time, LineTime::Full(Timestamp::parse("2023-03-13T23:08:33.579Z").unwrap()));
        let l = parse_syslog("2013 Jun 16 16:05:06.123 server postfix/qmgr[1]: A: removed").unwrap();
        // A year but no offset: the server's wall clock, which `--tz` places.
        assert_eq!(l.time, LineTime::Local(Timestamp::parse("2013-06-16T16:05:06.123Z").unwrap()));
        let l = parse_syslog("2023-03-14T00:08:33 helga postfix/smtpd[297535]: x: y").unwrap();
        assert_eq!(l.time, LineTime::Local(Timestamp::parse("2023-03-14T00:08:33Z").unwrap()));
        let l = parse_syslog("2023-03-14T00:08:33Z helga postfix/smtpd[297535]: x: y").unwrap();
        assert_eq!(l.time, LineTime::Full(Timestamp::parse("2023-03-14T00:08:33Z").unwrap()));
        assert!(parse_syslog("garbage").is_none());
        assert!(parse_syslog("Nov 26 03:30:13").is_none());
        assert!(parse_syslog("Nov 00 03:30:13 h p: m").is_none());
        assert!(parse_syslog("Nov 26 24:30:13 h p: m").is_none());
    }

    /// The frame as read before the fixed-place reading of the time: the general reading alone.
    fn general(line: &str) -> Option<SyslogLine<'_>> {
        let (time, rest) = time_prefix(line)?;
        frame(time, rest)
    }

    proptest::proptest! {
        #[test]
        fn fixed_place_times_read_as_the_general_reading(
            month in proptest::sample::select(vec!["Nov", "nov", "Feb", "Xyz", "Dec"]),
            day in "[ 0-9][0-9]",
            clock in "[0-9]{2}:[0-9]{2}:[0-9]{2}",
            sep in "[ .,0-9]{1,3}",
            tail in "[ a-z0-9\\[\\]/:]{0,30}",
        ) {
            let line = format!("{month} {day} {clock}{sep}{tail}");
            proptest::prop_assert_eq!(parse_syslog(&line), general(&line));
        }

        #[test]
        fn any_line_reads_as_the_general_reading(line in "\\PC{0,40}") {
            proptest::prop_assert_eq!(parse_syslog(&line), general(&line));
        }
    }
}
