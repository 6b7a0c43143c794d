//! The state file (`--state FILE`): what one run leaves for the next, so that replaying day 1 and then day 2 gives
//! exactly what one run over both days gives.
//!
//! It holds every contact's counters and deactivation, and the messages the MTAs still had in flight (a message
//! deferred on day 1 and bounced on day 2 is one message, with its campaign): the Postfix queue, Exim's and
//! Sendmail's messages not done, and every MTA's deferrals waiting for their final try (see [`Carry`]), and how far
//! each line log was read (see [`super::resume`]). It is JSON with a format name and a version, written to
//! a temporary file beside it and renamed over it, so that a crash never leaves half a file.
//!
//! ```json
//! {"format": "bounces-state", "version": 1, "written_at": "2026-05-18T09:00:00Z",
//!  "contacts": [{"email": "a@example.org", "consecutive_soft": 3, "hard_bounces": 0}],
//!  "deactivations": [{"email": "b@example.org", "at": ..., "campaign": "c07", "cause": "hard", ...}],
//!  "postfix": {"open": [...], "notifications": [...]},
//!  "exim": {"arrivals": [...], "deferred": [...]}, "sendmail": {"messages": [...], "deferred": [...]},
//!  "pmta": [...], "kumomta": [...], "files": [{"name": "mail.log", "head_len": 4096, "head": "...", "bytes": ...}]}
//! ```

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::domain::replay::{Carried, ContactState, Contacts, Deactivation};
use crate::domain::time::Timestamp;

use super::Carry;

/// The format name at the top of every state file.
pub const FORMAT: &str = "bounces-state";
/// The version this build writes and reads.
pub const VERSION: u32 = 1;

/// A state file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StateFile {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// When it was written.
    pub written_at: String,
    /// Every contact seen so far, by email.
    pub contacts: Vec<ContactRecord>,
    /// The deactivations so far, in the order replay gave them (two at the same second keep theirs).
    pub deactivations: Vec<Deactivation>,
    /// What the MTAs still had in flight: the Postfix queue (`postfix`), and `exim`, `sendmail`, `pmta` and
    /// `kumomta`, which an earlier version did not write.
    #[serde(flatten)]
    pub carry: Carry,
}

/// One contact's counters; whether it is deactivated is told by [`StateFile::deactivations`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactRecord {
    /// The address.
    pub email: String,
    /// Consecutive soft bounces.
    pub consecutive_soft: u32,
    /// Hard bounces in total.
    pub hard_bounces: u32,
}

impl StateFile {
    /// The state after a run.
    pub fn new(contacts: &Contacts, deactivations: &[Deactivation], carry: Carry, now: Timestamp) -> Self {
        let mut records: Vec<ContactRecord> = contacts
            .iter()
            .map(|(email, c)| ContactRecord {
                email: email.clone(),
                consecutive_soft: c.consecutive_soft,
                hard_bounces: c.hard_bounces,
            })
            .collect();
        records.sort_by(|a, b| a.email.cmp(&b.email));
        StateFile {
            format: FORMAT.into(),
            version: VERSION,
            written_at: now.rfc3339(),
            contacts: records,
            deactivations: deactivations.iter().map(|d| Deactivation { outcome: None, ..d.clone() }).collect(),
            carry,
        }
    }

    /// What replay goes on from: counters, and the deactivations in the order replay gave them.
    pub fn carried(&self) -> Carried {
        let index: HashMap<&str, usize> =
            self.deactivations.iter().enumerate().map(|(i, d)| (d.email.as_str(), i)).collect();
        let contacts = self
            .contacts
            .iter()
            .map(|c| {
                let state = ContactState {
                    consecutive_soft: c.consecutive_soft,
                    hard_bounces: c.hard_bounces,
                    deactivation: index.get(c.email.as_str()).copied(),
                };
                (c.email.clone(), state)
            })
            .collect();
        Carried { contacts, deactivations: self.deactivations.clone() }
    }
}

/// Reads a state file; a file that does not exist yet is an empty state (the first run).
pub fn load(path: &Path) -> Result<StateFile> {
    let name = path.display();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(StateFile::default()),
        Err(e) => return Err(e).with_context(|| format!("{name}: cannot read the state file")),
    };
    let state: StateFile = serde_json::from_str(&text)
        .with_context(|| format!("{name}: not a bounces state file (or damaged); remove it to start afresh"))?;
    if state.format != FORMAT {
        bail!("{name}: not a bounces state file (format '{}')", state.format);
    }
    if state.version != VERSION {
        bail!("{name}: state file version {} is not {VERSION}, the one this build reads", state.version);
    }
    Ok(state)
}

/// Writes a state file atomically: to a temporary file beside it, then renamed over it.
pub fn save(path: &Path, state: &StateFile) -> Result<()> {
    let name = path.display();
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let file_name = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| "state".into());
    let temporary = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let write = || -> Result<()> {
        let mut file = std::fs::File::create(&temporary)?;
        serde_json::to_writer(std::io::BufWriter::new(&mut file), state)?;
        file.flush()?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        Ok(())
    };
    write()
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&temporary);
        })
        .with_context(|| format!("{name}: cannot write the state file"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::name::Name;
    use crate::domain::reason::Reason;
    use crate::domain::replay::Cause;

    #[test]
    fn round_trip_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert!(load(&path).unwrap().contacts.is_empty(), "a missing file is the first run");
        let mut contacts = Contacts::default();
        contacts
            .insert("a@x".to_string(), ContactState { consecutive_soft: 2, hard_bounces: 1, deactivation: Some(0) });
        contacts.insert("b@x".to_string(), ContactState { consecutive_soft: 3, hard_bounces: 0, deactivation: None });
        let d = Deactivation {
            email: "a@x".into(),
            at: Timestamp::from_secs(100),
            campaign: Some(Name::campaign("c1")),
            cause: Cause::Hard,
            hard_bounces: 1,
            consecutive_soft: 2,
            engaged: false,
            reason: Reason::UserUnknown,
            response: "550 5.1.1 no".into(),
            outcome: Some(4),
        };
        let state = StateFile::new(&contacts, std::slice::from_ref(&d), Carry::default(), Timestamp::from_secs(0));
        save(&path, &state).unwrap();
        let back = load(&path).unwrap();
        let carried = back.carried();
        assert_eq!(carried.contacts, contacts);
        assert_eq!(carried.deactivations, vec![Deactivation { outcome: None, ..d }]);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
        std::fs::write(&path, "{\"format\":\"other\"}").unwrap();
        assert!(load(&path).unwrap_err().to_string().contains("not a bounces state file"));
        // A file written before the other MTAs' messages were kept still reads, with none of them.
        let older = concat!(
            r#"{"format":"bounces-state","version":1,"written_at":"2026-05-18T09:00:00Z","contacts":[],"#,
            r#""deactivations":[],"postfix":{"open":[],"notifications":[]}}"#
        );
        std::fs::write(&path, older).unwrap();
        assert_eq!(load(&path).unwrap().carry, Carry::default());
    }
}
