//! Which campaign an attempt belongs to.
//!
//! A log line rarely names the campaign. In order of trust: the message-id found in the platform's sends file; a
//! user's pattern with a named group `campaign` over the message-id, then the envelope sender (VERP addresses such
//! as `bounce+c42-...@` are common); the campaign field of the log itself. Otherwise the campaign is unknown.

use regex::Regex;

use super::attempt::Attempt;
use super::name::Name;

/// The sends file's message-ids and their campaigns, kept small: a platform sends millions of messages, and each
/// message-id is held as a 64-bit hash (two message-ids share one with a chance of about one in ten million for a
/// hundred million messages; SipHash keeps similar ids apart) and each campaign id once.
///
/// Once the file is read ([`MessageIndex::seal`]), the entries are grouped by the first bits of their hash (a
/// bucket of about four), which say where to look. The bucket stands for those bits, so an entry keeps only the
/// rest of the hash, with its campaign's number in the bits they free: one 64-bit word a message, a quarter of a
/// hash map's. A platform's sends file grows with every campaign, and this index is most of what a run's memory
/// grows by when the same contacts get more campaigns.
#[derive(Clone, Debug, Default)]
pub struct MessageIndex {
    /// Before sealing: each insert's hash and campaign.
    hashes: Vec<u64>,
    campaign_of: Vec<u32>,
    /// Sealed: `(hash << bits) | campaign`, bucket by bucket.
    entries: Vec<u64>,
    /// Where the entries of each bucket (the first `bits` bits of the hash) start, and one past the last.
    starts: Vec<u32>,
    bits: u32,
    sealed: bool,
    campaigns: Vec<Name>,
    ids: rustc_hash::FxHashMap<String, u32>,
}

impl MessageIndex {
    /// The hash a message-id (normalised) is indexed by: worked out apart from [`MessageIndex::insert_hashed`], so
    /// that a sends file's rows can be hashed on all cores and inserted in file order on one.
    pub fn hash(message_id: &str) -> u64 {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        BuildHasherDefault::<DefaultHasher>::default().hash_one(message_id)
    }

    /// Records that `message_id` (normalised) belongs to `campaign`; a message-id given twice keeps its last.
    pub fn insert(&mut self, message_id: &str, campaign: &str) {
        self.insert_hashed(Self::hash(message_id), campaign);
    }

    /// [`MessageIndex::insert`] for a message-id of this [`MessageIndex::hash`].
    pub fn insert_hashed(&mut self, hash: u64, campaign: &str) {
        self.unseal();
        // A sends file lists a campaign's messages together: most rows name the campaign added last.
        let last = self.campaigns.len().checked_sub(1).filter(|&i| self.campaigns[i].as_str() == campaign);
        let index = match last.map(|i| i as u32).or_else(|| self.ids.get(campaign).copied()) {
            Some(i) => i,
            None => {
                let i = self.campaigns.len() as u32;
                self.campaigns.push(Name::campaign(campaign));
                self.ids.insert(campaign.to_string(), i);
                i
            }
        };
        self.hashes.push(hash);
        self.campaign_of.push(index);
    }

    /// Back to a list of inserts, for an insert after sealing (no reader does that; kept correct all the same).
    fn unseal(&mut self) {
        if !self.sealed {
            return;
        }
        let mask = self.campaign_mask();
        for b in 0..self.starts.len().saturating_sub(1) {
            let top = if self.bits == 0 { 0 } else { (b as u64) << (64 - self.bits) };
            for &e in &self.entries[self.starts[b] as usize..self.starts[b + 1] as usize] {
                self.hashes.push(top | (e >> self.bits));
                self.campaign_of.push((e & mask) as u32);
            }
        }
        (self.entries, self.starts, self.sealed) = (Vec::new(), Vec::new(), false);
    }

    /// The bits of an entry that hold its campaign's number.
    fn campaign_mask(&self) -> u64 {
        (1u64 << self.bits) - 1
    }

