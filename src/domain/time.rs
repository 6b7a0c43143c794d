//! Instants in UTC and the calendar arithmetic behind them.
//!
//! Logs write time in many ways (syslog without a year, RFC 3339, Exim's `YYYY-MM-DD HH:MM:SS`); everything becomes a
//! [`Timestamp`] here. The core never reads a clock: where "now" matters (a syslog file's year), the caller passes it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An instant: milliseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(i64);

/// Milliseconds in a day.
pub const MS_PER_DAY: i64 = 86_400_000;

impl Timestamp {
    /// The instant `ms` milliseconds after the Unix epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    /// The instant `s` seconds after the Unix epoch.
    pub const fn from_secs(s: i64) -> Self {
        Timestamp(s * 1000)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn millis(self) -> i64 {
        self.0
    }

    /// The instant of a UTC calendar date and time, if the fields are in range.
    pub fn from_civil(year: i32, month: u8, day: u8, hour: u8, minute: u8, second: u8, ms: u16) -> Option<Self> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        if hour > 23 || minute > 59 || second > 60 || ms > 999 {
            return None;
        }
        let days = days_from_civil(year, month, day);
        let secs = i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
        Some(Timestamp(days * MS_PER_DAY + secs * 1000 + i64::from(ms)))
    }

    /// The UTC calendar fields of this instant.
    pub fn civil(self) -> Civil {
        let days = self.0.div_euclid(MS_PER_DAY);
        let rem = self.0.rem_euclid(MS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        let secs = rem / 1000;
        Civil {
            year,
            month,
            day,
            hour: (secs / 3600) as u8,
            minute: (secs / 60 % 60) as u8,
            second: (secs % 60) as u8,
            ms: (rem % 1000) as u16,
        }
    }

    /// Parses RFC 3339 and its common relatives: `2026-11-26T03:30:13Z`, `2026-11-26 03:30:13.123+01:00`,
    /// `2026-11-26 03:30:13 +0000` (PowerMTA: `2026-11-26 03:30:13+0000`), `2026-11-26T03:30:13` (UTC), or a bare
    /// date `2026-11-26` (midnight UTC).
    pub fn parse(text: &str) -> Option<Self> {
        Timestamp::parse_zoned(text).map(|(t, _)| t)
    }

    /// [`Timestamp::parse`], and whether the text states its offset (`Z`, `+01:00`): a time without one is read as
    /// UTC, which a caller that knows the writer's zone then corrects (see [`super::zone::Zone`]).
    pub fn parse_zoned(text: &str) -> Option<(Self, bool)> {
        let s = text.trim().as_bytes();
        let (date, rest) = parse_date(s)?;
        if rest.is_empty() {
            return Some((Timestamp(date * MS_PER_DAY), false));
        }
        if rest[0] != b'T' && rest[0] != b't' && rest[0] != b' ' {
            return None;
        }
        let (ms_of_day, rest) = parse_clock(&rest[1..])?;
        let offset = parse_offset(rest)?;
        let stated = !rest.iter().all(|&b| b == b' ');
        Some((Timestamp(date * MS_PER_DAY + ms_of_day - offset), stated))
    }

    /// RFC 3339 in UTC with second precision (`2026-11-26T03:30:13Z`), as the platform's exports write it: the same
    /// moment reads the same whether it came from a syslog line with microseconds or from a CSV export.
    pub fn rfc3339(self) -> String {
        self.to_string()
    }

    /// The same instant moved by `ms` milliseconds.
    pub const fn plus_millis(self, ms: i64) -> Self {
        Timestamp(self.0 + ms)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.civil();
        write!(f, "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", c.year, c.month, c.day, c.hour, c.minute, c.second)
    }
}

/// The calendar fields of an instant in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Civil {
    /// Proleptic Gregorian year.
    pub year: i32,
    /// 1 to 12.
    pub month: u8,
    /// 1 to 31.
    pub day: u8,
    /// 0 to 23.
    pub hour: u8,
    /// 0 to 59.
    pub minute: u8,
    /// 0 to 59.
    pub second: u8,
    /// 0 to 999.
    pub ms: u16,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(year: i32, month: u8, day: u8) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i32, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    (year, month, day)
}

