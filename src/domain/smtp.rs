//! Server responses as MTAs log them, taken apart into reply code, enhanced status code (RFC 3463), text and the
//! SMTP command they answered.
//!
//! MTAs wrap the remote reply in their own words (`host X said: ... (in reply to RCPT TO command)`,
//! `SMTP error from remote mail server after RCPT TO:<..>: ...`, qmail's `Remote host said: ...`, and qmail-send's
//! reports with `_` for spaces) and flatten multi-line replies in their own way (`550-5.1.1 a 550-5.1.1 b 550 5.1.1
//! c`, or with a literal `\n`). The classifier wants only the server's words, once, so this module undoes all of
//! that; the raw line stays with the attempt as proof. A code of one class in front never lets wrapped words of
//! another class inside change it: those are the server's own text.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An RFC 3463 enhanced status code such as `5.1.1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EnhancedCode {
    /// 2 (success), 4 (persistent transient) or 5 (permanent).
    pub class: u8,
    /// The subject: 0 other, 1 addressing, 2 mailbox, 3 mail system, 4 network, 5 protocol, 6 content, 7 security.
    pub subject: u16,
    /// The detail within the subject.
    pub detail: u16,
}

impl EnhancedCode {
    /// Parses a whole string such as `5.1.1`.
    pub fn parse(s: &str) -> Option<Self> {
        match EnhancedCode::parse_prefix(s.trim()) {
            Some((code, "")) => Some(code),
            _ => None,
        }
    }

    /// Parses a code at the start of `s`, which must end there or before a space or punctuation: the code and the rest.
    pub fn parse_prefix(s: &str) -> Option<(Self, &str)> {
        let b = s.as_bytes();
        if b.len() < 5 || !matches!(b[0], b'2' | b'4' | b'5') || b[1] != b'.' {
            return None;
        }
        let (subject, n1) = number(&b[2..], 3)?;
        if b.get(2 + n1) != Some(&b'.') {
            return None;
        }
        let (detail, n2) = number(&b[3 + n1..], 3)?;
        let end = 3 + n1 + n2;
        if b.get(end)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'.' && b.get(end + 1).is_some_and(u8::is_ascii_digit))
        {
            return None;
        }
        Some((EnhancedCode { class: b[0] - b'0', subject, detail }, &s[end..]))
    }
}

/// Up to `max` leading ASCII digits: their value and count.
fn number(b: &[u8], max: usize) -> Option<(u16, usize)> {
    let n = b.iter().take(max + 1).take_while(|c| c.is_ascii_digit()).count();
    if n == 0 || n > max {
        return None;
    }
    Some((b[..n].iter().fold(0u16, |acc, c| acc * 10 + u16::from(c - b'0')), n))
}

/// The decimal digits of `v`, most significant first, and how many there are.
pub(crate) fn decimal_digits(v: u16) -> ([u8; 5], usize) {
    let mut digits = [0u8; 5];
    let mut len = 0;
    let mut v = v;
    loop {
        digits[len] = b'0' + (v % 10) as u8;
        len += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    digits[..len].reverse();
    (digits, len)
}

impl EnhancedCode {
    /// The code as text (`5.1.1`), written into `buf` without allocating: outputs of millions of rows print one each.
    pub fn format_into<'a>(&self, buf: &'a mut [u8; 16]) -> &'a str {
        let mut n = 0;
        for (i, part) in [u16::from(self.class), self.subject, self.detail].into_iter().enumerate() {
            if i > 0 {
                buf[n] = b'.';
                n += 1;
            }
            // At most three digits each, as `parse` reads them (a `u16` has five: all are written).
            let (digits, len) = decimal_digits(part);
            buf[n..n + len].copy_from_slice(&digits[..len]);
            n += len;
        }
        std::str::from_utf8(&buf[..n]).unwrap_or_default()
    }
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.format_into(&mut [0; 16]))
    }
}

/// The SMTP command a reply answered, where the MTA logged it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpCommand {
    /// The greeting, before any command.
    Connect,
    /// `HELO` or `EHLO`.
    Helo,
    /// `STARTTLS`.
    StartTls,
    /// `MAIL FROM`.
    MailFrom,
    /// `RCPT TO`.
    RcptTo,
    /// `DATA`.
    Data,
    /// The final dot after the message content.
    EndOfData,
}

