//! The real responses the built-in rules must get right, with the class and reason a deliverability engineer
//! expects of each.
//!
//! The rules themselves are data, in `rules.toml` beside this file (see [`super::rule_file`]); each rule's own
//! examples check that the rule decides them, and these tables check what the whole list makes of the responses of
//! the large providers and the common MTAs, and of each enhanced and reply code on its own.

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
            "badreputation",
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
        // Enhanced codes of the IANA registry, with the providers' and MTAs' words
        (
            "550-5.7.25 The IP address sending this message does not have a PTR record setup, or the 550-5.7.25 corresponding forward DNS entry does not point to the sending IP. x - gsmtp",
            "soft",
            "requireptr",
        ),
        ("550 5.2.1 The email account that you tried to reach is disabled. x - gsmtp", "soft", "suspend"),
        (
            "550 5.7.27 <news@example.net>: Sender address rejected: Domain example.net does not accept mail (nullMX)",
            "soft",
            "rejected",
        ),
        ("Domain example.org does not accept mail (nullMX)", "hard", "notaccept"),
        ("556 5.1.10 <a@example.org>: Recipient address has null MX", "hard", "notaccept"),
        (
            "421-4.7.29 Your email has been rate limited because this message wasn't sent over a TLS 421-4.7.29 connection. x - gsmtp",
            "soft",
            "failedstarttls",
        ),
        ("535 5.7.8 Error: authentication failed: authentication failure", "soft", "securityerror"),
        // Sendmail: the pipelined RCPT TO was refused, so DATA got a 503; a user unknown text after DATA is otherwise
        // a filter's.
        (
            "host mx.example.org[192.0.2.1] said: 550 5.1.1 <a@example.org>... User unknown 503 5.0.0 Need RCPT (recipient) (in reply to end of DATA command)",
            "hard",
            "userunknown",
        ),
        (
            "host mx.example.org[192.0.2.1] said: 550 5.1.1 <a@example.org>... User unknown (in reply to end of DATA command)",
            "soft",
            "filtered",
        ),
        ("5.0.0 550 : User unknown", "hard", "userunknown"),
        // qmail: the give-up text names the cause, or not
        (
            "192.0.2.1 does not like recipient. Remote host said: 450 4.2.2 <a@example.jp>... Mailbox Full Giving up on 192.0.2.1. I'm not going to try again; this message has been in the queue too long.",
            "soft",
            "mailboxfull",
        ),
        (
            "Sorry, I wasn't able to establish an SMTP connection. (#4.4.1) I'm not going to try again; this message has been in the queue too long.",
            "soft",
            "networkerror",
        ),
        ("I'm not going to try again; this message has been in the queue too long.", "soft", "expired"),
    ];

    /// Every enhanced code the table names, alone (no text): the code's own rule decides.
    const CODES: &[(&str, &str, &str)] = &[
        ("550 5.1.1", "enh.x.1.1", "userunknown"),
        ("550 5.1.2", "enh.x.1.2", "hostunknown"),
        ("550 5.1.3", "enh.x.1.3", "userunknown"),
        ("550 5.1.4", "enh.x.1.4", "userunknown"),
        ("550 5.1.6", "enh.x.1.6", "hasmoved"),
        ("550 5.1.7", "enh.x.1.7", "rejected"),
        ("550 5.1.8", "enh.x.1.8", "rejected"),
        ("556 5.1.10", "enh.x.1.10", "notaccept"),
        ("550 5.2.1", "enh.x.2.1", "suspend"),
        ("552 5.2.2", "enh.x.2.2", "mailboxfull"),
        ("552 5.2.3", "enh.x.2.3", "emailtoolarge"),
        ("550 5.2.4", "enh.x.2.4", "mailererror"),
        ("452 4.3.1", "enh.x.3.1", "systemfull"),
        ("421 4.3.2", "enh.x.3.2", "systemerror"),
        ("552 5.3.4", "enh.x.3.4", "emailtoolarge"),
        ("451 4.3.5", "enh.x.3", "systemerror"),
        ("550 5.4.4", "enh.5.4.4", "hostunknown"),
        ("451 4.4.5", "enh.x.4.5", "systemfull"),
        ("451 4.4.1", "enh.x.4", "networkerror"),
        ("554 5.4.6", "enh.x.4", "networkerror"),
        ("421 4.4.7", "enh.x.4.7", "expired"),
        ("452 4.5.3", "enh.x.5.3", "ratelimited"),
        ("501 5.5.2", "enh.x.5", "syntaxerror"),
        ("554 5.6.0", "enh.x.6", "contenterror"),
        ("550 5.7.1", "enh.x.7.1", "blocked"),
        ("550 5.7.7", "enh.x.7.7", "contenterror"),
        ("535 5.7.8", "enh.x.7", "securityerror"),
        ("530 5.7.10", "enh.x.7.10", "failedstarttls"),
        ("538 5.7.11", "enh.x.7.11", "failedstarttls"),
        ("550 5.7.13", "enh.x.7.13", "suspend"),
        ("552 5.7.16", "enh.x.7.16", "emailtoolarge"),
        ("550 5.7.17", "enh.x.7.17", "hasmoved"),
        ("550 5.7.18", "enh.x.7.18", "hasmoved"),
        ("550 5.7.20", "enh.x.7.2x", "authfailure"),
        ("550 5.7.21", "enh.x.7.2x", "authfailure"),
        ("550 5.7.22", "enh.x.7.2x", "authfailure"),
        ("550 5.7.23", "enh.x.7.2x", "authfailure"),
        ("451 4.7.24", "enh.x.7.2x", "authfailure"),
        ("550 5.7.25", "enh.x.7.25", "requireptr"),
        ("550 5.7.26", "enh.x.7.2x", "authfailure"),
        ("550 5.7.27", "enh.x.7.27", "rejected"),
        ("421 4.7.28", "enh.x.7.28", "ratelimited"),
        ("550 5.7.29", "enh.x.7.2x", "authfailure"),
        ("550 5.7.30", "enh.x.7.30", "failedstarttls"),
        ("550 5.7.0", "enh.x.7", "securityerror"),
        ("521", "reply.521", "notaccept"),
        ("556", "reply.556", "notaccept"),
        ("530 please", "reply.530", "securityerror"),
        ("538 please", "reply.538", "failedstarttls"),
        ("555 please", "reply.555", "syntaxerror"),
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

    #[test]
    fn enhanced_and_reply_codes_alone() {
        let c = Classifier::builtin();
        for (text, rule, reason) in CODES {
            let v = c.classify(&Reply::parse(text));
            assert_eq!((c.rule(&v).id.as_str(), v.reason.as_str()), (*rule, *reason), "{text}");
        }
    }
}