fn is_leap(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Number of days in a month of a year.
pub fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The month number (1 to 12) of an English three-letter abbreviation (`Jan`, `feb`, ...).
pub fn month_from_abbrev(abbrev: &[u8]) -> Option<u8> {
    // The three letters, lower-cased, as one number: every syslog line asks, so the twelve names are told apart by
    // one comparison each rather than three.
    const fn key(m: &[u8; 3]) -> u32 {
        u32::from_le_bytes([m[0], m[1], m[2], 0])
    }
    const MONTHS: [u32; 12] = [
        key(b"jan"),
        key(b"feb"),
        key(b"mar"),
        key(b"apr"),
        key(b"may"),
        key(b"jun"),
        key(b"jul"),
        key(b"aug"),
        key(b"sep"),
        key(b"oct"),
        key(b"nov"),
        key(b"dec"),
    ];
    let &[a, b, c] = abbrev else { return None };
    // Setting bit 5 lower-cases a letter and makes no other byte a letter.
    let lower = key(&[a | 0x20, b | 0x20, c | 0x20]);
    MONTHS.iter().position(|&m| m == lower).map(|i| i as u8 + 1)
}

/// Reads `n` ASCII digits as a number.
fn digits(s: &[u8], n: usize) -> Option<u32> {
    if s.len() < n {
        return None;
    }
    s[..n].iter().try_fold(0u32, |acc, &b| b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0')))
}

/// `YYYY-MM-DD` at the start of `s`: days since the epoch and the rest.
fn parse_date(s: &[u8]) -> Option<(i64, &[u8])> {
    if s.len() < 10 || s[4] != b'-' || s[7] != b'-' {
        return None;
    }
    let year = digits(s, 4)? as i32;
    let month = digits(&s[5..], 2)? as u8;
    let day = digits(&s[8..], 2)? as u8;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some((days_from_civil(year, month, day), &s[10..]))
}

/// `HH:MM:SS[.fraction]` at the start of `s`: milliseconds of the day and the rest.
pub(crate) fn parse_clock(s: &[u8]) -> Option<(i64, &[u8])> {
    if s.len() < 8 || s[2] != b':' || s[5] != b':' {
        return None;
    }
    let h = digits(s, 2)?;
    let m = digits(&s[3..], 2)?;
    let sec = digits(&s[6..], 2)?;
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[8..];
    let mut ms = 0i64;
    if let Some((b'.' | b',', frac)) = rest.split_first() {
        let n = frac.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        let mut scale = 100;
        for &d in &frac[..n.min(3)] {
            ms += i64::from(d - b'0') * scale;
            scale /= 10;
        }
        rest = &frac[n..];
    }
    Some(((i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(sec)) * 1000 + ms, rest))
}

/// A zone suffix (`Z`, `+01:00`, `+0100`, ` +0000`, or nothing for UTC) as an offset in milliseconds.
fn parse_offset(s: &[u8]) -> Option<i64> {
    let s = s.strip_prefix(b" ").unwrap_or(s);
    match s {
        [] | [b'Z' | b'z'] => Some(0),
        _ => offset_fields(s).map(|(sign, h, m)| sign * (i64::from(h) * 60 + i64::from(m)) * 60_000),
    }
}

/// The sign (1 or -1), hours and minutes of an offset written `+01:00`, `+0100` or `+01`.
pub(super) fn offset_fields(s: &[u8]) -> Option<(i64, u32, u32)> {
    let (sign, rest) = match s {
        [b'+', rest @ ..] => (1, rest),
        [b'-', rest @ ..] => (-1, rest),
        _ => return None,
    };
    let (h, m) = match rest.len() {
        5 if rest[2] == b':' => (digits(rest, 2)?, digits(&rest[3..], 2)?),
        4 => (digits(rest, 2)?, digits(&rest[2..], 2)?),
        2 => (digits(rest, 2)?, 0),
        _ => return None,
    };
    Some((sign, h, m))
}

/// A syslog time without its year (`Nov 26 03:30:13`): the year is found later, from the file as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct YearlessTime {
    /// 1 to 12.
    pub month: u8,
    /// 1 to 31.
    pub day: u8,
    /// Milliseconds since midnight.
    pub ms_of_day: u32,
}

impl YearlessTime {
    /// This time in the given year, if the date exists in it (29 February does not in every year).
    pub fn in_year(self, year: i32) -> Option<Timestamp> {
        if self.day > days_in_month(year, self.month) {
            return None;
        }
        Some(Timestamp(days_from_civil(year, self.month, self.day) * MS_PER_DAY + i64::from(self.ms_of_day)))
    }
}

/// A yearless time placed in a year.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineYear {
    /// The instant.
    Valid(Timestamp),
    /// The date does not exist in the year it falls in (29 February).
    NoSuchDay,
}

