//! Whether a contact counts as engaged at the time of a send.
//!
//! The platform deactivates engaged contacts later (20 consecutive soft bounces) than unengaged ones (10). A
//! contact is engaged when the contacts file says so, or when it opened or clicked within a window before the send.
//! A contact the file does not know is unengaged.

use std::collections::HashMap;

use super::time::{MS_PER_DAY, Timestamp};

/// What the contacts file says of one contact.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContactEngagement {
    /// An explicit engaged flag.
    pub engaged: Option<bool>,
    /// The latest open, click or engagement.
    pub last_engaged_at: Option<Timestamp>,
}

/// Engagement lookups for a run.
#[derive(Clone, Debug, Default)]
pub struct Engagement {
    contacts: rustc_hash::FxHashMap<String, ContactEngagement>,
    window_ms: i64,
}

impl Engagement {
    /// Contacts by lower-cased email, and the window (in days) an open or click keeps a contact engaged.
    pub fn new(contacts: HashMap<String, ContactEngagement>, window_days: u32) -> Self {
        let contacts = contacts.into_iter().collect();
        Engagement { contacts, window_ms: i64::from(window_days) * MS_PER_DAY }
    }

    /// Whether `email` counts as engaged at a send at `at`.
    pub fn is_engaged(&self, email: &str, at: Timestamp) -> bool {
        self.judge(self.of(email), at)
    }

    /// What the contacts file says of `email`: nothing, for a contact it does not list.
    pub fn of(&self, email: &str) -> ContactEngagement {
        self.contacts.get(email).copied().unwrap_or_default()
    }

    /// Whether a contact of whom the file says `c` (see [`Engagement::of`]) counts as engaged at a send at `at`.
    pub fn judge(&self, c: ContactEngagement, at: Timestamp) -> bool {
        if c.engaged == Some(true) {
            return true;
        }
        c.last_engaged_at.is_some_and(|last| last <= at && at.millis() - last.millis() <= self.window_ms)
    }

    /// How many contacts the file holds.
    pub fn len(&self) -> usize {
        self.contacts.len()
    }

    /// Whether the file held no contacts.
    pub fn is_empty(&self) -> bool {
        self.contacts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_or_recent_activity() {
        let day = |d: i64| Timestamp::from_secs(d * 86_400);
        let e = Engagement::new(
            HashMap::from([
                ("flag@x".into(), ContactEngagement { engaged: Some(true), last_engaged_at: None }),
                ("open@x".into(), ContactEngagement { engaged: None, last_engaged_at: Some(day(100)) }),
            ]),
            90,
        );
        assert!(e.is_engaged("flag@x", day(0)));
        assert!(e.is_engaged("open@x", day(190)));
        assert!(!e.is_engaged("open@x", day(191)));
        assert!(!e.is_engaged("open@x", day(99)));
        assert!(!e.is_engaged("nobody@x", day(100)));
    }
}