impl SmtpCommand {
    /// Recognises the command in an MTA's wording (`RCPT TO`, `end of DATA`, `pipelined MAIL FROM:<a@b>`, ...).
    pub fn from_words(words: &str) -> Option<Self> {
        // Case-insensitive prefixes rather than a lower-cased copy: this runs for every deferral in a log.
        let starts =
            |w: &str, p: &str| w.len() >= p.len() && w.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes());
        let w = words.trim();
        let w = if starts(w, "pipelined ") { &w["pipelined ".len()..] } else { w };
        Some(if starts(w, "rcpt") {
            SmtpCommand::RcptTo
        } else if starts(w, "mail") {
            SmtpCommand::MailFrom
        } else if starts(w, "end of data") || starts(w, "end of message") || w == "." {
            SmtpCommand::EndOfData
        } else if starts(w, "data") {
            SmtpCommand::Data
        } else if starts(w, "ehlo") || starts(w, "helo") || starts(w, "lhlo") {
            SmtpCommand::Helo
        } else if starts(w, "starttls") {
            SmtpCommand::StartTls
        } else if starts(w, "initial") || starts(w, "connect") || w.to_ascii_lowercase().contains("greeting") {
            SmtpCommand::Connect
        } else {
            return None;
        })
    }

    /// A short name for output.
    pub fn as_str(self) -> &'static str {
        match self {
            SmtpCommand::Connect => "CONNECT",
            SmtpCommand::Helo => "EHLO",
            SmtpCommand::StartTls => "STARTTLS",
            SmtpCommand::MailFrom => "MAIL FROM",
            SmtpCommand::RcptTo => "RCPT TO",
            SmtpCommand::Data => "DATA",
            SmtpCommand::EndOfData => "end of DATA",
        }
    }
}

/// A server response taken apart.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reply {
    /// The three-digit reply code, where there was one.
    pub code: Option<u16>,
    /// The enhanced status code, where there was one.
    pub enhanced: Option<EnhancedCode>,
    /// The server's words without codes, continuation prefixes or the MTA's wrapping; whitespace collapsed.
    pub text: String,
    /// The command the reply answered, where the MTA said.
    pub command: Option<SmtpCommand>,
}

impl Reply {
    /// Takes a logged response apart. Never fails: what is not recognised stays in the text.
    pub fn parse(raw: &str) -> Reply {
        let raw = raw.trim();
        match qmail_delivery(raw) {
            Some(decoded) => Reply::parse_unwrapped(&decoded),
            None => Reply::parse_unwrapped(raw),
        }
    }

    /// [`Reply::parse`], with `dsn`, the enhanced code a log gives beside the response (Postfix's and Sendmail's
    /// `dsn=`, PowerMTA's `dsnStatus`), standing in where the response has none of its own.
    pub fn parse_with_dsn(raw: &str, dsn: Option<EnhancedCode>) -> Reply {
        let mut reply = Reply::parse(raw);
        reply.enhanced = reply.enhanced.or(dsn);
        reply
    }