impl YearlessTime {
    /// Places this time in the year the counter gives it.
    pub fn resolve(self, years: &mut YearCounter) -> LineYear {
        let year = years.year_of(self.month);
        let date = (year, self.month, self.day);
        if let Some((last, midnight)) = years.last_day
            && last == date
        {
            return LineYear::Valid(Timestamp(midnight + i64::from(self.ms_of_day)));
        }
        match self.in_year(year) {
            Some(t) => {
                years.last_day = Some((date, t.0 - i64::from(self.ms_of_day)));
                LineYear::Valid(t)
            }
            None => LineYear::NoSuchDay,
        }
    }
}

/// Gives years to the yearless times of one file, in file order: a month that goes backwards starts the next year.
#[derive(Clone, Debug)]
pub struct YearCounter {
    year: i32,
    last_month: u8,
    /// The date of the last time placed ([`YearlessTime::resolve`]) and its midnight in milliseconds: a log has
    /// millions of lines a day, and each of them would work its date out again.
    last_day: Option<((i32, u8, u8), i64)>,
}

impl YearCounter {
    /// A counter whose first line is in `first_year`.
    pub fn new(first_year: i32) -> Self {
        YearCounter { year: first_year, last_month: 0, last_day: None }
    }

    /// The year of the latest time counted.
    pub fn current(&self) -> i32 {
        self.year
    }

    /// The year of the next time in file order. A line a month behind the latest (lines merged from several hosts
    /// are out of order by seconds around midnight at the end of a month) is out of order, not a new year: `Apr 1`
    /// then `Mar 31` is the same year, and `Jan 1` then `Dec 31` is the year before.
    pub fn year_of(&mut self, month: u8) -> i32 {
        if self.last_month != 0 {
            if month + 1 == self.last_month {
                return self.year;
            }
            if self.last_month == 1 && month == 12 {
                return self.year - 1;
            }
        }
        if month < self.last_month {
            self.year += 1;
        }
        self.last_month = month;
        self.year
    }
}

/// [`infer_first_year`] fed one time at a time, for inputs read as a stream.
#[derive(Clone, Debug, Default)]
pub struct YearInference {
    counter: Option<YearCounter>,
    offset: i32,
    last: Option<YearlessTime>,
}

impl YearInference {
    /// Counts the next yearless time of the file.
    pub fn push(&mut self, t: YearlessTime) {
        self.offset = self.counter.get_or_insert_with(|| YearCounter::new(0)).year_of(t.month);
        self.last = Some(t);
    }

    /// The year of the file's first time, its last one being at or before `reference`.
    pub fn first_year(&self, reference: Timestamp) -> i32 {
        let Some(last) = self.last else {
            return reference.civil().year;
        };
        let ref_year = reference.civil().year;
        let last_year = match last.in_year(ref_year) {
            Some(ts) if ts <= reference => ref_year,
            // 29 February of a year that has none: the nearest earlier leap year.
            None if last.month == 2 && last.day == 29 => {
                (ref_year - 8..ref_year).rev().find(|y| is_leap(*y)).unwrap_or(ref_year)
            }
            _ => ref_year - 1,
        };
        last_year - self.offset
    }

    /// The time of the file's last line, in the year [`YearInference::first_year`] gives it (None for a file with
    /// no times, or whose last line is a 29 February that year lacks).
    pub fn last_time(&self, reference: Timestamp) -> Option<Timestamp> {
        self.last?.in_year(self.first_year(reference) + self.offset)
    }
}

