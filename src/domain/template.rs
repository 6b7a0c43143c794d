//! Server responses reduced to templates, so that "the top responses" groups the same reply sent to different
//! addresses, domains and IPs, with different trace ids, dates and counts.

/// Replaces addresses, domains, IPs, dates, times, numbers and long ids with placeholders and collapses whitespace.
/// Reply codes, enhanced codes and providers' own short error codes stay: they are part of the wording.
pub fn template_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        push_template_word(&mut out, word);
    }
    out
}

/// Appends `word` to `out` with its core (the word without the brackets and punctuation around it) replaced by a
/// placeholder where it is one of the things [`template_of`] replaces. Written in place, with no string of its own:
/// the block-event detector makes a template of every sender-fault bounce.
fn push_template_word(out: &mut String, word: &str) {
    let core = word
        .trim_matches(|c: char| matches!(c, '<' | '>' | '(' | ')' | '[' | ']' | ',' | ';' | ':' | '.' | '"' | '\''));
    let Some(replacement) = placeholder(core) else {
        out.push_str(word);
        return;
    };
    // The core is a sub-slice of the word: where it starts follows from the pointers.
    let start = core.as_ptr() as usize - word.as_ptr() as usize;
    out.push_str(&word[..start]);
    out.push_str(replacement);
    out.push_str(&word[start + core.len()..]);
}

/// The placeholder that stands for `core`, if any.
fn placeholder(core: &str) -> Option<&'static str> {
    if core.is_empty() {
        None
    } else if core.contains('@') && core.contains('.') {
        Some("<email>")
    } else if core.starts_with("http://") || core.starts_with("https://") {
        None
    } else if is_time(core) {
        Some("<time>")
    } else if is_ip(core) {
        Some("<ip>")
    } else if is_date(core) {
        Some("<date>")
    } else if core.bytes().all(|b| b.is_ascii_digit()) {
        let reply_code = core.len() == 3 && matches!(core.as_bytes()[0], b'2' | b'4' | b'5');
        (!reply_code).then_some("<n>")
    } else if is_domain(core) {
        Some("<domain>")
    } else if looks_like_id(core) {
        Some("<id>")
    } else {
        None
    }
}

/// Whether `s` is all ASCII digits (and not empty).
fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_ip(s: &str) -> bool {
    let v4 = s.split('.').count() == 4 && s.split('.').all(|p| p.len() <= 3 && digits(p));
    let v6 = s.contains(':') && s.split(':').count() > 2 && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
    v4 || v6
}

/// `2026-05-04` or `2026/05/04`.
fn is_date(s: &str) -> bool {
    let mut parts = 0;
    for p in s.split(['-', '/']) {
        parts += 1;
        if parts > 3 || p.len() > 4 || !digits(p) {
            return false;
        }
    }
    parts == 3
}

/// `09:02:01` or `09:02`.
fn is_time(s: &str) -> bool {
    let mut parts = 0;
    for p in s.split(':') {
        parts += 1;
        if parts > 3 || p.len() != 2 || !digits(p) {
            return false;
        }
    }
    (2..=3).contains(&parts)
}

/// A host or domain name: dot-separated labels ending in an alphabetic top-level label (`mx.example.org`).
fn is_domain(s: &str) -> bool {
    let Some((_, tld)) = s.rsplit_once('.') else { return false };
    (2..=24).contains(&tld.len())
        && tld.bytes().all(|b| b.is_ascii_alphabetic())
        && s.split('.').all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

/// A word made mostly of digits, or a long mix of letters and digits: a trace id, a queue id, a number.
fn looks_like_id(s: &str) -> bool {
    // Reply codes and short numbers are part of the wording.
    if s.len() <= 3 {
        return false;
    }
    let digits = s.bytes().filter(u8::is_ascii_digit).count();
    let alnum = s.bytes().filter(u8::is_ascii_alphanumeric).count();
    // Enhanced status codes and versions such as 5.7.1 are part of the wording, not ids.
    if s.split('.').count() == 3
        && s.split('.').all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    // Providers' own error codes (S3150, TSS04, AS12) are part of the wording too.
    let letters = s.bytes().take_while(u8::is_ascii_uppercase).count();
    if (1..=3).contains(&letters) && s.len() <= 8 && s[letters..].bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    digits > 0 && (digits * 2 >= alnum || (alnum >= 12 && digits >= 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        assert_eq!(
            template_of("Service unavailable; Client host [203.0.113.10] blocked using zen.spamhaus.org"),
            "Service unavailable; Client host [<ip>] blocked using <domain>"
        );
        assert_eq!(
            template_of("Domain example.org does not accept mail, tried 5 times since 2026-05-04 09:02:01"),
            "Domain <domain> does not accept mail, tried <n> times since <date> <time>"
        );
        assert_eq!(template_of("said: 553 sorry"), "said: 553 sorry");
        assert_eq!(template_of("<Bob@x.example>: Recipient address rejected"), "<<email>>: Recipient address rejected");
        assert_eq!(
            template_of("OK  1763629201 3bda028ef385-3767708ae4d03bdsi8336840.174 - gsmtp"),
            "OK <n> <id> - gsmtp"
        );
        assert_eq!(template_of("see 5.7.1 and S3150"), "see 5.7.1 and S3150");
        assert_eq!(template_of("550 5.1.1 user 123456 unknown"), "550 5.1.1 user <n> unknown");
    }
}
