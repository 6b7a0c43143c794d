//! The zone a log writes its times in, when they carry no offset (`--tz`).
//!
//! Syslog's `Nov 26 03:30:13` has neither a year nor an offset: it is the server's wall clock, and most servers keep
//! local time. Read as UTC, such a log is hours off the platform's exports (which write UTC) and the logs of servers
//! in other zones, and a contact's sends from two servers can be replayed in the wrong order. A [`Zone`] turns those
//! wall-clock times into instants. A zone of the tz database follows daylight saving time, as the server's clock did;
//! a fixed offset does not. Times that state their offset (`2026-11-26T03:30:13+01:00`, Exim's `+0100`) are exact
//! already and are left alone.
//!
//! Looking a zone up by name reads the system's tz database, so it is done by the caller ([`Zone::rules`] takes what
//! it found); nothing here reads a file.

use super::time::{Timestamp, offset_fields};

/// Milliseconds in an hour.
const MS_PER_HOUR: i64 = 3_600_000;

/// How times without an offset are read: as UTC (the default), at a fixed offset, or in a zone of the tz database.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Zone {
    /// Coordinated universal time.
    #[default]
    Utc,
    /// A fixed offset east of UTC, in milliseconds.
    Fixed(i64),
    /// A zone of the tz database (`Europe/Berlin`), whose offset changes with daylight saving time.
    Rules(jiff::tz::TimeZone),
}

impl Zone {
    /// A fixed zone written as `UTC`, `Z`, or an offset: `+02:00`, `-0500`, `+0530`, `+2`. None for other text (a
    /// zone name, which the caller looks up).
    pub fn fixed(text: &str) -> Option<Zone> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("utc") || t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("gmt") {
            return Some(Zone::Utc);
        }
        // `+2`: an hour of one digit, as people write it.
        let padded = match t.as_bytes() {
            [sign @ (b'+' | b'-'), digit] => format!("{}0{}", char::from(*sign), char::from(*digit)),
            _ => t.to_string(),
        };
        let (sign, h, m) = offset_fields(padded.as_bytes())?;
        // Real offsets run from -12:00 to +14:00.
        if h > 14 || m > 59 || (h == 14 && m > 0) {
            return None;
        }
        Some(match sign * (i64::from(h) * 60 + i64::from(m)) * 60_000 {
            0 => Zone::Utc,
            ms => Zone::Fixed(ms),
        })
    }

    /// A zone of the tz database, as the caller found it by name.
    pub fn rules(zone: jiff::tz::TimeZone) -> Zone {
        Zone::Rules(zone)
    }

    /// The instant of a wall-clock time in this zone; `local` holds its date and time as if they were UTC. A time
    /// the clocks skipped (spring forward) is read with the offset from before the change, and a time they showed
    /// twice (fall back) is the first of the two, as most software resolves them.
    pub fn to_utc(&self, local: Timestamp) -> Timestamp {
        match self {
            Zone::Utc => local,
            Zone::Fixed(ms) => local.plus_millis(-ms),
            Zone::Rules(tz) => local.plus_millis(-offset_at(tz, local)),
        }
    }

    /// How far ahead of UTC a server's clock can be: the easternmost zones keep UTC+14:00.
    pub const FURTHEST_AHEAD_MS: i64 = 14 * MS_PER_HOUR;

    /// The latest wall-clock time a server in this zone can have written at `instant` (a file's modification time),
    /// as if UTC: its clock at that instant. UTC is also what a run assumes when no zone is given, and a server in
    /// any zone may then have written it: its clock may be up to [`Zone::FURTHEST_AHEAD_MS`] ahead.
    pub fn latest_wall_clock(&self, instant: Timestamp) -> Timestamp {
        match self {
            Zone::Utc => instant.plus_millis(Self::FURTHEST_AHEAD_MS),
            Zone::Fixed(ms) => instant.plus_millis(*ms),
            Zone::Rules(tz) => {
                let offset = jiff::Timestamp::from_millisecond(instant.millis())
                    .map_or(0, |t| i64::from(tz.to_offset(t).seconds()) * 1000);
                instant.plus_millis(offset)
            }
        }
    }
}