/// The year of a file's first yearless time when no year is given: the file's last time is taken to be the latest
/// moment at or before `reference` (the file's modification time, or now), and years are counted back from there.
/// `times` are the file's times in file order.
pub fn infer_first_year(times: &[YearlessTime], reference: Timestamp) -> i32 {
    let mut inference = YearInference::default();
    for t in times {
        inference.push(*t);
    }
    inference.first_year(reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in [-800_000, -1, 0, 1, 59, 365, 10_957, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn parses_rfc3339_and_relatives() {
        let t = Timestamp::parse("2025-11-20T09:00:03Z").unwrap();
        assert_eq!(t.rfc3339(), "2025-11-20T09:00:03Z");
        assert_eq!(Timestamp::parse("2025-11-20 10:00:03+01:00"), Some(t));
        assert_eq!(Timestamp::parse("2025-11-20 09:00:03 +0000"), Some(t));
        // PowerMTA's accounting time: a space, and the offset without a colon right after the seconds.
        assert_eq!(Timestamp::parse("2025-11-20 09:00:03+0000"), Some(t));
        assert_eq!(Timestamp::parse("2025-11-20 04:00:03-0500"), Some(t));
        assert_eq!(Timestamp::parse("2025-11-20T09:00:03"), Some(t));
        let micro = Timestamp::parse("2023-03-14T00:08:35.948047+01:00").unwrap();
        assert_eq!(micro.rfc3339(), "2023-03-13T23:08:35Z");
        assert_eq!(micro.civil().ms, 948);
        assert_eq!(Timestamp::parse("2025-11-20").unwrap().rfc3339(), "2025-11-20T00:00:00Z");
        assert_eq!(Timestamp::parse("2025-02-30T00:00:00Z"), None);
        assert_eq!(Timestamp::parse("yesterday"), None);
        assert_eq!(Timestamp::parse("2025-11-20T09:00:03Q"), None);
    }

    #[test]
    fn month_abbreviations_in_any_case() {
        let names = ["Jan", "feb", "MAR", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "dEc"];
        for (i, name) in names.iter().enumerate() {
            assert_eq!(month_from_abbrev(name.as_bytes()), Some(i as u8 + 1), "{name}");
        }
        // Other lengths, and bytes one bit from a month's letters.
        for not in ["", "Ja", "Janu", "J\x01N", "jA\x0e", "\x0aan", "Ja ", "Ja.", "Mon"] {
            assert_eq!(month_from_abbrev(not.as_bytes()), None, "{not:?}");
        }
    }

    #[test]
    fn times_placed_one_after_another_are_those_placed_alone() {
        // Every day of two years and a leap day, as a log goes through them (the day cache), and each on its own.
        let mut years = YearCounter::new(2023);
        let mut day = days_from_civil(2023, 1, 1);
        while day < days_from_civil(2025, 1, 1) {
            let (y, month, d) = civil_from_days(day);
            for ms_of_day in [0, 1, 43_200_000, 86_399_999] {
                let t = YearlessTime { month, day: d, ms_of_day };
                assert_eq!(t.resolve(&mut years), LineYear::Valid(t.in_year(y).unwrap()), "{y}-{month}-{d}");
            }
            day += 1;
        }
        // 29 February in a year without it is no day, cached or not.
        let mut years = YearCounter::new(2025);
        let feb = |day| YearlessTime { month: 2, day, ms_of_day: 0 };
        assert!(matches!(feb(28).resolve(&mut years), LineYear::Valid(_)));
        assert_eq!(feb(29).resolve(&mut years), LineYear::NoSuchDay);
        assert_eq!(feb(29).resolve(&mut years), LineYear::NoSuchDay);
    }

    #[test]
    fn months_going_backwards_start_a_new_year() {
        let mut c = YearCounter::new(2025);
        assert_eq!([11, 12, 12, 1, 2].map(|m| c.year_of(m)), [2025, 2025, 2025, 2026, 2026]);
    }

    #[test]
    fn lines_a_month_out_of_order_keep_their_year() {
        let mut c = YearCounter::new(2025);
        assert_eq!([3, 4, 3, 4, 5].map(|m| c.year_of(m)), [2025; 5]);
        let mut c = YearCounter::new(2025);
        assert_eq!([12, 1, 12, 1, 2, 12].map(|m| c.year_of(m)), [2025, 2026, 2025, 2026, 2026, 2026]);
        let t = |month, day| YearlessTime { month, day, ms_of_day: 0 };
        let reference = Timestamp::parse("2026-01-05T00:00:00Z").unwrap();
        assert_eq!(infer_first_year(&[t(12, 31), t(1, 1), t(12, 31)], reference), 2025);
    }

    #[test]
    fn year_inferred_from_reference_time() {
        let t = |month, day| YearlessTime { month, day, ms_of_day: 0 };
        let reference = Timestamp::parse("2026-01-05T00:00:00Z").unwrap();
        // Dec 2025 then Jan 2026, the file written early in January.
        assert_eq!(infer_first_year(&[t(12, 30), t(1, 2)], reference), 2025);
        // The last line is later in the year than the reference: it must be last year's.
        assert_eq!(infer_first_year(&[t(3, 1), t(6, 1)], reference), 2025);
        assert_eq!(infer_first_year(&[t(1, 1), t(1, 4)], reference), 2026);
        // The last line's time, in the year that puts it at or before the reference.
        let last = |times: &[YearlessTime]| {
            let mut inference = YearInference::default();
            times.iter().for_each(|t| inference.push(*t));
            inference.last_time(reference).map(Timestamp::rfc3339)
        };
        assert_eq!(last(&[t(12, 30), t(1, 2)]).as_deref(), Some("2026-01-02T00:00:00Z"));
        assert_eq!(last(&[t(3, 1), t(6, 1)]).as_deref(), Some("2025-06-01T00:00:00Z"));
        assert_eq!(last(&[]), None);
    }
}
