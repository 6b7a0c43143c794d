//! Names that millions of Postfix lines share: the hosts that logged them and the envelope senders they name.
//!
//! A log names a few hosts, and a platform sends from a few addresses, millions of times. Each line's record used to
//! carry a reference-counted copy of its host and sender: the threads that parse lines raised the counts and the
//! threads that join them lowered them, all on the same few counters, and those cores then spent a tenth of their
//! time passing the counters' memory between them. A [`Name`] is instead, nearly always, a pointer into a table
//! that lives as long as the run: copying or dropping it touches no shared memory. The table is bounded (a number
//! of names, each no longer than a host name can be), so that a log of endless distinct names (per-recipient
//! return paths, say) cannot grow it: the names beyond it are counted copies, as before.

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

/// The hosts that logged lines: a platform has a few, a shared log some hundreds.
static HOSTS: LazyLock<Table> = LazyLock::new(|| Table::new(1024));

/// The envelope senders: a platform sends each campaign from one or a few addresses.
static SENDERS: LazyLock<Table> = LazyLock::new(|| Table::new(4096));

impl Name {
    /// A host's name, shared with every other line and message of that host.
    pub fn host(name: &str) -> Name {
        HOSTS.name(name)
    }

    /// An envelope sender (normalised), shared with every other line that names it.
    pub fn sender(name: &str) -> Name {
        SENDERS.name(name)
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
}