    /// [`Reply::parse`] of a response that is not qmail-send's encoded report.
    fn parse_unwrapped(raw: &str) -> Reply {
        let mut s = strip_failed(raw);
        let mut command = None;
        // An export's codes in front of Postfix's wrapping: "550 5.1.1 host X said: 550 ...". The codes inside
        // decide; these stand in where the server's own are missing.
        let outer = export_codes(s);
        if let Some((_, _, rest)) = outer {
            s = rest;
        }
        // The class digit a reply found inside wrapping words must have: that of the code in front, where there is
        // one. Behind a code of another class the words are the server's own text and must not change its class.
        let outer_class = outer.map(|(c, _, _)| b'0' + (c / 100) as u8);
        let lead = |s: &str| outer_class.or_else(|| starts_with_code(s.as_bytes()).then(|| s.as_bytes()[0]));

        // Postfix: "host mx.example.com[192.0.2.1] said: 550 ... (in reply to RCPT TO command)".
        // Searchers built once rather than str::find's on every call: a response is parsed for every log line.
        // Only a reply that ends as the wrapping does is searched: most do not.
        if let Some(open) = s.ends_with(" command)").then(|| finders().in_reply_to.rfind(s.as_bytes())).flatten() {
            let tail = &s[open + "(in reply to ".len()..];
            if let Some(words) = tail.strip_suffix(')').and_then(|t| t.strip_suffix(" command")) {
                command = SmtpCommand::from_words(words);
                s = s[..open].trim_end();
            }
        }
        // Postfix names a destination it stopped trying for a while: "delivery temporarily suspended: <why>".
        if let Some(why) = s.strip_prefix("delivery temporarily suspended: ") {
            s = why;
        }
        if let Some((inner, greeting)) = postfix_wrapped(s) {
            s = inner;
            if greeting {
                command = command.or(Some(SmtpCommand::Connect));
            }
        }
        // Exim: "SMTP error from remote mail server after RCPT TO:<a@b>: 550 ...", also behind the code an export
        // puts first (`FAILED 550 SMTP error from ...: 550 ...`). Behind a code of another class the words are the
        // server's own text (`550 ... SMTP error from ... after DATA: 250 ok`) and must not change its class.
        // Exim's LMTP transport says "LMTP error after DATA: 550 ..." (to a local delivery server).
        let exim_at = finders().exim.find(s.as_bytes()).map(|at| at + EXIM_WRAPPER.len());
        if let Some(start) = exim_at.or_else(|| s.starts_with(EXIM_LMTP_WRAPPER).then_some(EXIM_LMTP_WRAPPER.len())) {
            let after = &s[start..];
            let class = |t: &str| t.as_bytes().first().copied();
            if let Some(split) =
                find_reply_start(after).filter(|&i| lead(s).is_none_or(|c| class(&after[i + 2..]) == Some(c)))
            {
                command = SmtpCommand::from_words(&after[..split]).or(command);
                s = &after[split + 2..];
            }
        }

        // qmail: "... Remote host said: 550 5.1.1 ...": qmail-remote's words before the server's reply, kept only
        // when the reply is of the class of any code in front (as for Exim's wrapping).
        if let Some(at) = finders().remote_said.find(s.as_bytes()) {
            let after = &s[at + REMOTE_SAID.len()..];
            if starts_with_code(after.as_bytes()) && lead(s).is_none_or(|c| after.as_bytes()[0] == c) {
                s = after;
            }
        }

        let mut code = None;
        let b = s.as_bytes();
        if starts_with_code(b) {
            code = Some(u16::from(b[0] - b'0') * 100 + u16::from(b[1] - b'0') * 10 + u16::from(b[2] - b'0'));
            s = s.get(4..).unwrap_or("");
        }
        let mut enhanced = None;
        // qmail writes the enhanced code behind a `#`: "550 #5.1.0 Address rejected."
        let start = s.trim_start();
        if let Some((e, rest)) = EnhancedCode::parse_prefix(start.strip_prefix('#').unwrap_or(start)) {
            enhanced = Some(e);
            s = rest;
            // DSN texts and some MTAs put the enhanced code first: "5.0.0 550 : User unknown".
            if code.is_none() {
                let after = s.trim_start();
                code = reply_code(after);
                if code.is_some() {
                    s = after.get(4..).unwrap_or("");
                }
            }
        }
        if let Some((outer_code, outer_enhanced, _)) = outer {
            code = code.or(Some(outer_code));
            enhanced = enhanced.or(outer_enhanced);
        }
        // qmail's own messages end with the code in brackets: "Sorry, no mailbox here by that name. (#5.1.1)". Behind
        // a reply code, such words are the server's, and the reply code and the words decide.
        if enhanced.is_none() && code.is_none() {
            enhanced = bracketed_code(s);
        }
        let text = collapse(s, code, enhanced);
        Reply { code, enhanced, text, command }
    }

    /// The class digit (2, 4 or 5) of the reply code, or else of the enhanced code.
    pub fn code_class(&self) -> Option<u8> {
        self.code.map(|c| (c / 100) as u8).or(self.enhanced.map(|e| e.class))
    }

    /// The response as one line: `550 5.1.1 text`.
    pub fn display(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 12);
        if let Some(c) = self.code {
            out.push_str(&c.to_string());
        }
        if let Some(e) = self.enhanced {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&e.to_string());
        }
        if !self.text.is_empty() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&self.text);
        }
        out
    }
}

/// The searchers for the words MTAs wrap replies in, built once.
struct Finders {
    in_reply_to: memchr::memmem::FinderRev<'static>,
    said: memchr::memmem::Finder<'static>,
    exim: memchr::memmem::Finder<'static>,
    remote_said: memchr::memmem::Finder<'static>,
    refused_to_talk: memchr::memmem::Finder<'static>,
    double_space: memchr::memmem::Finder<'static>,
}

fn finders() -> &'static Finders {
    static FINDERS: std::sync::OnceLock<Finders> = std::sync::OnceLock::new();
    FINDERS.get_or_init(|| Finders {
        in_reply_to: memchr::memmem::FinderRev::new(b"(in reply to "),
        said: memchr::memmem::Finder::new(b" said: "),
        exim: memchr::memmem::Finder::new(EXIM_WRAPPER.as_bytes()),
        remote_said: memchr::memmem::Finder::new(REMOTE_SAID.as_bytes()),
        refused_to_talk: memchr::memmem::Finder::new(REFUSED_TO_TALK.as_bytes()),
        double_space: memchr::memmem::Finder::new(b"  "),
    })
}

/// Exim's words before the remote server's reply.
const EXIM_WRAPPER: &str = "SMTP error from remote mail server after ";

/// Exim's words before an LMTP server's reply, at the start of the text.
const EXIM_LMTP_WRAPPER: &str = "LMTP error after ";

/// Postfix's words before a greeting that refused the session.
const REFUSED_TO_TALK: &str = " refused to talk to me: ";