/// The offset, in milliseconds, that `tz` has at the wall-clock time `local` (resolved as [`Zone::to_utc`] says).
fn offset_at(tz: &jiff::tz::TimeZone, local: Timestamp) -> i64 {
    let instant = wall_clock(local).and_then(|dt| tz.to_ambiguous_timestamp(dt).compatible().ok());
    // Out of jiff's range (years beyond -9999..=9999, which no log line reaches): read as UTC.
    instant.map_or(0, |t| local.millis() - t.as_millisecond())
}

/// The date and time that `local` holds as if UTC, as jiff's wall-clock time.
fn wall_clock(local: Timestamp) -> Option<jiff::civil::DateTime> {
    let c = local.civil();
    let nanos = i32::from(c.ms) * 1_000_000;
    let (y, mo, d, h, mi, s) =
        (i16::try_from(c.year).ok()?, c.month as i8, c.day as i8, c.hour as i8, c.minute as i8, c.second as i8);
    jiff::civil::DateTime::new(y, mo, d, h, mi, s, nanos).ok()
}

/// A [`Zone`] read along a log, line after line. It remembers the offset of the hour it last converted: the lines
/// of a log come in time order, and the tz database is then looked up about once an hour of log, not once a line.
/// And it places a time the clocks showed twice (fall back) by the lines before it: the first of the two, unless
/// the log is in the repeated hour's second round (the line before was, or was well after the first instant).
#[derive(Debug)]
pub struct ZoneClock<'a> {
    zone: &'a Zone,
    /// The hour (of wall-clock time, counted from the epoch as if UTC) whose offset is known, and that offset.
    known: Option<(i64, i64)>,
    /// The instant of the last time converted, and the offset it was read with.
    last: Option<(Timestamp, i64)>,
}

impl<'a> ZoneClock<'a> {
    /// How far behind the log's last time the first of two instants must fall for the second to be taken: a log's
    /// lines may be a few seconds out of order, never ten minutes.
    const PASSED_MS: i64 = MS_PER_HOUR / 6;

    /// A clock for `zone`, with nothing remembered yet.
    pub fn new(zone: &'a Zone) -> Self {
        ZoneClock { zone, known: None, last: None }
    }

    /// [`Zone::to_utc`], but for a time shown twice, which is the second in the repeated hour's second round.
    pub fn to_utc(&mut self, local: Timestamp) -> Timestamp {
        let Zone::Rules(tz) = self.zone else { return self.zone.to_utc(local) };
        let offset = self.offset(tz, local);
        let instant = local.plus_millis(-offset);
        self.last = Some((instant, offset));
        instant
    }

