//! Names that millions of records share: the hosts that logged lines, the envelope senders they name, and the
//! campaigns messages belong to.
//!
//! A log names a few hosts, and a platform sends from a few addresses, millions of times. Each line's record used to
//! carry a reference-counted copy of its host and sender: the threads that parse lines raised the counts and the
//! threads that join them lowered them, all on the same few counters, and those cores then spent a tenth of their
//! time passing the counters' memory between them. A [`Name`] is instead, nearly always, a pointer into a table
//! that lives as long as the run: copying or dropping it touches no shared memory. The table is bounded (a number
//! of names, each no longer than a host name can be), so that a log of endless distinct names (per-recipient
//! return paths, say) cannot grow it: the names beyond it are counted copies, as before.
//!
//! Campaign ids are the same kind of name: a run sees a few hundred of them, and every attempt and outcome carries
//! one. Held as a string each, they were one allocation for every attempt, made on the thread that attributed it
//! and freed on the one that replayed it, and a string comparison wherever outcomes are counted by campaign.

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use rustc_hash::FxHashSet;

/// A name shared by the lines that give it: a pointer into a table of the run's first names, or a counted copy for
/// the names beyond it. Equal names are equal whichever way they are held.
#[derive(Clone)]
pub struct Name(Held);

#[derive(Clone)]
enum Held {
    /// In a [`Table`], which never frees its names: two equal names there are the same pointer.
    Kept(&'static str),
    /// A name the table had no room for.
    Counted(Arc<str>),
}

/// The names kept for the whole run, up to a number of them.
struct Table {
    names: Mutex<FxHashSet<&'static str>>,
    room: usize,
    /// Whether the table has no room left: names are then counted copies without a look at the table, so that a
    /// log of per-recipient return paths does not take its lock for every new one.
    full: AtomicBool,
}

/// The longest name a table keeps: a host name is at most 253 characters.
const LONGEST_KEPT: usize = 255;

impl Table {
    fn new(room: usize) -> Table {
        Table { names: Mutex::new(FxHashSet::default()), room, full: AtomicBool::new(false) }
    }

    /// `name` as the table holds it, added if there is room.
    fn name(&self, name: &str) -> Name {
        if name.len() <= LONGEST_KEPT
            && !self.full.load(Ordering::Relaxed)
            && let Ok(mut names) = self.names.lock()
        {
            if let Some(&kept) = names.get(name) {
                return Name(Held::Kept(kept));
            }
            if names.len() < self.room {
                let kept: &'static str = Box::leak(Box::from(name));
                names.insert(kept);
                return Name(Held::Kept(kept));
            }
            self.full.store(true, Ordering::Relaxed);
        }
        Name(Held::Counted(Arc::from(name)))
    }
}

/// `name` from `table`, through a thread's memory of the last `room` names it took from there (`recent`, newest
/// last): a batch of records names the same few hosts, senders or campaigns over and over, and the table's lock is
/// then rarely taken.
fn remembered(recent: &mut Vec<Name>, room: usize, table: &Table, name: &str) -> Name {
    if let Some(n) = recent.iter().rev().find(|n| n.as_str() == name) {
        return n.clone();
    }
    if recent.len() == room {
        recent.remove(0);
    }
    let n = table.name(name);
    recent.push(n.clone());
    n
}

/// The hosts that logged lines: a platform has a few, a shared log some hundreds.
static HOSTS: LazyLock<Table> = LazyLock::new(|| Table::new(1024));

/// The envelope senders: a platform sends each campaign from one or a few addresses.
static SENDERS: LazyLock<Table> = LazyLock::new(|| Table::new(4096));

/// The campaign ids: a platform's sends file names some thousands over a year.
static CAMPAIGNS: LazyLock<Table> = LazyLock::new(|| Table::new(65536));

impl Name {
    /// A host's name, shared with every other line and message of that host. Every Postfix line names one, and a
    /// log written by many hosts interleaves them: each thread remembers the last 32.
    pub fn host(name: &str) -> Name {
        thread_local! {
            static RECENT: RefCell<Vec<Name>> = const { RefCell::new(Vec::new()) };
        }
        RECENT.with_borrow_mut(|recent| remembered(recent, 32, &HOSTS, name))
    }

    /// An envelope sender (normalised), shared with every other line and attempt that names it.
    pub fn sender(name: &str) -> Name {
        thread_local! {
            static RECENT: RefCell<Vec<Name>> = const { RefCell::new(Vec::new()) };
        }
        RECENT.with_borrow_mut(|recent| remembered(recent, 8, &SENDERS, name))
    }