    /// Groups the entries by bucket for lookups, after the last insert. Returns how many entries were dropped for
    /// a later entry of the same message-id with another campaign (a sends file that contradicts itself); 0 when
    /// sealed already.
    pub fn seal(&mut self) -> u64 {
        if self.sealed {
            return 0;
        }
        let n = self.hashes.len();
        // About four entries a bucket, and enough bits for every campaign's number.
        let for_buckets = usize::BITS - (n / 4).leading_zeros();
        let for_campaigns = usize::BITS - self.campaigns.len().saturating_sub(1).leading_zeros();
        self.bits = for_buckets.max(for_campaigns).min(32);
        let mut starts = vec![0u32; (1usize << self.bits) + 1];
        for &h in &self.hashes {
            starts[self.bucket(h) + 1] += 1;
        }
        for b in 0..starts.len() - 1 {
            starts[b + 1] += starts[b];
        }
        // Each entry into its bucket, in the order inserted.
        let mut next = starts.clone();
        let mut entries = vec![0u64; n];
        for (&h, &c) in self.hashes.iter().zip(&self.campaign_of) {
            let b = self.bucket(h);
            entries[next[b] as usize] = (h << self.bits) | u64::from(c);
            next[b] += 1;
        }
        (self.hashes, self.campaign_of) = (Vec::new(), Vec::new());
        // A message-id given twice keeps its last entry: the earlier ones are dropped, bucket by bucket.
        let mask = self.campaign_mask();
        let (mut kept, mut contradicted) = (0, 0);
        for b in 0..starts.len() - 1 {
            let (from, to) = (starts[b] as usize, starts[b + 1] as usize);
            starts[b] = kept as u32;
            for i in from..to {
                let key = entries[i] & !mask;
                let mut later = entries[i + 1..to].iter().filter(|&&later| later & !mask == key).peekable();
                if later.peek().is_none() {
                    entries[kept] = entries[i];
                    kept += 1;
                } else if later.any(|&l| l != entries[i]) {
                    contradicted += 1;
                }
            }
        }
        let last = starts.len() - 1;
        starts[last] = kept as u32;
        entries.truncate(kept);
        entries.shrink_to_fit();
        self.entries = entries;
        self.starts = starts;
        self.sealed = true;
        contradicted
    }

    fn bucket(&self, hash: u64) -> usize {
        if self.bits == 0 { 0 } else { (hash >> (64 - self.bits)) as usize }
    }

    /// The campaign of a message-id (normalised).
    pub fn get(&self, message_id: &str) -> Option<&str> {
        self.campaign(message_id).map(Name::as_str)
    }

    /// [`MessageIndex::get`], as the name every attempt of the campaign shares.
    pub fn campaign(&self, message_id: &str) -> Option<&Name> {
        let h = Self::hash(message_id);
        let campaign = if self.sealed {
            let b = self.bucket(h);
            let (from, to) = (self.starts[b] as usize, self.starts[b + 1] as usize);
            let (key, mask) = (h << self.bits, self.campaign_mask());
            self.entries[from..to].iter().find(|&&e| e & !mask == key).map(|&e| (e & mask) as usize)
        } else {
            // Not sealed yet: the last entry for it.
            self.hashes.iter().rposition(|&x| x == h).map(|i| self.campaign_of[i] as usize)
        };
        campaign.map(|c| &self.campaigns[c])
    }

