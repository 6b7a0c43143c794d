//! Which mailbox provider received a message: reports group bounces by provider, since a block at Gmail and a block
//! at Microsoft are different problems with different fixes.
//!
//! The receiving server's host name decides where the log names it (a company domain hosted by Google Workspace is
//! Google's), the recipient's domain otherwise.

/// A large mailbox provider, or another domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    /// Gmail and Google Workspace.
    Google,
    /// Yahoo and AOL.
    Yahoo,
    /// Outlook.com, Hotmail and Microsoft 365.
    Microsoft,
    /// iCloud.
    Apple,
    /// GMX, Web.de and 1&1.
    Gmx,
    /// Any other receiver.
    Other,
}

impl Provider {
    /// The name shown in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Google => "Google",
            Provider::Yahoo => "Yahoo/AOL",
            Provider::Microsoft => "Microsoft",
            Provider::Apple => "Apple",
            Provider::Gmx => "GMX/Web.de",
            Provider::Other => "other",
        }
    }
}

const RELAYS: &[(&str, Provider)] = &[
    ("google.com", Provider::Google),
    ("googlemail.com", Provider::Google),
    ("yahoodns.net", Provider::Yahoo),
    ("yahoo.com", Provider::Yahoo),
    ("aol.com", Provider::Yahoo),
    ("outlook.com", Provider::Microsoft),
    ("hotmail.com", Provider::Microsoft),
    ("icloud.com", Provider::Apple),
    ("apple.com", Provider::Apple),
    ("gmx.net", Provider::Gmx),
    ("web.de", Provider::Gmx),
    ("kundenserver.de", Provider::Gmx),
];

const DOMAINS: &[(&str, Provider)] = &[
    ("gmail.com", Provider::Google),
    ("googlemail.com", Provider::Google),
    ("yahoo.", Provider::Yahoo),
    ("ymail.com", Provider::Yahoo),
    ("rocketmail.com", Provider::Yahoo),
    ("aol.", Provider::Yahoo),
    ("outlook.", Provider::Microsoft),
    ("hotmail.", Provider::Microsoft),
    ("live.", Provider::Microsoft),
    ("msn.com", Provider::Microsoft),
    ("icloud.com", Provider::Apple),
    ("me.com", Provider::Apple),
    ("mac.com", Provider::Apple),
    ("gmx.", Provider::Gmx),
    ("web.de", Provider::Gmx),
];

/// The provider behind a recipient domain and, where known, the receiving server's host name. Asked for every
/// outcome, so it compares without allocating: names are matched ignoring ASCII case.
pub fn provider_of(domain: &str, relay: Option<&str>) -> Provider {
    if let Some(host) = relay {
        let host = host.trim_end_matches('.').as_bytes();
        for (suffix, p) in RELAYS {
            if is_same_or_subdomain(host, suffix.as_bytes()) {
                return *p;
            }
        }
    }
    let d = domain.as_bytes();
    DOMAINS
        .iter()
        .find(|(name, _)| {
            let name = name.as_bytes();
            if name.ends_with(b".") {
                d.len() >= name.len() && d[..name.len()].eq_ignore_ascii_case(name)
            } else {
                d.eq_ignore_ascii_case(name)
            }
        })
        .map_or(Provider::Other, |(_, p)| *p)
}

/// Whether `host` is `suffix` or a name under it (`mx.suffix`), ignoring ASCII case.
fn is_same_or_subdomain(host: &[u8], suffix: &[u8]) -> bool {
    match host.len().checked_sub(suffix.len()) {
        Some(0) => host.eq_ignore_ascii_case(suffix),
        Some(at) => host[at - 1] == b'.' && host[at..].eq_ignore_ascii_case(suffix),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_relay_then_domain() {
        assert_eq!(provider_of("acme.example", Some("aspmx.l.google.com")), Provider::Google);
        assert_eq!(provider_of("acme.example", Some("acme-example.mail.protection.outlook.com")), Provider::Microsoft);
        assert_eq!(provider_of("yahoo.co.uk", None), Provider::Yahoo);
        assert_eq!(provider_of("web.de", Some("mx-ha03.web.de")), Provider::Gmx);
        assert_eq!(provider_of("acme.example", Some("mx1.acme.example")), Provider::Other);
        assert_eq!(provider_of("notgmail.com", None), Provider::Other);
        assert_eq!(provider_of("acme.example", Some("MX.Web.DE.")), Provider::Gmx);
        assert_eq!(provider_of("acme.example", Some("notgoogle.com")), Provider::Other);
        assert_eq!(provider_of("Yahoo.CO.uk", None), Provider::Yahoo);
        assert_eq!(provider_of("GMAIL.COM", Some("google.com.evil.example")), Provider::Google);
    }
}
