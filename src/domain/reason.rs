//! The bounce taxonomy: why a message failed ([`Reason`]), whether that deactivates ([`Class`]) and whose fault it
//! is ([`Fault`]).
//!
//! Reason names are Sisimai's current ones, so results can be compared with the most used open bounce analyser.
//! Which reasons are hard is policy, not nature: [`HardPolicy`] holds the defaults and lets users change them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What one server response means for the contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// The message was accepted.
    Delivered,
    /// A permanent failure that deactivates the contact.
    Hard,
    /// A temporary failure that counts toward the soft-bounce threshold.
    Soft,
    /// Not about delivery (auto-replies, complaint reports).
    None,
}

impl Class {
    /// Every class.
    pub const ALL: &'static [Class] = &[Class::Delivered, Class::Hard, Class::Soft, Class::None];

    /// The lower-case name used in every output.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Delivered => "delivered",
            Class::Hard => "hard",
            Class::Soft => "soft",
            Class::None => "none",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whose side the failure is on: reports show it so that a block of the sender is not mistaken for bad addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fault {
    /// The recipient's address, mailbox or domain.
    Recipient,
    /// The sender's reputation, authentication, content or policy.
    Sender,
    /// The path between the two: DNS, connections, time-outs.
    Network,
    /// Nothing says.
    Unknown,
}

impl Fault {
    /// Every fault.
    pub const ALL: &'static [Fault] = &[Fault::Recipient, Fault::Sender, Fault::Network, Fault::Unknown];

    /// The lower-case name used in every output.
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Recipient => "recipient",
            Fault::Sender => "sender",
            Fault::Network => "network",
            Fault::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Fault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Fault::Recipient, Fault::Sender, Fault::Network, Fault::Unknown]
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown fault '{s}' (recipient, sender, network, unknown)"))
    }
}

macro_rules! reasons {
    ($($variant:ident => $name:literal, $fault:ident, $doc:literal;)*) => {
        /// Why a message was or was not delivered, in Sisimai's words.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum Reason {
            $(#[doc = $doc] $variant,)*
        }

        impl Reason {
            /// Every reason, in taxonomy order.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)*];

            /// Sisimai's name of the reason.
            pub fn as_str(self) -> &'static str {
                match self { $(Reason::$variant => $name,)* }
            }

            /// One sentence saying what the reason means.
            pub fn description(self) -> &'static str {
                match self { $(Reason::$variant => $doc,)* }
            }

            /// Whose side a failure for this reason is usually on.
            pub fn fault(self) -> Fault {
                match self { $(Reason::$variant => Fault::$fault,)* }
            }
        }
    };
}

reasons! {
    Delivered => "delivered", Unknown, "The server accepted the message.";
    UserUnknown => "userunknown", Recipient, "The mailbox does not exist.";
    HostUnknown => "hostunknown", Recipient, "The recipient's domain does not exist or has no mail server.";
    HasMoved => "hasmoved", Recipient, "The mailbox has moved and mail is not forwarded.";
    NotAccept => "notaccept", Recipient, "The domain takes no mail (null MX).";
    MailboxFull => "mailboxfull", Recipient, "The mailbox is full or over quota.";
    Suspend => "suspend", Recipient, "The mailbox is disabled or suspended.";
    EmailTooLarge => "emailtoolarge", Recipient, "The message is larger than the recipient accepts.";
    Expired => "expired", Network, "The message stayed in the queue too long and was returned.";
    SystemError => "systemerror", Recipient, "The receiving system failed.";
    SystemFull => "systemfull", Recipient, "The receiving system has no storage left.";
    NetworkError => "networkerror", Network, "DNS or connection failure on the way.";
    MailerError => "mailererror", Recipient, "A local mailer program failed.";
    Blocked => "blocked", Sender, "The sending IP or host is blocked (blocklists, local policy).";
    BadReputation => "badreputation", Sender, "The sender's IP or domain reputation is too low.";
    RequirePtr => "requireptr", Sender, "The sending IP has no valid reverse DNS.";
    AuthFailure => "authfailure", Sender, "SPF, DKIM or DMARC failed.";
    RateLimited => "ratelimited", Sender, "Too many messages or connections at once.";
    SpamDetected => "spamdetected", Sender, "The content was judged to be spam.";
    VirusDetected => "virusdetected", Sender, "The message carries a virus or malware.";
    ContentError => "contenterror", Sender, "The content or its headers are malformed.";
    Filtered => "filtered", Sender, "A filter of the recipient refused the message.";
    PolicyViolation => "policyviolation", Sender, "The message breaks a policy of the receiving site.";
    SecurityError => "securityerror", Sender, "A security requirement was not met.";
    FailedStartTls => "failedstarttls", Sender, "STARTTLS was required or failed.";
    Rejected => "rejected", Sender, "The envelope sender was refused.";
    NoRelaying => "norelaying", Sender, "The server does not relay for the sender.";
    SyntaxError => "syntaxerror", Sender, "An SMTP command was malformed.";
    NotCompliantRfc => "notcompliantrfc", Sender, "The message does not comply with the RFCs.";
    Suppressed => "suppressed", Sender, "The address is on a suppression list of the sending service.";
    Undefined => "undefined", Unknown, "No words to go on: the reply code decides.";
    OnHold => "onhold", Unknown, "Words that give no cause, or none a rule knows: the reply code decides.";
    Vacation => "vacation", Unknown, "An auto-reply, not a bounce.";
    Feedback => "feedback", Unknown, "A complaint (feedback loop) report, not a bounce.";
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Reason {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Reason::ALL
            .iter()
            .copied()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown reason '{s}'"))
    }
}