/// qmail-remote's words before the remote server's reply.
const REMOTE_SAID: &str = "Remote host said: ";

/// The reply inside Postfix's `host X said: <reply>` or `host X refused to talk to me: <reply>`, and whether it
/// answered the greeting (the second form: the server refused the session).
fn postfix_wrapped(s: &str) -> Option<(&str, bool)> {
    if !s.starts_with("host ") {
        return None;
    }
    let f = finders();
    match f.said.find(s.as_bytes()) {
        Some(at) => Some((&s[at + " said: ".len()..], false)),
        None => f.refused_to_talk.find(s.as_bytes()).map(|at| (&s[at + REFUSED_TO_TALK.len()..], true)),
    }
}

/// The reply code and enhanced code an export puts in front of Postfix's `host X said: ...` (or `refused to talk to
/// me: ...`), and the wrapping behind them; `None` when the reply inside has a code of another class, which makes
/// the wrapping part of a server's text.
fn export_codes(s: &str) -> Option<(u16, Option<EnhancedCode>, &str)> {
    let code = reply_code(s)?;
    let mut rest = s.get(4..)?.trim_start();
    let mut enhanced = None;
    if let Some((e, r)) = EnhancedCode::parse_prefix(rest) {
        enhanced = Some(e);
        rest = r.trim_start();
    }
    let (inner, _) = postfix_wrapped(rest)?;
    let class = (code / 100) as u8 + b'0';
    (reply_code(inner).is_none() || inner.as_bytes()[0] == class).then_some((code, enhanced, rest))
}

/// qmail-send's report of a delivery (`delivery 12: failure: 192.0.2.1_does_not_like_recipient./Remote_host_said:_550
/// ...`), decoded: qmail writes its spaces as `_` and its line breaks as `/`. The result word (`success:`,
/// `failure:`, `deferral:`) is kept in front, so that a success without a reply code still reads as one.
fn qmail_delivery(s: &str) -> Option<String> {
    let mut rest = s;
    if let Some(after) = rest.strip_prefix("delivery ") {
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        rest = after[digits..].strip_prefix(": ").filter(|_| digits > 0)?;
    }
    let (word, body) =
        ["success: ", "failure: ", "deferral: "].iter().find_map(|w| Some((*w, rest.strip_prefix(w)?)))?;
    // Only the encoded form, which ends with a line break: other text is read as it is. (Some logs have a space
    // before a line break: `accepted_message. /Remote_host_said:_250_ok/`.)
    if !body.ends_with('/') || !body.contains('_') {
        return None;
    }
    let b = body.as_bytes();
    let mut out = String::with_capacity(word.len() + body.len());
    out.push_str(word);
    for (i, c) in body.char_indices() {
        let line_break = c == '/'
            && (i + 1 == b.len()
                || i > 0 && matches!(b[i - 1], b'.' | b')' | b':') && b[i + 1] != b'/'
                || b[i + 1].is_ascii_uppercase());
        out.push(if c == '_' || line_break { ' ' } else { c });
    }
    Some(out)
}

/// The first enhanced code written `(#5.1.1)` in `s`.
fn bracketed_code(s: &str) -> Option<EnhancedCode> {
    let b = s.as_bytes();
    memchr::memchr_iter(b'#', b).filter(|&i| i > 0 && b[i - 1] == b'(').find_map(|i| {
        match EnhancedCode::parse_prefix(&s[i + 1..]) {
            Some((code, rest)) if rest.starts_with(')') => Some(code),
            _ => None,
        }
    })
}

/// A three-digit reply code at the start of `s`, followed by the end, a space, a tab or a `-`.
fn reply_code(s: &str) -> Option<u16> {
    let b = s.as_bytes();
    (b.len() >= 3
        && matches!(b[0], b'2'..=b'5')
        && b[1].is_ascii_digit()
        && b[2].is_ascii_digit()
        && b.get(3).is_none_or(|c| matches!(c, b' ' | b'-' | b'\t')))
    .then(|| u16::from(b[0] - b'0') * 100 + u16::from(b[1] - b'0') * 10 + u16::from(b[2] - b'0'))
}

/// Drops the sending log's `FAILED` marker (`FAILED 550 ...`, `FAILED: 550 ...`).
fn strip_failed(s: &str) -> &str {
    match s.get(..6) {
        Some(p) if p.eq_ignore_ascii_case("failed") => s[6..].trim_start_matches([':', ' ', '\t']),
        _ => s,
    }
}

/// Whether text starts with a reply code: three digits, the first 2 to 5, then the end, a space, `-` or a tab.
fn starts_with_code(b: &[u8]) -> bool {
    b.len() >= 3
        && matches!(b[0], b'2'..=b'5')
        && b[1].is_ascii_digit()
        && b[2].is_ascii_digit()
        && b.get(3).is_none_or(|c| matches!(c, b' ' | b'-' | b'\t'))
}