    /// [`MessageIndex::campaign`] of each of `ids`, into `out` (emptied first), in order. Each step is taken for a
    /// group of ids before the next: a platform's index is tens of megabytes, each lookup reads two places in it
    /// far from the last, and the reads of a group then wait for memory together rather than one after another.
    pub fn campaigns<'a>(&'a self, ids: &[&str], out: &mut Vec<Option<&'a Name>>) {
        const AT_ONCE: usize = 16;
        out.clear();
        if !self.sealed {
            out.extend(ids.iter().map(|id| self.campaign(id)));
            return;
        }
        let mask = self.campaign_mask();
        for group in ids.chunks(AT_ONCE) {
            let mut hashes = [0u64; AT_ONCE];
            for (h, id) in hashes.iter_mut().zip(group) {
                *h = Self::hash(id);
            }
            let hashes = &hashes[..group.len()];
            let mut ranges = [(0u32, 0u32); AT_ONCE];
            for (r, &h) in ranges.iter_mut().zip(hashes) {
                let b = self.bucket(h);
                *r = (self.starts[b], self.starts[b + 1]);
            }
            for (&(from, to), &h) in ranges.iter().zip(hashes) {
                let key = h << self.bits;
                let found = self.entries[from as usize..to as usize].iter().find(|&&e| e & !mask == key);
                out.push(found.map(|&e| &self.campaigns[(e & mask) as usize]));
            }
        }
    }

    /// How many message-ids it holds (before sealing, a message-id given twice counts twice).
    pub fn len(&self) -> usize {
        if self.sealed { self.entries.len() } else { self.hashes.len() }
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<S: AsRef<str>, T: AsRef<str>> FromIterator<(S, T)> for MessageIndex {
    fn from_iter<I: IntoIterator<Item = (S, T)>>(iter: I) -> Self {
        let mut index = MessageIndex::default();
        for (m, c) in iter {
            index.insert(m.as_ref(), c.as_ref());
        }
        index.seal();
        index
    }
}

/// Attributes attempts to campaigns.
#[derive(Clone, Debug, Default)]
pub struct CampaignResolver {
    by_message_id: MessageIndex,
    pattern: Option<Regex>,
}

/// A message-id without angle brackets or surrounding space.
pub fn normalize_message_id(raw: &str) -> &str {
    raw.trim().trim_start_matches('<').trim_end_matches('>').trim()
}

impl CampaignResolver {
    /// A resolver from the sends file's message-ids and an optional pattern, which must have a group `campaign`.
    pub fn new(mut by_message_id: MessageIndex, pattern: Option<Regex>) -> Result<Self, String> {
        if let Some(p) = &pattern
            && !p.capture_names().any(|n| n == Some("campaign"))
        {
            return Err(format!("campaign pattern '{p}' has no named group (?P<campaign>...)"));
        }
        by_message_id.seal();
        Ok(CampaignResolver { by_message_id, pattern })
    }

    /// The campaign of one attempt, if anything says.
    pub fn resolve(&self, attempt: &Attempt) -> Option<Name> {
        if let Some(id) = &attempt.message_id
            && let Some(c) = self.by_message_id.campaign(normalize_message_id(id))
        {
            return Some(c.clone());
        }
        self.resolve_without_sends(attempt)
    }

    /// Attributes each of `attempts` to its campaign ([`CampaignResolver::resolve`]). The tries of one message come
    /// together and share their message-id and sender, which are all a campaign is found from, so each message is
    /// resolved once; the messages' ids are looked up in the sends file together (see [`MessageIndex::campaigns`]).
    pub fn resolve_all(&self, attempts: &mut [Attempt]) {
        let same_message = |a: &Attempt, b: &Attempt| {
            a.message_id == b.message_id && a.sender == b.sender && a.campaign_hint == b.campaign_hint
        };
        // Where each message starts, and its normalised message-id.
        let starts: Vec<usize> =
            (0..attempts.len()).filter(|&i| i == 0 || !same_message(&attempts[i - 1], &attempts[i])).collect();
        let ids: Vec<&str> =
            starts.iter().map(|&i| attempts[i].message_id.as_deref().map_or("", normalize_message_id)).collect();
        let mut found = Vec::with_capacity(ids.len());
        self.by_message_id.campaigns(&ids, &mut found);
        for (k, (&from, found)) in starts.iter().zip(found).enumerate() {
            let campaign = match found {
                Some(c) if attempts[from].message_id.is_some() => Some(c.clone()),
                _ => self.resolve_without_sends(&attempts[from]),
            };
            let to = starts.get(k + 1).copied().unwrap_or(attempts.len());
            for a in &mut attempts[from..to] {
                a.campaign = campaign.clone();
            }
        }
    }

    /// The campaign of an attempt whose message-id is not in the sends file: by the pattern, or the log's own.
    fn resolve_without_sends(&self, attempt: &Attempt) -> Option<Name> {
        if let Some(p) = &self.pattern {
            for text in [attempt.message_id.as_deref(), attempt.sender.as_deref()].into_iter().flatten() {
                if let Some(m) = p.captures(text).and_then(|c| c.name("campaign")) {
                    return Some(Name::campaign(m.as_str()));
                }
            }
        }
        attempt.campaign_hint.as_deref().map(Name::campaign)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::attempt::Status;
    use crate::domain::smtp::Reply;

    fn attempt(mid: Option<&str>, sender: Option<&str>, hint: Option<&str>) -> Attempt {
        Attempt {
            time: Default::default(),
            source: Default::default(),
            recipient: "a@b.example".into(),
            sender: sender.map(Name::sender),
            message_id: mid.map(Into::into),
            message_key: "k".into(),
            campaign_hint: hint.map(Into::into),
            campaign: None,
            status: Status::Delivered,
            reply: Reply::default(),
            relay: None,
            line: None,
            tries: 1,
        }
    }

    #[test]
    fn order_of_trust() {
        let sends: MessageIndex = [("m1@news.example", "c1")].into_iter().collect();
        let pattern = Regex::new(r"^bounce\+(?P<campaign>c\d+)@").unwrap();
        let r = CampaignResolver::new(sends, Some(pattern)).unwrap();
        assert_eq!(
            r.resolve(&attempt(Some("<m1@news.example>"), Some("bounce+c9@x"), Some("c7"))).as_deref(),
            Some("c1")
        );
        assert_eq!(
            r.resolve(&attempt(Some("m2@news.example"), Some("bounce+c9@x"), Some("c7"))).as_deref(),
            Some("c9")
        );
        assert_eq!(r.resolve(&attempt(None, Some("other@x"), Some("c7"))).as_deref(), Some("c7"));
        assert_eq!(r.resolve(&attempt(None, None, None)), None);
        assert!(CampaignResolver::new(MessageIndex::default(), Some(Regex::new("c(\\d+)").unwrap())).is_err());
    }

    #[test]
    fn the_index_finds_every_message_and_keeps_the_last_campaign_given() {
        let mut index = MessageIndex::default();
        for i in 0..10_000 {
            index.insert(&format!("m{i}@news.example"), &format!("c{}", i % 7));
        }
        index.insert("m3@news.example", "late");
        // Given again with its own campaign: a repeat, not a contradiction.
        index.insert("m4@news.example", "c4");
        assert_eq!(index.get("m3@news.example"), Some("late"));
        assert_eq!(index.seal(), 1, "m3's first campaign was contradicted");
        assert_eq!(index.seal(), 0, "sealed already");
        for i in (0..10_000).filter(|&i| i != 3) {
            assert_eq!(index.get(&format!("m{i}@news.example")), Some(format!("c{}", i % 7).as_str()));
        }
        assert_eq!(index.get("m3@news.example"), Some("late"));
        assert_eq!(index.get("m10000@news.example"), None);
        assert_eq!(index.len(), 10_000);
        assert_eq!(MessageIndex::default().get("x"), None);
    }

    #[test]
    fn the_index_holds_more_campaigns_than_buckets_and_takes_inserts_after_sealing() {
        // Ten messages of a thousand campaigns each: the campaigns' numbers need more bits than the buckets.
        let mut index = MessageIndex::default();
        for c in 0..1000 {
            index.insert(&format!("m{c}@x"), &format!("c{c}"));
        }
        index.seal();
        for c in 0..1000 {
            assert_eq!(index.get(&format!("m{c}@x")), Some(format!("c{c}").as_str()));
        }
        index.insert("m5@x", "again");
        index.insert("new@x", "c1");
        index.seal();
        assert_eq!((index.get("m5@x"), index.get("new@x"), index.get("m6@x")), (Some("again"), Some("c1"), Some("c6")));
        assert_eq!(index.len(), 1001);
        let mut one: MessageIndex = [("a@x", "c1")].into_iter().collect();
        assert_eq!((one.get("a@x"), one.get("b@x")), (Some("c1"), None));
        one.insert("a@x", "c2");
        one.seal();
        assert_eq!((one.get("a@x"), one.len()), (Some("c2"), 1));
    }

    #[test]
    fn ids_looked_up_together_find_what_each_looked_up_alone_finds() {
        let mut index = MessageIndex::default();
        for m in 0..5000 {
            index.insert(&format!("m{m}@x"), &format!("c{}", m % 37));
        }
        let ids: Vec<String> = (0..5100).rev().map(|m| format!("m{m}@x")).chain(["".to_string()]).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        for sealed in [false, true] {
            if sealed {
                index.seal();
            }
            let mut out = vec![None];
            index.campaigns(&ids, &mut out);
            assert_eq!(out.len(), ids.len());
            for (id, found) in ids.iter().zip(&out) {
                assert_eq!(found.map(Name::as_str), index.get(id), "{id}, sealed: {sealed}");
            }
        }
    }

    #[test]
    fn a_batch_is_attributed_message_by_message_as_one_by_one() {
        let sends: MessageIndex = [("m1@x", "c1"), ("m3@x", "c3")].into_iter().collect();
        let pattern = Regex::new(r"^bounce\+(?P<campaign>c\d+)@").unwrap();
        let r = CampaignResolver::new(sends, Some(pattern)).unwrap();
        // Tries of one message together; messages with and without ids, found in the sends file or not.
        let mut batch = vec![
            attempt(Some("<m1@x>"), Some("bounce+c9@x"), None),
            attempt(Some("<m1@x>"), Some("bounce+c9@x"), None),
            attempt(Some("m2@x"), Some("bounce+c9@x"), None),
            attempt(None, Some("other@x"), Some("c7")),
            attempt(None, Some("other@x"), Some("c7")),
            attempt(None, None, None),
            attempt(Some("m3@x"), None, Some("c7")),
            attempt(Some(""), Some("bounce+c4@x"), None),
        ];
        let one_by_one: Vec<Option<Name>> = batch.iter().map(|a| r.resolve(a)).collect();
        r.resolve_all(&mut batch);
        let together: Vec<Option<Name>> = batch.iter().map(|a| a.campaign.clone()).collect();
        assert_eq!(together, one_by_one);
        let names: Vec<Option<&str>> = together.iter().map(|c| c.as_deref()).collect();
        assert_eq!(names, [Some("c1"), Some("c1"), Some("c9"), Some("c7"), Some("c7"), None, Some("c3"), Some("c4")]);
        r.resolve_all(&mut []);
    }
}
