//! The built-in classification rules, in the order they are tried.
//!
//! The list is data: each row is an id, a reply-code pattern, an enhanced-code pattern, a text pattern (a regular
//! expression over the lower-cased text), the reason, and a description. Text rules come first (a server's words are
//! more precise than its codes: `552 5.2.2 mailbox full` is soft although 5xx), then RFC 3463 enhanced codes, then
//! bare reply codes. Within the text rules, the more specific cause comes first: an expiry notice that quotes a
//! "mailbox full" deferral is an expiry; "unsolicited rate" is rate limiting before it is spam.

use super::classify::{CodeGlob, EnhancedGlob, Rule};
use super::reason::Reason::*;
use super::reason::{Fault, Reason};
use super::smtp::SmtpCommand;

/// The words for a mailbox that does not exist, used by two rules: after the message content they are a filter's.
const USER_UNKNOWN: &str = r"user (is )?unknown|unknown (user|recipient|mailbox|address|local[- ]?part|alias)|no such (user|mailbox|recipient|address|account|person|local user)|(user|mailbox|recipient|address|account|addressee|e-?mail address|local part)( name)? (does not|doesn't|did not|do not|no longer) exists?|(user|mailbox|recipient|account|address)( name)? (was |is )?(not found|not known|invalid|not valid|unavailable|not available|not exist|nonexistent|non-existent)|email account that you tried to reach does not exist|this user doesn't have a [^ ]+ account|not a valid (recipient|user|mailbox|address)|recipient ?not ?found|recipientnotfound|invalid (recipient|mailbox|user|address)|user not found|mailbox not found|no mailbox (here )?by that name|addressee unknown|unknown or illegal alias|recipient (address )?rejected: (user unknown|undeliverable|invalid|unknown|not found|no such)|undeliverable address|no longer (valid|available|active|in use)|does not have an? (account|mailbox)|address lookup failed|not listed in (the )?(domino directory|address book|public name)|account (does not|doesn't) exist|user doesn't exist|mailbox unavailable|invalid address|bad destination mailbox|unknown local part|not our customer|no valid recipients?|resolver\.adr\.";

/// One row of the built-in table: id, reply code, enhanced code, SMTP command, text, reason, fault override,
/// description.
type Row = (&'static str, &'static str, &'static str, &'static str, &'static str, Reason, Option<Fault>, &'static str);