/// The position of the `: ` that precedes a reply code in Exim's wording.
fn find_reply_start(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    (0..b.len().saturating_sub(4)).find(|&i| b[i] == b':' && b[i + 1] == b' ' && starts_with_code(&b[i + 2..]))
}

/// Collapses whitespace and Exim's literal `\n`, and drops the continuation prefixes of a multi-line reply.
fn collapse(s: &str, code: Option<u16>, enhanced: Option<EnhancedCode>) -> String {
    let s = s.trim_matches(|c: char| c.is_whitespace());
    if is_collapsed(s, code) {
        // Most replies are one line already; copying them is all there is to do.
        return s.to_string();
    }
    collapse_words(s, code, enhanced)
}

/// [`collapse`] word by word.
fn collapse_words<'s>(s: &'s str, code: Option<u16>, enhanced: Option<EnhancedCode>) -> String {
    let code_digits = code.map(|c| [b'0' + (c / 100 % 10) as u8, b'0' + (c / 10 % 10) as u8, b'0' + (c % 10) as u8]);
    let code_str = code_digits.as_ref().and_then(|d| std::str::from_utf8(d).ok());
    let mut enh_buf = [0u8; 16];
    let enh_str = enhanced.as_ref().map(|e| e.format_into(&mut enh_buf));
    let mut out = String::with_capacity(s.len());
    // Words, and the parts of a word around a literal `\n` (looked for only in words with a backslash).
    let mut words: Vec<&'s str> = Vec::with_capacity(s.len() / 4);
    let push = |word: &'s str| {
        if memchr::memchr(b'\\', word.as_bytes()).is_some() {
            words.extend(word.split("\\n").filter(|t| !t.is_empty()));
        } else {
            words.push(word);
        }
    };
    split_words(s, push);
    let mut tokens = words.into_iter().peekable();
    while let Some(tok) = tokens.next() {
        let mut tok = tok;
        if let Some(code) = code_str
            && let Some(rest) = tok.strip_prefix(code)
        {
            if rest.is_empty() {
                // "550 5.1.1 more": a continuation written with a space.
                if enh_str.is_some() && tokens.peek().is_some_and(|t| Some(*t) == enh_str) {
                    tokens.next();
                    continue;
                }
            } else if let Some(after) = rest.strip_prefix('-') {
                if after.is_empty() || Some(after) == enh_str {
                    continue;
                }
                tok = after;
            }
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(tok);
    }
    out
}