    /// The offset, in milliseconds, that the wall-clock time `local` is read with.
    fn offset(&mut self, tz: &jiff::tz::TimeZone, local: Timestamp) -> i64 {
        let hour = local.millis().div_euclid(MS_PER_HOUR);
        if let Some((h, offset)) = self.known
            && h == hour
        {
            return offset;
        }
        // An hour's offset is remembered only if the clocks do not change within it (its first and last moments
        // have the same offset, and neither is skipped or repeated); the hour of a change is worked out line by line.
        let start = Timestamp::from_millis(hour * MS_PER_HOUR);
        let end = start.plus_millis(MS_PER_HOUR - 1);
        let offset = |t: Timestamp| Some(tz.to_ambiguous_timestamp(wall_clock(t)?).offset());
        let ms = |o: jiff::tz::Offset| i64::from(o.seconds()) * 1000;
        use jiff::tz::AmbiguousOffset::{Fold, Unambiguous};
        match (offset(start), offset(end)) {
            (Some(Unambiguous { offset: a }), Some(Unambiguous { offset: b })) if a == b => {
                self.known = Some((hour, ms(a)));
                ms(a)
            }
            _ => match offset(local) {
                Some(Fold { before, after }) => {
                    let first = local.plus_millis(-ms(before));
                    let second_round =
                        self.last.is_some_and(|(l, o)| o == ms(after) || first.plus_millis(Self::PASSED_MS) < l);
                    ms(if second_round { after } else { before })
                }
                _ => offset_at(tz, local),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn fixed_zones_are_read_from_offsets() {
        assert_eq!(Zone::fixed("UTC"), Some(Zone::Utc));
        assert_eq!(Zone::fixed("+00:00"), Some(Zone::Utc));
        assert_eq!(Zone::fixed("+02:00"), Some(Zone::Fixed(7_200_000)));
        assert_eq!(Zone::fixed("-0500"), Some(Zone::Fixed(-18_000_000)));
        assert_eq!(Zone::fixed("+0530"), Some(Zone::Fixed(19_800_000)));
        assert_eq!(Zone::fixed("+2"), Some(Zone::Fixed(7_200_000)));
        for bad in ["Europe/Berlin", "+", "+25", "+02:60", "+1:2:3", "2", "+123", ""] {
            assert_eq!(Zone::fixed(bad), None, "{bad}");
        }
        assert_eq!(Zone::Fixed(7_200_000).to_utc(t("2026-07-01T12:00:00Z")), t("2026-07-01T10:00:00Z"));
    }

    #[test]
    fn a_zone_of_the_database_follows_daylight_saving_time() {
        let berlin = Zone::rules(jiff::tz::TimeZone::get("Europe/Berlin").unwrap());
        let mut clock = ZoneClock::new(&berlin);
        for (local, utc) in [
            ("2026-01-15T12:00:00Z", "2026-01-15T11:00:00Z"),
            ("2026-07-15T12:00:00Z", "2026-07-15T10:00:00Z"),
            // Clocks go forward at 02:00 on 29 March: 02:30 was skipped, and is read with the winter offset.
            ("2026-03-29T01:59:59Z", "2026-03-29T00:59:59Z"),
            ("2026-03-29T02:30:00Z", "2026-03-29T01:30:00Z"),
            ("2026-03-29T03:00:00Z", "2026-03-29T01:00:00Z"),
            // Back at 03:00 on 25 October: 02:30 was shown twice, and is the first.
            ("2026-10-25T02:30:00Z", "2026-10-25T00:30:00Z"),
            ("2026-10-25T03:00:00Z", "2026-10-25T02:00:00Z"),
        ] {
            assert_eq!(berlin.to_utc(t(local)), t(utc), "{local}");
            assert_eq!(clock.to_utc(t(local)), t(utc), "{local}, remembered hour by hour");
        }
        // A log through the night the clocks went back: 02:00 to 02:59 twice, each round in its own instants, a
        // line a few seconds out of order kept in its round.
        let mut night = ZoneClock::new(&berlin);
        let placed: Vec<Timestamp> = [
            "2026-10-25T01:59:00Z",
            "2026-10-25T02:10:00Z",
            "2026-10-25T02:59:30Z",
            "2026-10-25T02:59:20Z",
            "2026-10-25T02:00:10Z",
            "2026-10-25T02:59:50Z",
            "2026-10-25T03:00:00Z",
        ]
        .iter()
        .map(|l| night.to_utc(t(l)))
        .collect();
        let want = [
            "2026-10-24T23:59:00Z",
            "2026-10-25T00:10:00Z",
            "2026-10-25T00:59:30Z",
            "2026-10-25T00:59:20Z",
            "2026-10-25T01:00:10Z",
            "2026-10-25T01:59:50Z",
            "2026-10-25T02:00:00Z",
        ];
        assert_eq!(placed, want.map(t));
        // Back to an hour already seen, and within it: the remembered offset is that hour's.
        assert_eq!(clock.to_utc(t("2026-07-15T12:59:59.999Z")), t("2026-07-15T10:59:59.999Z"));
        assert_eq!(ZoneClock::new(&Zone::Utc).to_utc(t("2026-07-15T12:00:00Z")), t("2026-07-15T12:00:00Z"));
    }

    #[test]
    fn the_latest_wall_clock_of_an_instant_is_the_zones_clock_then() {
        let berlin = Zone::rules(jiff::tz::TimeZone::get("Europe/Berlin").unwrap());
        let at = t("2026-07-15T12:00:00Z");
        assert_eq!(berlin.latest_wall_clock(at), t("2026-07-15T14:00:00Z"));
        assert_eq!(berlin.latest_wall_clock(t("2026-01-15T12:00:00Z")), t("2026-01-15T13:00:00Z"));
        assert_eq!(Zone::Fixed(-18_000_000).latest_wall_clock(at), t("2026-07-15T07:00:00Z"));
        // No zone given: any server's clock, up to UTC+14:00.
        assert_eq!(Zone::Utc.latest_wall_clock(at), t("2026-07-16T02:00:00Z"));
    }
}