    /// A campaign id, shared with every other attempt and outcome of that campaign.
    pub fn campaign(name: &str) -> Name {
        thread_local! {
            static RECENT: RefCell<Vec<Name>> = const { RefCell::new(Vec::new()) };
        }
        RECENT.with_borrow_mut(|recent| remembered(recent, 8, &CAMPAIGNS, name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Held::Kept(s) => s,
            Held::Counted(s) => s,
        }
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            // A table holds each name once.
            (Held::Kept(a), Held::Kept(b)) => std::ptr::eq(a.as_ptr(), b.as_ptr()) && a.len() == b.len(),
            _ => self.as_str() == other.as_str(),
        }
    }
}

impl Eq for Name {}

/// Hashed as its text, as a `str` is: the same whichever way it is held.
impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl From<Name> for String {
    fn from(name: Name) -> String {
        name.as_str().to_string()
    }
}

impl From<&Name> for String {
    fn from(name: &Name) -> String {
        name.as_str().to_string()
    }
}

/// Ordered as its text: the same whichever way it is held.
impl Ord for Name {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if self == other { std::cmp::Ordering::Equal } else { self.as_str().cmp(other.as_str()) }
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::borrow::Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Writes an optional name as its text, or none.
fn serialize_optional<S: serde::Serializer>(name: &Option<Name>, s: S) -> Result<S::Ok, S::Error> {
    match name {
        Some(n) => s.serialize_some(n.as_str()),
        None => s.serialize_none(),
    }
}

/// Reads an optional name written by [`serialize_optional`], as `make` shares it.
fn deserialize_optional<'de, D: serde::Deserializer<'de>>(
    d: D,
    make: fn(&str) -> Name,
) -> Result<Option<Name>, D::Error> {
    use serde::Deserialize;
    Ok(Option::<String>::deserialize(d)?.map(|n| make(&n)))
}

/// Serde for an optional campaign id, as a field's `#[serde(with = ...)]`: written as its text, read back as a
/// [`Name::campaign`].
pub mod optional_campaign {
    /// Writes the campaign id as its text, or none.
    pub fn serialize<S: serde::Serializer>(campaign: &Option<super::Name>, s: S) -> Result<S::Ok, S::Error> {
        super::serialize_optional(campaign, s)
    }

    /// Reads a campaign id written by [`serialize`].
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<super::Name>, D::Error> {
        super::deserialize_optional(d, super::Name::campaign)
    }
}

/// Serde for an optional envelope sender, as [`optional_campaign`] is for a campaign id.
pub mod optional_sender {
    /// Writes the sender as its text, or none.
    pub fn serialize<S: serde::Serializer>(sender: &Option<super::Name>, s: S) -> Result<S::Ok, S::Error> {
        super::serialize_optional(sender, s)
    }

    /// Reads a sender written by [`serialize`].
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<super::Name>, D::Error> {
        super::deserialize_optional(d, super::Name::sender)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_keeps_each_name_once_and_counts_the_rest() {
        let table = Table::new(2);
        let (a, b) = (table.name("mta1"), table.name("mta2"));
        assert!(matches!((&a.0, &b.0), (Held::Kept(_), Held::Kept(_))));
        let again = table.name(&String::from("mta1"));
        assert!(matches!((&a.0, &again.0), (Held::Kept(x), Held::Kept(y)) if std::ptr::eq(*x, *y)));
        assert_eq!(a, again);
        assert_ne!(a, b);
        // Once full, even a name the table holds comes as a counted copy, equal to the kept one.
        table.name("mta3");
        let late = table.name("mta1");
        assert!(matches!(late.0, Held::Counted(_)));
        assert_eq!((late == a, a == late), (true, true));
        // No room left, and too long a name: counted copies, equal to any other copy of the same name.
        let (c, c2) = (table.name("mta3"), table.name("mta3"));
        assert!(matches!(c.0, Held::Counted(_)));
        assert_eq!(c, c2);
        assert_ne!(c, a);
        let long = "h".repeat(LONGEST_KEPT + 1);
        assert!(matches!(Table::new(10).name(&long).0, Held::Counted(_)));
        let hash = |n: &Name| rustc_hash::FxBuildHasher.hash_one(n);
        use std::hash::BuildHasher;
        assert_eq!(hash(&c), hash(&c2));
        assert_eq!(hash(&a), rustc_hash::FxBuildHasher.hash_one("mta1"));
        assert_eq!((a.to_string(), &*c), ("mta1".to_string(), "mta3"));
    }

    #[test]
    fn campaigns_share_one_name_order_as_text_and_round_trip_through_serde() {
        let (a, b) = (Name::campaign("c0002"), Name::campaign(&String::from("c0002")));
        assert!(matches!((&a.0, &b.0), (Held::Kept(x), Held::Kept(y)) if std::ptr::eq(*x, *y)));
        // Made on another thread, past its memory of recent names: the same one.
        let c = std::thread::spawn(|| Name::campaign("c0002")).join().unwrap();
        assert!(matches!((&a.0, &c.0), (Held::Kept(x), Held::Kept(y)) if std::ptr::eq(*x, *y)));
        let mut names = [Name::campaign("c10"), Name::campaign("c0002"), Name::campaign("c9"), a.clone()];
        names.sort();
        assert_eq!(names.iter().map(Name::as_str).collect::<Vec<_>>(), ["c0002", "c0002", "c10", "c9"]);
        assert_eq!(String::from(&a), "c0002");

        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Row {
            #[serde(default, with = "optional_campaign")]
            campaign: Option<Name>,
        }
        for row in [Row { campaign: Some(a.clone()) }, Row { campaign: None }] {
            let text = serde_json::to_string(&row).unwrap();
            assert_eq!(serde_json::from_str::<Row>(&text).unwrap(), row);
        }
        assert_eq!(serde_json::to_string(&Row { campaign: Some(a) }).unwrap(), r#"{"campaign":"c0002"}"#);
        assert_eq!(serde_json::from_str::<Row>("{}").unwrap(), Row { campaign: None });
    }

    #[test]
    fn senders_are_shared_and_read_back_as_senders() {
        #[derive(serde::Serialize, serde::Deserialize)]
        struct Row {
            #[serde(default, with = "optional_sender")]
            sender: Option<Name>,
        }
        let a = Name::sender("bounce+c1@news.example.com");
        let text = serde_json::to_string(&Row { sender: Some(a.clone()) }).unwrap();
        assert_eq!(text, r#"{"sender":"bounce+c1@news.example.com"}"#);
        let back = serde_json::from_str::<Row>(&text).unwrap().sender.unwrap();
        assert!(matches!((&a.0, &back.0), (Held::Kept(x), Held::Kept(y)) if std::ptr::eq(*x, *y)));
    }
}