/// Calls `push` with each word of `s`, as `split_whitespace` finds them; ASCII text (nearly every reply) byte by
/// byte, which is several times faster.
fn split_words<'s>(s: &'s str, mut push: impl FnMut(&'s str)) {
    if !s.is_ascii() {
        return s.split_whitespace().for_each(push);
    }
    // The ASCII whitespace of split_whitespace: space, and tab to carriage return (the vertical tab included).
    let mut start = None;
    for (i, b) in s.bytes().enumerate() {
        if b == b' ' || (b'\t'..=b'\r').contains(&b) {
            if let Some(from) = start.take() {
                push(&s[from..i]);
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(from) = start {
        push(&s[from..]);
    }
}

/// Whether `collapse` would give `s` back unchanged: single ASCII spaces between words, no literal `\\n`, and no
/// word starting with the reply code (a continuation prefix). `s` is trimmed already.
fn is_collapsed(s: &str, code: Option<u16>) -> bool {
    let b = s.as_bytes();
    if b.first() == Some(&b' ') {
        return false;
    }
    // Each test is a pass the compiler or memchr vectorises, rather than one branchy loop over the bytes.
    let odd =
        b.iter().fold(false, |odd, &c| odd | (c >= 0x80) | (c == b'\t') | (c == b'\n') | (c == 0x0c) | (c == b'\r'));
    if odd || finders().double_space.find(b).is_some() {
        return false;
    }
    if memchr::memchr_iter(b'\\', b).any(|i| b.get(i + 1) == Some(&b'n')) {
        return false;
    }
    match code {
        Some(c) => {
            let word = [b' ', b'0' + (c / 100 % 10) as u8, b'0' + (c / 10 % 10) as u8, b'0' + (c % 10) as u8];
            // By the class digit, which is rare in words, rather than with a substring searcher built each time.
            !b.starts_with(&word[1..])
                && !memchr::memchr_iter(word[1], b).any(|i| i > 0 && b[i - 1..].starts_with(&word))
        }
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(s: &str) -> Option<EnhancedCode> {
        EnhancedCode::parse(s)
    }

    #[test]
    fn enhanced_codes() {
        assert_eq!(e("5.1.1").unwrap().to_string(), "5.1.1");
        assert_eq!(e("4.7.650").unwrap().detail, 650);
        assert_eq!(e("5.1.10").unwrap().detail, 10);
        assert!(e("5.1").is_none());
        assert!(e("6.1.1").is_none());
        assert!(e("5.1.1x").is_none());
        assert!(e("1.2.3.4").is_none());
    }

    #[test]
    fn wrapper_words_inside_a_reply_are_the_servers_text() {
        // Found by fuzzing (fuzz/regressions/reply/): a reply quoting Exim's wording took the quoted code.
        let r = Reply::parse("550 5.1.1 no such user; SMTP error from remote mail server after RCPT TO:<a@b>: 250 ok");
        assert_eq!((r.code, r.enhanced.map(|e| e.to_string())), (Some(550), Some("5.1.1".into())));
        assert!(r.text.ends_with("RCPT TO:<a@b>: 250 ok"), "{}", r.text);
        let r = Reply::parse(
            "host mx[192.0.2.1] said: 550 5.1.1 unknown SMTP error from remote mail server after DATA: 250 ok (in reply to RCPT TO command)",
        );
        assert_eq!((r.code, r.command), (Some(550), Some(SmtpCommand::RcptTo)));
        // Behind a code of the same class, it is an export's code in front of Exim's words.
        let r = Reply::parse("550 SMTP error from remote mail server after MAIL FROM:<a@b>: 553 sender rejected");
        assert_eq!((r.code, r.command), (Some(553), Some(SmtpCommand::MailFrom)));
        // Nor does a wrapper around something that is not a reply code (`: 5592.0.2.1`): found by fuzzing too.
        let r = Reply::parse("554 5.7.0 x SMTP error from remote mail server after DATA: 5592.0.2.222 y");
        assert_eq!((r.code, r.command), (Some(554), None));
        // Exim's own wrapper is still taken apart.
        let r = Reply::parse("SMTP error from remote mail server after RCPT TO:<a@b>: 550 5.1.1 unknown");
        assert_eq!((r.code, r.text.as_str(), r.command), (Some(550), "unknown", Some(SmtpCommand::RcptTo)));
    }

    #[test]
    fn postfix_wrapped_gmail_multiline() {
        let r = Reply::parse(
            "host gmail-smtp-in.l.google.com[142.250.102.26] said: 550-5.1.1 The email account that you tried to \
             reach does not exist. Please try 550-5.1.1 double-checking the recipient's email address for typos or \
             550 5.1.1  https://support.google.com/mail/?p=NoSuchUser x - gsmtp (in reply to RCPT TO command)",
        );
        assert_eq!(r.code, Some(550));
        assert_eq!(r.enhanced, e("5.1.1"));
        assert_eq!(r.command, Some(SmtpCommand::RcptTo));
        assert_eq!(
            r.text,
            "The email account that you tried to reach does not exist. Please try double-checking the recipient's \
             email address for typos or https://support.google.com/mail/?p=NoSuchUser x - gsmtp"
        );
        assert_eq!(r.display(), format!("550 5.1.1 {}", r.text));
    }

    #[test]
    fn exim_wrapped_with_literal_newlines() {
        let r = Reply::parse(
            "SMTP error from remote mail server after RCPT TO:<s@gmail.com>: 552-5.2.2 The recipient's inbox is out \
             of storage space and inactive. Please direct\\n552-5.2.2 the recipient to\\n552 5.2.2  https://x - gsmtp",
        );
        assert_eq!((r.code, r.enhanced, r.command), (Some(552), e("5.2.2"), Some(SmtpCommand::RcptTo)));
        assert_eq!(
            r.text,
            "The recipient's inbox is out of storage space and inactive. Please direct the recipient to https://x - gsmtp"
        );
        let r = Reply::parse(
            "SMTP error from remote mail server after end of data: 554 delivery error: dd Not a valid recipient",
        );
        assert_eq!((r.code, r.enhanced, r.command), (Some(554), None, Some(SmtpCommand::EndOfData)));
        let r = Reply::parse(
            "SMTP error from remote mail server after pipelined MAIL FROM:<b@n.example> SIZE=55790: 421 4.7.0 [TSS04] x",
        );
        assert_eq!((r.code, r.command), (Some(421), Some(SmtpCommand::MailFrom)));
        assert_eq!(r.text, "[TSS04] x");
    }

    #[test]
    fn sending_log_and_bare_forms() {
        let r = Reply::parse("FAILED 550 5.4.4 Host or domain name not found. Name service error");
        assert_eq!((r.code, r.enhanced), (Some(550), e("5.4.4")));
        assert_eq!(r.text, "Host or domain name not found. Name service error");
        let r = Reply::parse("250 ok");
        assert_eq!((r.code, r.enhanced, r.text.as_str()), (Some(250), None, "ok"));
        let r = Reply::parse("Connection timed out");
        assert_eq!((r.code, r.text.as_str()), (None, "Connection timed out"));
        let r = Reply::parse("550-Mailbox unknown 550 continued");
        assert_eq!(r.text, "Mailbox unknown 550 continued");
        assert_eq!(Reply::parse("").text, "");
        assert_eq!(Reply::parse("5").code, None);
        let r = Reply::parse("552 5.2.2");
        assert_eq!((r.code, r.enhanced, r.text.as_str()), (Some(552), e("5.2.2"), ""));
    }

    #[test]
    fn exim_lmtp_wrapping() {
        let r = Reply::parse("LMTP error after DATA: 452 4.2.2 Mailbox is full");
        assert_eq!((r.code, r.enhanced, r.command), (Some(452), e("4.2.2"), Some(SmtpCommand::Data)));
        assert_eq!(r.text, "Mailbox is full");
        // Only at the start: elsewhere the words are the server's.
        assert_eq!(Reply::parse("550 x LMTP error after DATA: 250 ok").code, Some(550));
    }

    #[test]
    fn qmail_reports_are_decoded() {
        let r = Reply::parse(
            "delivery 4: failure: 192.0.2.1_does_not_like_recipient./Remote_host_said:_550_5.1.1_<a@example.org>..._User_unknown/Giving_up_on_192.0.2.1./",
        );
        assert_eq!((r.code, r.enhanced), (Some(550), e("5.1.1")));
        assert_eq!(r.text, "<a@example.org>... User unknown Giving up on 192.0.2.1.");
        // qmail's own words carry the code in brackets; a URL keeps its slashes.
        let r = Reply::parse("deferral: Connected_to_192.0.2.1_but_connection_died._(#4.4.2)/");
        assert_eq!((r.code, r.enhanced), (None, e("4.4.2")));
        assert_eq!(r.text, "deferral: Connected to 192.0.2.1 but connection died. (#4.4.2)");
        let r = Reply::parse("failure: Remote_host_said:_554_see_https://example.org/why/");
        assert_eq!((r.code, r.text.as_str()), (Some(554), "see https://example.org/why"));
        assert_eq!(Reply::parse("success: did_0+0+1/").text, "success: did 0+0+1");
        let r = Reply::parse("delivery 2392: success: 192.0.2.7_accepted_message. /Remote_host_said:_250_ok/");
        assert_eq!((r.code, r.text.as_str()), (Some(250), "ok"));
        // Not ending as a report does, or not encoded: read as it is.
        assert_eq!(Reply::parse("failure: a b_c").text, "failure: a b_c");
        assert_eq!(Reply::parse("failure: see /var/spool/").text, "failure: see /var/spool/");
        assert_eq!(Reply::parse("delivery x: failure: a_b").text, "delivery x: failure: a_b");
    }

    #[test]
    fn postfix_greeting_refusals_and_suspended_deliveries() {
        let r = Reply::parse(
            "delivery temporarily suspended: host mail.example.sk[192.0.2.4] refused to talk to me: 421 4.7.0 Not allowed.",
        );
        assert_eq!((r.code, r.enhanced, r.command), (Some(421), e("4.7.0"), Some(SmtpCommand::Connect)));
        assert_eq!(r.text, "Not allowed.");
        let r = Reply::parse("host mx.example.org[192.0.2.1] said: 550 no (in reply to RCPT TO command)");
        assert_eq!((r.code, r.command, r.text.as_str()), (Some(550), Some(SmtpCommand::RcptTo), "no"));
        // The words inside a server's text are not a wrapper.
        let r = Reply::parse("550 host x refused to talk to me: 421 y");
        assert_eq!((r.code, r.command), (Some(550), None));
    }

    #[test]
    fn codes_in_front_of_postfix_wrapping() {
        let r = Reply::parse(
            "421 host mx.example.net[192.0.2.2] said: 421 4.3.0 Upstream error (in reply to end of DATA command)",
        );
        assert_eq!((r.code, r.enhanced, r.text.as_str()), (Some(421), e("4.3.0"), "Upstream error"));
        assert_eq!(r.command, Some(SmtpCommand::EndOfData));
        // The server's words without codes: the export's codes stand in.
        let r = Reply::parse("550 5.7.1 host mx.example.net[192.0.2.2] said: This message is blocked");
        assert_eq!((r.code, r.enhanced, r.text.as_str()), (Some(550), e("5.7.1"), "This message is blocked"));
        let r = Reply::parse("FAILED 550 host mx.example.net[192.0.2.2] refused to talk to me: 550 go away");
        assert_eq!((r.code, r.command, r.text.as_str()), (Some(550), Some(SmtpCommand::Connect), "go away"));
        // Nor does a reply of another class further in (found by fuzzing: the code in front was forgotten once it
        // was taken off).
        let r = Reply::parse("450 host x said: y SMTP error from remote mail server after RCPT TO:<a@b>: 554 z");
        assert_eq!(
            (r.code, r.text.as_str()),
            (Some(450), "y SMTP error from remote mail server after RCPT TO:<a@b>: 554 z")
        );
        let r = Reply::parse("450 host x said: y Remote host said: 554 z");
        assert_eq!(r.code, Some(450));
        // A reply of another class inside is the server's text.
        let r = Reply::parse("550 host mx.example.net[192.0.2.2] said: 250 ok");
        assert_eq!((r.code, r.text.as_str()), (Some(550), "host mx.example.net[192.0.2.2] said: 250 ok"));
    }

    #[test]
    fn qmail_remote_wrapping_and_codes() {
        let r =
            Reply::parse("421 Connected to 192.0.2.9 but sender was rejected. Remote host said: 421 4.7.0 [TSS04] x");
        assert_eq!((r.code, r.enhanced, r.text.as_str()), (Some(421), e("4.7.0"), "[TSS04] x"));
        // A reply of another class behind the code is the server's text, not a new reply.
        let r = Reply::parse("550 failed after I sent the message. Remote host said: 250 ok");
        assert_eq!((r.code, r.text.as_str()), (Some(550), "failed after I sent the message. Remote host said: 250 ok"));
        let r = Reply::parse("550 #5.1.0 Address rejected.");
        assert_eq!((r.code, r.enhanced, r.text.as_str()), (Some(550), e("5.1.0"), "Address rejected."));
        // A bracketed code behind a reply code is the server's own text: the reply code decides.
        assert_eq!(Reply::parse("553 sorry, in my badrcptto list (#5.7.1)").enhanced, None);
        assert_eq!(Reply::parse("Sorry, no mailbox here by that name. (#5.1.1)").enhanced, e("5.1.1"));
        assert_eq!(Reply::parse("odd (#5.1) (#x) (#4.2.2)").enhanced, e("4.2.2"));
    }

    #[test]
    fn enhanced_code_before_reply_code() {
        let r = Reply::parse("5.0.0 550 : User unknown");
        assert_eq!((r.code, r.enhanced, r.text.as_str()), (Some(550), e("5.0.0"), ": User unknown"));
        let r = Reply::parse("5.1.1 550 Requested action not taken: mailbox unavailable 503 Bad sequence of commands");
        assert_eq!((r.code, r.enhanced), (Some(550), e("5.1.1")));
        assert_eq!(r.text, "Requested action not taken: mailbox unavailable 503 Bad sequence of commands");
        let r = Reply::parse("5.0.0 550");
        assert_eq!((r.code, r.enhanced, r.text.as_str()), (Some(550), e("5.0.0"), ""));
        // An enhanced code alone, or followed by a number that is not a reply code, keeps the text.
        let r = Reply::parse("4.4.1 connect to mx.example.org[192.0.2.1]:25: Connection timed out");
        assert_eq!((r.code, r.enhanced), (None, e("4.4.1")));
        assert_eq!(r.text, "connect to mx.example.org[192.0.2.1]:25: Connection timed out");
        let r = Reply::parse("5.0.0 1234 units");
        assert_eq!((r.code, r.text.as_str()), (None, "1234 units"));
    }

    #[test]
    fn the_quick_collapse_agrees_with_the_word_by_word_one() {
        let code = Some(550);
        let enhanced = EnhancedCode::parse("5.1.1");
        for s in [
            "User unknown",
            "5.1.1 User unknown",
            "550-5.1.1 first 550 5.1.1 second",
            "no  double",
            "tab\there",
            "literal\\nnewline",
            "ends with 550",
            "550",
            "x 5501 y",
            "n\u{a0}bsp",
            "",
        ] {
            let s = s.trim();
            assert_eq!(collapse(s, code, enhanced), collapse_words(s, code, enhanced), "{s:?}");
            assert_eq!(collapse(s, None, None), collapse_words(s, None, None), "{s:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn the_quick_collapse_agrees_on_any_text(s in "[ a-z0-9.\\\\n\t\u{a0}-]{0,40}") {
            let s = s.trim();
            for (code, enhanced) in [(Some(550), EnhancedCode::parse("5.1.1")), (Some(250), None), (None, None)] {
                proptest::prop_assert_eq!(collapse(s, code, enhanced), collapse_words(s, code, enhanced));
            }
        }

        #[test]
        fn words_split_as_split_whitespace_does(s in "[ a\t\n\r\x0b\x0c\x1f\u{a0}\u{2003}-]{0,30}") {
            let mut words = Vec::new();
            split_words(&s, |w| words.push(w));
            proptest::prop_assert_eq!(words, s.split_whitespace().collect::<Vec<_>>());
        }
    }
}
