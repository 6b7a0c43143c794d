//! Which campaign an attempt belongs to.
//!
//! A log line rarely names the campaign. In order of trust: the message-id found in the platform's sends file; a
//! user's pattern with a named group `campaign` over the message-id, then the envelope sender (VERP addresses such
//! as `bounce+c42-...@` are common); the campaign field of the log itself. Otherwise the campaign is unknown.

use regex::Regex;

use super::attempt::Attempt;

/// The sends file's message-ids and their campaigns, kept small: a platform sends millions of messages, and each
/// message-id is held as a 64-bit hash and each campaign id once. (Two message-ids share a hash with a chance of
/// about one in ten million for a hundred million messages; SipHash keeps similar ids apart.)
#[derive(Clone, Debug, Default)]
pub struct MessageIndex {
    by_hash: rustc_hash::FxHashMap<u64, u32>,
    campaigns: Vec<String>,
    ids: rustc_hash::FxHashMap<String, u32>,
}

impl MessageIndex {
    fn hash(message_id: &str) -> u64 {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        BuildHasherDefault::<DefaultHasher>::default().hash_one(message_id)
    }

    /// Records that `message_id` (normalised) belongs to `campaign`.
    pub fn insert(&mut self, message_id: &str, campaign: &str) {
        let next = self.campaigns.len() as u32;
        let index = *self.ids.entry(campaign.to_string()).or_insert(next);
        if index == next {
            self.campaigns.push(campaign.to_string());
        }
        self.by_hash.insert(Self::hash(message_id), index);
    }

    /// The campaign of a message-id (normalised).
    pub fn get(&self, message_id: &str) -> Option<&str> {
        self.by_hash.get(&Self::hash(message_id)).map(|&i| self.campaigns[i as usize].as_str())
    }

    /// How many message-ids it holds.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

impl<S: AsRef<str>, T: AsRef<str>> FromIterator<(S, T)> for MessageIndex {
    fn from_iter<I: IntoIterator<Item = (S, T)>>(iter: I) -> Self {
        let mut index = MessageIndex::default();
        for (m, c) in iter {
            index.insert(m.as_ref(), c.as_ref());
        }
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
    pub fn new(by_message_id: MessageIndex, pattern: Option<Regex>) -> Result<Self, String> {
        if let Some(p) = &pattern
            && !p.capture_names().any(|n| n == Some("campaign"))
        {
            return Err(format!("campaign pattern '{p}' has no named group (?P<campaign>...)"));
        }
        Ok(CampaignResolver { by_message_id, pattern })
    }

    /// The campaign of one attempt, if anything says.
    pub fn resolve(&self, attempt: &Attempt) -> Option<String> {
        if let Some(id) = &attempt.message_id
            && let Some(c) = self.by_message_id.get(normalize_message_id(id))
        {
            return Some(c.to_string());
        }
        if let Some(p) = &self.pattern {
            for text in [attempt.message_id.as_deref(), attempt.sender.as_deref()].into_iter().flatten() {
                if let Some(m) = p.captures(text).and_then(|c| c.name("campaign")) {
                    return Some(m.as_str().to_string());
                }
            }
        }
        attempt.campaign_hint.clone()
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
            sender: sender.map(Into::into),
            message_id: mid.map(Into::into),
            message_key: "k".into(),
            campaign_hint: hint.map(Into::into),
            campaign: None,
            status: Status::Delivered,
            reply: Reply::default(),
            relay: None,
            line: None,
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
}