/// Which reasons are hard bounces; the rest of the failures are soft.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HardPolicy {
    hard: Vec<Reason>,
}

impl Default for HardPolicy {
    fn default() -> Self {
        HardPolicy { hard: vec![Reason::UserUnknown, Reason::HostUnknown, Reason::HasMoved, Reason::NotAccept] }
    }
}

impl HardPolicy {
    /// A policy with exactly these hard reasons.
    pub fn new(hard: Vec<Reason>) -> Self {
        HardPolicy { hard }
    }

    /// The hard reasons.
    pub fn hard_reasons(&self) -> &[Reason] {
        &self.hard
    }

    /// The class of a reason given the reply's class digit (2, 4 or 5, from the reply code or the enhanced code).
    pub fn class_of(&self, reason: Reason, code_class: Option<u8>) -> Class {
        match reason {
            Reason::Delivered => Class::Delivered,
            Reason::Vacation | Reason::Feedback => Class::None,
            // The code decides when the words do not.
            Reason::Undefined | Reason::OnHold => match code_class {
                Some(5) => Class::Hard,
                _ => Class::Soft,
            },
            // A null MX is only final when the server says so with a 5xx reply.
            Reason::NotAccept if code_class == Some(4) => Class::Soft,
            r if self.hard.contains(&r) => Class::Hard,
            _ => Class::Soft,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in Reason::ALL {
            assert_eq!(r.as_str().parse::<Reason>().unwrap(), *r);
        }
        assert_eq!(Reason::ALL.len(), 34);
    }

    #[test]
    fn every_class_and_fault_is_listed() {
        // A variant added to either enum fails this match until it is named here, and then this test until it is
        // in the list too.
        let class_listed = |c: Class| match c {
            Class::Delivered | Class::Hard | Class::Soft | Class::None => Class::ALL.contains(&c),
        };
        let fault_listed = |f: Fault| match f {
            Fault::Recipient | Fault::Sender | Fault::Network | Fault::Unknown => Fault::ALL.contains(&f),
        };
        assert!([Class::Delivered, Class::Hard, Class::Soft, Class::None].into_iter().all(class_listed));
        assert!([Fault::Recipient, Fault::Sender, Fault::Network, Fault::Unknown].into_iter().all(fault_listed));
        assert_eq!((Class::ALL.len(), Fault::ALL.len()), (4, 4));
    }

    #[test]
    fn default_policy() {
        let p = HardPolicy::default();
        assert_eq!(p.class_of(Reason::UserUnknown, Some(5)), Class::Hard);
        assert_eq!(p.class_of(Reason::MailboxFull, Some(5)), Class::Soft);
        assert_eq!(p.class_of(Reason::Undefined, Some(5)), Class::Hard);
        assert_eq!(p.class_of(Reason::Undefined, Some(4)), Class::Soft);
        assert_eq!(p.class_of(Reason::NotAccept, Some(4)), Class::Soft);
        assert_eq!(p.class_of(Reason::Vacation, Some(5)), Class::None);
        let strict = HardPolicy::new(vec![Reason::UserUnknown, Reason::Suspend]);
        assert_eq!(strict.class_of(Reason::Suspend, Some(5)), Class::Hard);
        assert_eq!(strict.class_of(Reason::HostUnknown, Some(5)), Class::Soft);
    }
}