const ROWS: &[Row] = &[
    // Delivery first: a 2xx reply is a delivery whatever it says.
    ("reply.2xx", "2xx", "", "", "", Delivered, None, "2xx reply: the server accepted the message"),
    // Not bounces.
    (
        "text.vacation",
        "",
        "",
        "",
        r"\b(out of (the )?office|auto(matic)?[- ]?reply|on vacation|away from (the )?office)\b",
        Vacation,
        None,
        "an auto-reply",
    ),
    (
        "text.feedback",
        "",
        "",
        "",
        r"abuse report|feedback[- ]loop|authentication[- ]failure report",
        Feedback,
        None,
        "a complaint or feedback report",
    ),
    // Expiry: the message was given up on after deferrals; the last error it quotes is not the reason.
    (
        "text.expired",
        "",
        "",
        "",
        r"(in|on) the queue too long|queue too long|not (been )?delivered within \d+|envelope expired|message timed out|timeout waiting for|delivery expired|retry timeout exceeded|message expired|delivery time expired|(expired|too long) in (the )?queue|queue lifetime|exceeds max_age|could not be delivered (with)?in \d+|unable to deliver in \d+ (days|hours)|has not been delivered for|retry time not reached for any host after a long failure period",
        Expired,
        None,
        "the message expired in the queue",
    ),
    // The domain does not exist.
    (
        "text.provider-userunknown",
        "",
        "",
        "",
        r"email account that you tried to reach does not exist|this user doesn't have a [^ ]+ account|\bdd not a valid recipient|recipientnotfound|resolver\.adr\.|recipient address rejected: access denied|not listed in (the )?(domino directory|public name)|invalid (final delivery )?userid|ディレクトリのリストにありません",
        UserUnknown,
        None,
        "a provider's own words for a mailbox that does not exist (Gmail, Yahoo, AOL, Microsoft, Domino)",
    ),
    (
        "text.hostunknown",
        "",
        "",
        "",
        r"host or domain name not found|domain (name )?not found|no such domain|domain does not exist|nxdomain|unrouteable (mail )?(address|domain)|unroutable address|name service error for name=.* type=(mx|a|aaaa): host not found|no mx (record|host)s? (found )?for|host unknown|unknown host|domain (is )?(not )?(found|known|valid)\b.*(not|invalid)|bad destination system",
        HostUnknown,
        None,
        "the recipient's domain does not exist",
    ),
    (
        "text.notaccept",
        "5xx",
        "",
        "",
        r"null mx|does not accept (e-?mail|mail)|accepts no mail|no mail service|not accepting mail",
        NotAccept,
        None,
        "the domain accepts no mail (null MX)",
    ),
    // Sender-side refusals that mention a "user" or an "address" must come before userunknown.
    (
        "text.sender-unknown",
        "",
        "",
        "MAIL FROM",
        r"does not exist|unknown|not found|no such|invalid",
        Rejected,
        None,
        "an address or domain refused in reply to MAIL FROM: the sender",
    ),
    (
        "text.sender-rejected",
        "",
        "",
        "",
        r"sender address rejected|sender (domain|address) (not found|unknown|must exist|does not exist|is invalid)|domain of sender address .* does not (exist|resolve)|sender verify failed|sender verification failed|unverified sender|mail from .* (rejected|refused)|invalid sender|bad sender|envelope sender|sender (is )?not (allowed|authorized|permitted)",
        Rejected,
        None,
        "the envelope sender was refused",
    ),
    (
        "text.norelaying",
        "",
        "",
        "",
        r"not configured to relay|insecure mail relay|relay(ing)? (access )?(denied|not (permitted|allowed))|not permitted to relay|unable to relay|we do not relay|relaying (is )?(denied|prohibited|not allowed)|not a gateway|not local host .* not a gateway|no relaying|open relay",
        NoRelaying,
        None,
        "the server does not relay for the sender",
    ),
    // Mailbox full: before "inactive" (Gmail: "out of storage space and inactive") and before userunknown.
    (
        "text.mailboxfull",
        "",
        "",
        "",
        r"not enough (disk )?space|mail ?folder is full|number of messages .* exceeded|mailbox .* exceeded the local limit|mailbox (is )?full|mail ?box full|over ?quota|quota (exceeded|exceed|full)|exceeded (the )?(storage|quota)|exceeds? (his|her|their|the|its)? ?(storage|quota|mailbox size)|storage (allocation|space|quota|limit) (exceeded|full)|out of storage space|inbox is full|mailbox (size )?limit|full mailbox|insufficient (storage|space) in (the )?mailbox|mailbox has exceeded|user(')?s? (mailbox|quota) (is )?(full|exceeded)|disk quota|mailbox (is )?over|not enough (storage|space) in (the )?mailbox|(is|has) (reached|exceeded) (its|his|her|their) (storage|quota|limit)",
        MailboxFull,
        None,
        "the mailbox is full or over quota",
    ),
    // Rate limits: before spam ("unusual rate of unsolicited mail").
    (
        "text.badreputation",
        "",
        "",
        "",
        r"reputation|poor sending|sender score|bad (sender|sending) (ip|history)|low (trust|score)",
        BadReputation,
        None,
        "the sender's reputation is too low",
    ),
    (
        "text.recipient-rate",
        "",
        "",
        "",
        r"receiving mail at a rate|receiving too much mail|mailbox .*receiving too many",
        RateLimited,
        Some(Fault::Recipient),
        "the recipient receives mail too fast",
    ),
    (
        "text.ratelimited",
        "",
        "",
        "",
        r"rate limit|rate-limit|ratelimit|too many (connections|messages|recipients|concurrent|sessions|mails|emails)|unusual rate|temporarily deferred due to|\[tss0[14]\]|throttl|try again later.*too many|exceeded .*(rate|connection limit|message limit)|sending (rate|too fast)|too fast|connection limit|(messages|mails) per (hour|minute|second|day)",
        RateLimited,
        None,
        "too many messages or connections",
    ),
    // Authentication, reverse DNS and reputation.
    (
        "text.authfailure",
        "",
        "",
        "",
        r"\bspf\b|\bdkim\b|\bdmarc\b|sender policy framework|domainkeys|unauthenticated (email|mail|sender)|not authenticated|authentication (required|failed|failure)|fails? (to pass )?authentication|sender is unauthenticated|does not (pass|meet) .*authentication",
        AuthFailure,
        None,
        "SPF, DKIM or DMARC failed",
    ),
    (
        "text.requireptr",
        "",
        "",
        "",
        r"reverse (dns|lookup|hostname|mapping)|\bptr\b|\brdns\b|cannot find your (reverse )?hostname|no (reverse|ptr)|client host rejected: cannot find|hostname (does not|doesn't) (match|resolve)|fcrdns|dns (hostname|name) (mismatch|lookup failed)|unresolvable (ip|address|hostname)",
        RequirePtr,
        None,
        "the sending IP has no valid reverse DNS",
    ),
    (
        "text.spam-url",
        "",
        "",
        "",
        r"blacklisted (url|link)|uribl|surbl|spam ?(url|link)|ofr_506",
        SpamDetected,
        None,
        "a link or the content is on a spam list",
    ),
    (
        "text.blocked",
        "",
        "",
        "",
        r"\b(listed|blacklisted|blocklisted) (at|in|on|by) [^ ]*(bl|spam|rbl|list|dns|abuse)|smtp server of your isp|use your (isp|provider)'?s? (smtp|relay|mail server)|dynamic (ip|address|host|pool)|dial-?up|residential|unverif(y|i)able sending ip|blocked using|block ?list|black ?list|blacklisted|blocklisted|spamhaus|spamcop|barracuda(central)?|sorbs|\brbl\b|dnsbl|\bpbl\b|\bsbl\b|\bxbl\b|client host .*(blocked|rejected)|(your|the|sender|sending|client) (ip|host|server|network)( address)? .*(is |has been )?(blocked|banned|rejected|refused|denied|not allowed)|(ip|host) (address )?(is )?(blocked|banned)|connection (refused|rejected|denied) (by|from|due)|access denied|service unavailable; client host|not allowed to send|banned|mail from your (ip|server|network) .* (blocked|rejected)",
        Blocked,
        None,
        "the sending IP or host is blocked",
    ),
    // Content.
    (
        "text.virus",
        "",
        "",
        "",
        r"virus|malware|infected|trojan|worm|malicious (content|attachment)",
        VirusDetected,
        None,
        "the message carries a virus or malware",
    ),
    (
        "text.spam",
        "",
        "",
        "",
        r"spam|unsolicited|junk mail|bulk mail|(message|content) (looks|appears|was identified|is classified|was classified|considered) .*(spam|junk)|scored too high|high spam score",
        SpamDetected,
        None,
        "the content was judged to be spam",
    ),
    (
        "text.emailtoolarge",
        "",
        "",
        "",
        r"line limit exceeded|message (size )?(too (big|large)|exceeds|is larger)|too (big|large) (message|for)|message size|size (limit|exceeds)|exceeds (the )?(maximum )?(message )?size|mail size|message length exceeds|maximum (allowed )?(message )?size",
        EmailTooLarge,
        None,
        "the message is too large",
    ),
    (
        "text.policy",
        "",
        "",
        "",
        r"multiple addresses in from|multiple (subject|from|to|date|message-id) headers|policy (reasons|restrictions|violation|rejection)|not accepted for policy|violat(es|ed|ion)|against (our|the) policy|(prohibited|banned) (content|attachment|file)|content (rejected|not accepted)|message (rejected|refused) .*policy|local policy|restricted by policy",
        PolicyViolation,
        None,
        "the message breaks a policy of the receiving site",
    ),
    (
        "text.filtered",
        "",
        "",
        "",
        r"recipients? (was|were) rejected by (a|the) remote|filtered|content filter|rejected by (the )?(recipient|user|mailbox) (filter|rules?)|recipient (has )?(rejected|refused|blocked) (your|the|this) (message|mail|sender)|does not accept mail from|refuses? (to accept )?mail from you",
        Filtered,
        None,
        "a filter of the recipient refused the message",
    ),
    (
        "text.starttls",
        "",
        "",
        "",
        r"starttls|must issue a starttls|tls (required|is required|negotiation failed|handshake)|encryption required|must use tls",
        FailedStartTls,
        None,
        "STARTTLS was required or failed",
    ),
    (
        "text.securityerror",
        "",
        "",
        "",
        r"security (policy|error|reasons)|insecure|not secure|certificate",
        SecurityError,
        None,
        "a security requirement was not met",
    ),
    (
        "text.notcompliantrfc",
        "",
        "",
        "",
        r"rfc ?(5322|2822|822|5321|6854|2045)|not (rfc|standards?)[- ]compliant|non[- ]?compliant|duplicate (header|message-id)|missing (header|date|from|message-id)|invalid (header|message-id|date header|from header)|header (is )?(malformed|invalid)|malformed (header|message)|bare (lf|linefeed|<lf>)|line too long|8-?bit (data|characters) not allowed",
        NotCompliantRfc,
        None,
        "the message does not comply with the RFCs",
    ),
    (
        "text.suppressed",
        "",
        "",
        "",
        r"suppress(ed|ion) list|on (our|the) suppression|address (is )?suppressed|previously (hard )?bounced|do not send list",
        Suppressed,
        None,
        "the address is on a suppression list",
    ),
    // The mailbox does not exist.
    (
        "text.userunknown-after-data",
        "",
        "",
        "end of DATA",
        USER_UNKNOWN,
        Filtered,
        None,
        "a mailbox 'unknown' only after the content was sent: a content filter",
    ),
    ("text.userunknown", "", "", "", USER_UNKNOWN, UserUnknown, None, "the mailbox does not exist"),
    (
        "text.hasmoved",
        "",
        "",
        "",
        r"has (been )?moved|address (has )?changed|no longer (at|with) |forwarding address|moved (to|permanently)",
        HasMoved,
        None,
        "the mailbox has moved",
    ),
    (
        "text.suspend",
        "",
        "",
        "",
        r"(account|mailbox|user|address|recipient)( has been| is|'s)? (temporarily |permanently )?(disabled|suspended|deactivated|inactive|frozen|locked|expired|closed|blocked|on hold|not active)|(disabled|suspended|inactive|deactivated) (account|mailbox|user)|mailbox temporarily disabled|account (is )?(unavailable|not available)",
        Suspend,
        None,
        "the mailbox is disabled or suspended",
    ),
    (
        "text.systemfull",
        "",
        "",
        "",
        r"insufficient system (storage|resources)|system (storage|disk) (full|exceeded)|out of (disk|storage)|no space left|disk (is )?full|file ?system full",
        SystemFull,
        None,
        "the receiving system has no storage left",
    ),
    (
        "text.networkerror",
        "",
        "",
        "",
        r"connection (timed out|refused|reset|closed|lost|dropped)|timed out|timeout|network (is )?unreachable|no route to host|lost connection|failed to connect|could not connect|unable to connect|connect to .* (failed|timed out)|name service error|temporary failure in name resolution|dns (error|failure|lookup)|host not found, try again|no answer from host|conversation with .* timed out|tls (connection|session) .* (failed|lost)|broken pipe|servfail|mail loops? back to myself|loops back to myself|mail loop|too many hops|routing loop",
        NetworkError,
        None,
        "a DNS or connection failure",
    ),
    (
        "text.mailererror",
        "",
        "",
        "",
        r"operating system error|mailer error|local delivery failed|command (died|failed|output)|pipe to |exit (code|status)|procmail|maildrop|delivery to (a )?program failed|unknown mailer error|transport (failed|error)",
        MailerError,
        None,
        "a local mailer program failed",
    ),
    (
        "text.greylisting",
        "4xx",
        "",
        "",
        r"greylist|grey-list|graylist|gray-list|try again in \d+|deferred for \d+",
        OnHold,
        None,
        "greylisting: a first delivery try deferred on purpose",
    ),
    (
        "text.systemerror",
        "",
        "",
        "",
        r"system error|internal (server )?error|local error|temporary (local )?(problem|error|failure)|server (is )?(busy|too busy)|server error|service (is )?(temporarily )?(not available|unavailable)|resources temporarily unavailable|try again later|please try again|temporarily unavailable|closing (transmission )?channel|too busy",
        SystemError,
        None,
        "the receiving system failed or is busy",
    ),
    (
        "text.syntaxerror",
        "",
        "",
        "",
        r"malformed address|syntax error|command (not recognized|unrecognized|not implemented)|bad sequence of commands|unrecognized command|invalid command|protocol (error|violation)|bad command|parameter (not implemented|unrecognized)",
        SyntaxError,
        None,
        "an SMTP command was malformed",
    ),
    (
        "text.userunknown-pipelined",
        "",
        "",
        "end of DATA",
        r"\b503\b.*(need rcpt|no recipients|no valid recipients|bad sequence|rcpt command|start afresh)",
        UserUnknown,
        None,
        "a pipelined RCPT TO refused (user unknown) and the DATA that followed answered 503",
    ),
    (
        "text.rejected-generic",
        "5xx",
        "",
        "",
        r"refused|rejected|denied|not allowed|not permitted|not authorized|unauthorized",
        Blocked,
        None,
        "a refusal without a stated cause",
    ),
    // RFC 3463 enhanced status codes (and the IANA registry), by subject and detail.
    ("enh.x.1.1", "", "x.1.1", "", "", UserUnknown, None, "x.1.1 bad destination mailbox address"),
    ("enh.x.1.2", "", "x.1.2", "", "", HostUnknown, None, "x.1.2 bad destination system address"),
    ("enh.x.1.3", "", "x.1.3", "", "", UserUnknown, None, "x.1.3 bad destination mailbox address syntax"),
    ("enh.x.1.4", "", "x.1.4", "", "", UserUnknown, None, "x.1.4 destination mailbox address ambiguous"),
    ("enh.x.1.6", "", "x.1.6", "", "", HasMoved, None, "x.1.6 destination mailbox has moved, no forwarding address"),
    ("enh.x.1.7", "", "x.1.7", "", "", Rejected, None, "x.1.7 bad sender's mailbox address syntax"),
    ("enh.x.1.8", "", "x.1.8", "", "", Rejected, None, "x.1.8 bad sender's system address"),
    ("enh.x.1.10", "", "x.1.10", "", "", NotAccept, None, "x.1.10 recipient address has null MX"),
    ("enh.x.2.1", "", "x.2.1", "", "", Suspend, None, "x.2.1 mailbox disabled, not accepting messages"),
    ("enh.x.2.2", "", "x.2.2", "", "", MailboxFull, None, "x.2.2 mailbox full"),
    ("enh.x.2.3", "", "x.2.3", "", "", EmailTooLarge, None, "x.2.3 message length exceeds administrative limit"),
    ("enh.x.2.4", "", "x.2.4", "", "", MailerError, None, "x.2.4 mailing list expansion problem"),
    ("enh.x.3.1", "", "x.3.1", "", "", SystemFull, None, "x.3.1 mail system full"),
    ("enh.x.3.2", "", "x.3.2", "", "", SystemError, None, "x.3.2 system not accepting network messages"),
    ("enh.x.3.4", "", "x.3.4", "", "", EmailTooLarge, None, "x.3.4 message too big for system"),
    ("enh.x.3", "", "x.3.*", "", "", SystemError, None, "x.3.* mail system status"),
    ("enh.5.4.4", "", "5.4.4", "", "", HostUnknown, None, "5.4.4 unable to route (permanent)"),
    ("enh.x.4.7", "", "x.4.7", "", "", Expired, None, "x.4.7 delivery time expired"),
    ("enh.x.4", "", "x.4.*", "", "", NetworkError, None, "x.4.* network and routing status"),
    ("enh.x.5.3", "", "x.5.3", "", "", RateLimited, None, "x.5.3 too many recipients"),
    ("enh.x.5", "", "x.5.*", "", "", SyntaxError, None, "x.5.* mail delivery protocol status"),
    ("enh.x.6", "", "x.6.*", "", "", ContentError, None, "x.6.* message content or media status"),
    ("enh.x.7.1", "", "x.7.1", "", "", Blocked, None, "x.7.1 delivery not authorized, message refused"),
    ("enh.x.7.7", "", "x.7.7", "", "", ContentError, None, "x.7.7 message integrity failure"),
    ("enh.x.7.13", "", "x.7.13", "", "", Suspend, None, "x.7.13 user account disabled"),
    ("enh.x.7.17", "", "x.7.17", "", "", HasMoved, None, "x.7.17 mailbox owner has changed"),
    ("enh.x.7.18", "", "x.7.18", "", "", HasMoved, None, "x.7.18 domain owner has changed"),
    (
        "enh.x.7.2x",
        "",
        "x.7.2x",
        "",
        "",
        AuthFailure,
        None,
        "x.7.20 to x.7.26 authentication (DKIM, SPF, DMARC) failures",
    ),
    ("enh.x.7.27", "", "x.7.27", "", "", Rejected, None, "x.7.27 sender address has null MX"),
    ("enh.x.7", "", "x.7.*", "", "", SecurityError, None, "x.7.* security or policy status"),
    // Bare reply codes (RFC 5321).
    ("reply.421", "421", "", "", "", SystemError, None, "421 service not available"),
    ("reply.450", "450", "", "", "", OnHold, None, "450 mailbox unavailable (temporary)"),
    ("reply.451", "451", "", "", "", SystemError, None, "451 local error in processing"),
    ("reply.452", "452", "", "", "", SystemFull, None, "452 insufficient system storage"),
    ("reply.550", "550", "", "", "", OnHold, None, "550 mailbox unavailable or refused: the code decides"),
    ("reply.551", "551", "", "", "", HasMoved, None, "551 user not local"),
    ("reply.552", "552", "", "", "", MailboxFull, None, "552 exceeded storage allocation"),
    ("reply.553", "553", "", "", "", UserUnknown, None, "553 mailbox name not allowed"),
    ("reply.5xx-syntax", "50x", "", "", "", SyntaxError, None, "500 to 504 command or parameter errors"),
];

