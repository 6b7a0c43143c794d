//! The real responses the built-in rules must get right, with the class and reason a deliverability engineer
//! expects of each.
//!
//! The rules themselves are data, in `rules.toml` beside this file (see [`super::rule_file`]); each rule's own
//! examples check that the rule decides them, and this table checks what the whole list makes of the responses of
//! the large providers and the common MTAs.

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
