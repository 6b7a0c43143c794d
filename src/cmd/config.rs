//! The configuration file, `bounces.toml` in the current folder or `--config FILE`: the inputs and rules a team
//! uses every day, so that `bounces report --campaign X` and `bounces contact a@b.example` need no other flags.
//!
//! Flags override the file; paths in the file are relative to the file's folder. Unknown keys are an error, so that
//! a misspelt setting is not silently ignored.
//!
//! ```toml
//! [inputs]
//! logs = ["/var/log/mail.log", "/var/log/mail.log.1.gz"]
//! log_format = "postfix"          # else detected per file
//! year = 2026                     # syslog files without years
//! tz = "Europe/Berlin"            # the zone of log times written without an offset
//! sends = "exports/sends.csv"
//! campaigns = "exports/campaigns.csv"
//! contacts = "exports/contacts.csv"
//! campaign_pattern = 'bounce\+(?P<campaign>[^@-]+)@'
//! engaged_within = 90
//!
//! [replay]
//! hard = 1
//! soft_engaged = 20
//! soft_unengaged = 10
//! hard_reasons = ["userunknown", "hostunknown", "hasmoved", "notaccept"]
//! ignore_sender_faults = false
//! rules = ["our-rules.toml"]
//! state = "bounces-state.json"
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

/// The file looked for in the current folder when `--config` is not given.
pub const DEFAULT_FILE: &str = "bounces.toml";

/// A configuration file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the data comes from.
    #[serde(default)]
    pub inputs: Inputs,
    /// The platform's rules.
    #[serde(default)]
    pub replay: Replay,
}

/// The `[inputs]` table.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Inputs {
    /// Log files used when a command is given none.
    #[serde(default)]
    pub logs: Vec<PathBuf>,
    /// The format of every log.
    pub log_format: Option<String>,
    /// The year of syslog files' first lines.
    pub year: Option<i32>,
    /// The zone of log times written without an offset.
    pub tz: Option<String>,
    /// The sends file.
    pub sends: Option<PathBuf>,
    /// The campaigns file.
    pub campaigns: Option<PathBuf>,
    /// The contacts file.
    pub contacts: Option<PathBuf>,
    /// The campaign pattern.
    pub campaign_pattern: Option<String>,
    /// Days an open or click keeps a contact engaged.
    pub engaged_within: Option<u32>,
}

/// The `[replay]` table.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    /// Hard bounces that deactivate.
    pub hard: Option<u32>,
    /// Consecutive soft bounces that deactivate an engaged contact.
    pub soft_engaged: Option<u32>,
    /// Consecutive soft bounces that deactivate an unengaged contact.
    pub soft_unengaged: Option<u32>,
    /// The hard reasons.
    #[serde(default)]
    pub hard_reasons: Vec<String>,
    /// Sender-side soft bounces do not count.
    #[serde(default)]
    pub ignore_sender_faults: bool,
    /// Rules files.
    #[serde(default)]
    pub rules: Vec<PathBuf>,
    /// The state file.
    pub state: Option<PathBuf>,
}

impl Config {
    /// Reads `path`, or `bounces.toml` in the current folder if it exists, or nothing.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None if Path::new(DEFAULT_FILE).is_file() => PathBuf::from(DEFAULT_FILE),
            None => return Ok(Config::default()),
        };
        let name = path.display();
        let text = std::fs::read_to_string(&path).with_context(|| format!("{name}: cannot read the configuration"))?;
        let mut config: Config = toml::from_str(&text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let at = line.map(|l| format!(":{l}")).unwrap_or_default();
            anyhow::anyhow!("{name}{at}: {}", e.message().trim())
        })?;
        let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
        config.resolve(&base);
        Ok(config)
    }

    /// Makes the file's relative paths relative to its folder.
    fn resolve(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() && p.as_os_str() != "-" {
                *p = base.join(&*p);
            }
        };
        self.inputs.logs.iter_mut().for_each(fix);
        [&mut self.inputs.sends, &mut self.inputs.campaigns, &mut self.inputs.contacts, &mut self.replay.state]
            .into_iter()
            .flatten()
            .for_each(fix);
        self.replay.rules.iter_mut().for_each(fix);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_resolves_and_refuses_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bounces.toml");
        std::fs::write(
            &path,
            "[inputs]\nlogs = [\"mail.log\", \"/abs/mail.log.1\"]\nsends = \"s.csv\"\n[replay]\nsoft_unengaged = 5\n",
        )
        .unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.inputs.logs, vec![dir.path().join("mail.log"), PathBuf::from("/abs/mail.log.1")]);
        assert_eq!(c.inputs.sends, Some(dir.path().join("s.csv")));
        assert_eq!(c.replay.soft_unengaged, Some(5));
        std::fs::write(&path, "[replay]\nsoft_unengagd = 5\n").unwrap();
        let e = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(e.contains("bounces.toml:2: unknown field `soft_unengagd`"), "{e}");
    }
}