/// The built-in rules, in order.
pub fn builtin() -> Vec<Rule> {
    ROWS.iter()
        .map(|&(id, reply, enhanced, command, text, reason, fault, description)| Rule {
            id: id.into(),
            description: description.into(),
            reply: (!reply.is_empty()).then(|| CodeGlob::new(reply).expect("valid built-in code")),
            enhanced: (!enhanced.is_empty()).then(|| EnhancedGlob::new(enhanced).expect("valid built-in code")),
            command: SmtpCommand::from_words(command),
            text: (!text.is_empty()).then(|| text.to_string()),
            reason,
            fault,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::classify::Classifier;
    use super::super::reason::Class;
    use super::super::smtp::Reply;

    /// Real responses of the large providers and of the common MTAs, as logs show them, with the class and reason
    /// they must get.
    const CASES: &[(&str, &str, &str)] = &[
        // Gmail
        (
            "host gmail-smtp-in.l.google.com[142.250.102.26] said: 550-5.1.1 The email account that you tried to reach does not exist. Please try 550-5.1.1 double-checking the recipient's email address for typos or 550-5.1.1 unnecessary spaces. For more information, go to 550 5.1.1  https://support.google.com/mail/?p=NoSuchUser x - gsmtp (in reply to RCPT TO command)",
            "hard",
            "userunknown",
        ),
        (
            "552-5.2.2 The recipient's inbox is out of storage space and inactive. Please direct 552-5.2.2 the recipient to 552 5.2.2  https://support.google.com/mail/?p=OverQuotaPerm x - gsmtp",
            "soft",
            "mailboxfull",
        ),
        (
            "452-4.2.2 The recipient's inbox is out of storage space. Please direct the 452 4.2.2 recipient to https://support.google.com/mail/?p=OverQuotaTemp x - gsmtp",
            "soft",
            "mailboxfull",
        ),
        (
            "550-5.7.1 [203.0.113.10] Gmail has detected that this message is likely unsolicited mail. To reduce 550-5.7.1 the amount of spam sent to Gmail, this message has been blocked. x - gsmtp (in reply to end of DATA command)",
            "soft",
            "spamdetected",
        ),
        (
            "421-4.7.28 [203.0.113.10      15] Our system has detected an unusual rate of 421-4.7.28 unsolicited mail originating from your IP address. x - gsmtp",
            "soft",
            "ratelimited",
        ),
        (
            "550-5.7.26 Unauthenticated email from example.com is not accepted due to domain's 550-5.7.26 DMARC policy. x - gsmtp",
            "soft",
            "authfailure",
        ),
        ("250 2.0.0 OK  1763629201 3bda028ef385-3767708ae4d03bdsi8336840.174 - gsmtp", "delivered", "delivered"),
        // Yahoo and AOL
        (
            "host mta5.am0.yahoodns.net[67.195.204.72] said: 554 delivery error: dd This user doesn't have a yahoo.com account (ryan@yahoo.com) [0] - mta1047.mail.sg3.yahoo.com (in reply to end of DATA command)",
            "hard",
            "userunknown",
        ),
        (
            "554 delivery error: dd Not a valid recipient - atlas1234.aol.mail.bf1.yahoo.com (in reply to end of DATA command)",
            "hard",
            "userunknown",
        ),
        (
            "421 4.7.0 [TSS04] Messages from 203.0.113.10 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
            "soft",
            "ratelimited",
        ),
        (
            "554 5.7.9 Message not accepted for policy reasons.  See https://postmaster.yahooinc.com/error-codes",
            "soft",
            "policyviolation",
        ),
        ("452 4.2.2 Mailbox over quota, try again later", "soft", "mailboxfull"),
        // Microsoft
        (
            "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [BN1NAM02FT002.eop-nam02.prod.protection.outlook.com]",
            "hard",
            "userunknown",
        ),
        (
            "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient a@contoso.com not found by SMTP address lookup",
            "hard",
            "userunknown",
        ),
        (
            "550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [DB5EUR03FT012.eop-EUR03.prod.protection.outlook.com]",
            "hard",
            "userunknown",
        ),
        (
            "550 5.7.1 Unfortunately, messages from [203.0.113.10] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150).",
            "soft",
            "blocked",
        ),
        (
            "451 4.7.650 The mail server [203.0.113.10] has been temporarily rate limited due to IP reputation. For e-mail delivery information, see https://postmaster.live.com (S775)",
            "soft",
            "badreputation",
        ),
        ("552 5.2.2 Mailbox full (S2017062302).", "soft", "mailboxfull"),
        // Apple iCloud
        ("550 5.1.1 <a@icloud.com>: user does not exist", "hard", "userunknown"),
        (
            "554 5.7.1 Service unavailable; Client host [203.0.113.10] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/203.0.113.10",
            "soft",
            "blocked",
        ),
        // GMX and Web.de
        ("550 Requested action not taken: mailbox unavailable", "hard", "userunknown"),
        ("552 Requested mail action aborted: exceeded storage allocation", "soft", "mailboxfull"),
        (
            "554-Transaction failed 554-Reject due to policy restrictions. 554 For explanation visit https://postmaster.gmx.net/en/case?c=hi",
            "soft",
            "policyviolation",
        ),
        ("421 Service not available, too many messages from 203.0.113.10, try again later", "soft", "ratelimited"),
        // Postfix, Exim and Sendmail local rejects
        (
            "550 5.1.1 <a@example.org>: Recipient address rejected: User unknown in virtual mailbox table",
            "hard",
            "userunknown",
        ),
        (
            "550 5.1.1 <a@example.org>: Recipient address rejected: User unknown in local recipient table",
            "hard",
            "userunknown",
        ),
        (
            "Host or domain name not found. Name service error for name=gmial.com type=MX: Host not found",
            "hard",
            "hostunknown",
        ),
        (
            "450 4.2.0 <a@example.org>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.org.html",
            "soft",
            "onhold",
        ),
        ("554 5.7.1 <a@example.org>: Relay access denied", "soft", "norelaying"),
        ("450 4.7.1 Client host rejected: cannot find your hostname, [203.0.113.10]", "soft", "requireptr"),
        ("connect to mx.example.org[192.0.2.1]:25: Connection timed out", "soft", "networkerror"),
        (
            "SMTP error from remote mail server after RCPT TO:<a@example.org>: 550 No such user here",
            "hard",
            "userunknown",
        ),
        ("retry timeout exceeded", "soft", "expired"),
        ("550 5.1.1 <a@example.org>... User unknown", "hard", "userunknown"),
        ("552 5.2.3 Message size exceeds maximum value", "soft", "emailtoolarge"),
        // The platform's sending log
        (
            "FAILED 421 4.4.7 Message expired: unable to deliver in 5 days (last error: 452 4.2.2 Mailbox over quota, try again later)",
            "soft",
            "expired",
        ),
        (
            "FAILED 550 5.4.4 Host or domain name not found. Name service error for name=gmial.com type=MX: Host not found",
            "hard",
            "hostunknown",
        ),
        ("250 ok", "delivered", "delivered"),
    ];

    #[test]
    fn real_responses() {
        let c = Classifier::builtin();
        for (text, class, reason) in CASES {
            let v = c.classify(&Reply::parse(text));
            assert_eq!((v.class.as_str(), v.reason.as_str()), (*class, *reason), "{text} (rule {})", c.rule(&v).id);
        }
        assert!(CASES.iter().any(|(_, c, _)| *c == Class::Hard.as_str()));
    }
}
