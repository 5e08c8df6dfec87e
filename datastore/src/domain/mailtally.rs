//! Tallying a vote thread from the mailing list (CHECKS.md V3). Only a vote at the start of a
//! line of the sender's own text counts: `+1`, `0`, `-1` (also `+0`, `-0`, `+1 (binding)`).
//! Quoted lines (`>`), everything under an attribution ("On … wrote:", an "Original Message"
//! separator) or a signature separator (`-- `), and the announcement itself never count; a
//! later mail of the same sender replaces the earlier vote. Mails are parsed with `mailparse`
//! (MIME parts, quoted-printable, base64, encoded words); the thread comes as an mbox.

use mailparse::{MailHeaderMap, ParsedMail};

/// The longest thread read, in bytes (a vote thread of a few hundred mails is far smaller).
pub const MAX_THREAD_BYTES: usize = 16 << 20;
/// The most mails read from one thread.
pub const MAX_MAILS: usize = 5_000;

/// The longest message id and vote line kept, in characters (longer ones are cut, with `…`).
const MAX_FIELD: usize = 500;

/// `value` without control characters, at most [`MAX_FIELD`] characters.
fn clean(value: &str) -> String {
    let kept: String = value.chars().filter(|c| !c.is_control()).collect();
    if kept.chars().count() <= MAX_FIELD {
        return kept;
    }
    let mut cut: String = kept.chars().take(MAX_FIELD - 1).collect();
    cut.push('…');
    cut
}

/// One mail of the thread that holds a vote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailVote {
    pub message_id: String,
    /// The sender's address, in lower case.
    pub sender: String,
    pub value: i32,
    /// The line the vote was read from, as written.
    pub line: String,
}

/// A mail that did not count, and why (for the release manager to check the tally).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub message_id: String,
    pub sender: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Thread {
    /// Every mail with a vote, in thread order (a sender's later vote replaces the earlier
    /// when ballots are counted).
    pub votes: Vec<MailVote>,
    pub skipped: Vec<Skipped>,
}

/// Whether a line is an mbox envelope line, `From sender Mon Dec  1 10:00:00 2026`: a body
/// line that starts with "From " (unescaped by some archives) has no time of day in it.
fn is_envelope(line: &[u8]) -> bool {
    line.starts_with(b"From ")
        && line.split(u8::is_ascii_whitespace).any(|b| {
            b.len() >= 5 && b[0].is_ascii_digit() && b[1].is_ascii_digit() && b[2] == b':' && b[3].is_ascii_digit()
        })
}

/// Splits an mbox into its mails (bytes: a mail's charset is its own business): each starts
/// with an envelope line at the start of the file or after an empty line.
fn split_mbox(mbox: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut previous_blank = true;
    let mut offset = 0;
    for line in mbox.split_inclusive(|b| *b == b'\n') {
        if previous_blank && is_envelope(line) {
            starts.push(offset);
        }
        previous_blank = line.iter().all(|b| *b == b'\r' || *b == b'\n');
        offset += line.len();
    }
    if starts.is_empty() && !mbox.trim_ascii().is_empty() {
        return vec![mbox]; // one mail without an envelope line
    }
    starts
        .iter()
        .enumerate()
        .map(|(i, &start)| &mbox[start..starts.get(i + 1).copied().unwrap_or(mbox.len())])
        .collect()
}

/// The text a person wrote: the first `text/plain` part, decoded.
fn plain_text(mail: &ParsedMail<'_>) -> Option<String> {
    if mail.subparts.is_empty() {
        let plain = mail.ctype.mimetype.eq_ignore_ascii_case("text/plain");
        return plain.then(|| mail.get_body().ok()).flatten();
    }
    mail.subparts.iter().find_map(plain_text)
}

/// Whether a line introduces quoted text: "On Mon, 1 Dec 2026, Ann wrote:", "Ann wrote:",
/// "-----Original Message-----".
fn is_attribution(line: &str) -> bool {
    let line = line.trim();
    let lower = line.to_ascii_lowercase();
    lower.ends_with("wrote:")
        || lower.ends_with("writes:")
        || (lower.starts_with("-----") && lower.contains("original message"))
}

/// The vote a line starts with, if any: a sign and a 1 or 0, or a bare 0, followed by the end
/// of the line, white space, or punctuation that ends a word.
fn vote_of(line: &str) -> Option<i32> {
    let line = line.trim_start();
    let (value, rest) = if let Some(rest) = line.strip_prefix("+1") {
        (1, rest)
    } else if let Some(rest) = line.strip_prefix("-1") {
        (-1, rest)
    } else if let Some(rest) = line.strip_prefix("+0").or_else(|| line.strip_prefix("-0")) {
        (0, rest)
    } else if let Some(rest) = line.strip_prefix('0') {
        // A bare 0 must stand alone: "0.9.1 works" is not a vote.
        if !(rest.is_empty() || rest.starts_with(char::is_whitespace) || rest.starts_with('(')) {
            return None;
        }
        (0, rest)
    } else {
        return None;
    };
    let ends_word = rest.is_empty()
        || rest.starts_with(char::is_whitespace)
        || rest.starts_with(['(', '.', ',', '!', ';', ':', ')']);
    ends_word.then_some(value)
}

/// The sender's own text, without quotes, attributions and what follows them, or the signature.
fn own_lines(body: &str) -> impl Iterator<Item = &str> {
    body.lines()
        .map(|line| line.trim_end_matches('\r'))
        .take_while(|line| *line != "-- " && *line != "--" && !is_attribution(line))
        .filter(|line| !line.trim_start().starts_with('>'))
}

/// Reads a vote thread. The announcement (the first mail whose subject is not a reply) and
/// mails without a readable sender never count.
pub fn read(mbox: &[u8]) -> Result<Thread, String> {
    read_thread(mbox, None)
}

/// Like [`read`], keeping only the thread of the announcement `root` (a Message-ID) when it is
/// known: an archive's export of a month holds other threads, and their votes are not this one's.
pub fn read_thread(mbox: &[u8], root: Option<&str>) -> Result<Thread, String> {
    if mbox.len() > MAX_THREAD_BYTES {
        return Err(format!("the thread has {} bytes; at most {MAX_THREAD_BYTES} are read", mbox.len()));
    }
    let mails = split_mbox(mbox);
    if mails.len() > MAX_MAILS {
        return Err(format!("the thread has {} mails; at most {MAX_MAILS} are read", mails.len()));
    }
    let mut thread = Thread::default();
    for (n, raw) in mails.into_iter().enumerate() {
        let raw = match raw.iter().position(|b| *b == b'\n') {
            Some(end) if is_envelope(raw) => &raw[end + 1..],
            _ => raw,
        };
        let mail = mailparse::parse_mail(raw).map_err(|e| format!("mail {} does not parse: {e}", n + 1))?;
        let message_id = mail
            .headers
            .get_first_value("Message-ID")
            .unwrap_or_else(|| format!("(mail {} without a Message-ID)", n + 1));
        let sender = mail
            .headers
            .get_first_header("From")
            .and_then(|h| mailparse::addrparse_header(h).ok())
            .and_then(|list| list.extract_single_info())
            .map(|info| info.addr.trim().to_ascii_lowercase())
            .filter(|addr| addr.contains('@') && addr.len() <= 254 && !addr.contains(char::is_control));
        let Some(sender) = sender else {
            thread.skipped.push(Skipped {
                message_id,
                sender: String::new(),
                reason: "no readable From address".into(),
            });
            continue;
        };
        let skip = |thread: &mut Thread, reason: &str| {
            thread.skipped.push(Skipped {
                message_id: message_id.clone(),
                sender: sender.clone(),
                reason: reason.into(),
            })
        };
        if let Some(root) = root {
            let mentions = |header: &str| mail.headers.get_all_values(header).iter().any(|v| v.contains(root));
            if message_id.trim() != root && !mentions("In-Reply-To") && !mentions("References") {
                skip(&mut thread, "not in the vote's thread");
                continue;
            }
        }
        let subject = mail.headers.get_first_value("Subject").unwrap_or_default();
        let is_reply = {
            let lower = subject.trim_start().to_ascii_lowercase();
            lower.starts_with("re:") || lower.starts_with("aw:") || lower.starts_with("sv:")
        } || mail.headers.get_first_value("In-Reply-To").is_some();
        if !is_reply {
            skip(&mut thread, "the vote's announcement (or another mail that is not a reply)");
            continue;
        }
        let Some(body) = plain_text(&mail) else {
            skip(&mut thread, "no text/plain part");
            continue;
        };
        match own_lines(&body).find_map(|line| vote_of(line).map(|value| (value, clean(line.trim())))) {
            Some((value, line)) => thread.votes.push(MailVote { message_id, sender, value, line }),
            None => skip(&mut thread, "no vote at the start of a line of the sender's own text"),
        }
    }
    Ok(thread)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn votes_are_read_only_at_the_start_of_a_line() {
        for (line, vote) in [
            ("+1", Some(1)),
            ("+1 (binding)", Some(1)),
            ("  +1, checked sigs", Some(1)),
            ("+1.", Some(1)),
            ("-1 the NOTICE is wrong", Some(-1)),
            ("0", Some(0)),
            ("+0", Some(0)),
            ("-0 not thrilled", Some(0)),
            ("0 (no time to test)", Some(0)),
            ("+10 this is great", None),
            ("0.9.1 had the same problem", None),
            ("-1000 lines removed", None),
            ("I vote +1", None),
            ("[ ] +1 Release this package", None),
        ] {
            assert_eq!(vote_of(line), vote, "{line:?}");
        }
    }

    #[test]
    fn quotes_attributions_and_signatures_are_not_the_senders_text() {
        let body = "Looks good.\n> +1\nOn Tue, 1 Dec 2026, Ann wrote:\n+1\n";
        assert_eq!(own_lines(body).collect::<Vec<_>>(), ["Looks good."]);
        let signed = "Thanks!\n-- \n+1 to open source\n";
        assert_eq!(own_lines(signed).collect::<Vec<_>>(), ["Thanks!"]);
    }

    #[test]
    fn only_the_announcements_thread_counts_when_it_is_known() {
        let mbox = b"From a@x Mon Dec  1 10:00:00 2026\nFrom: a@x\nSubject: [VOTE] Release X 1.0\nMessage-ID: <root@x>\n\nvote\n\n\
From b@x Mon Dec  1 10:05:00 2026\nFrom: b@x\nSubject: Re: [VOTE] Release X 1.0\nMessage-ID: <b@x>\nIn-Reply-To: <root@x>\n\n+1\n\n\
From c@x Mon Dec  1 10:06:00 2026\nFrom: c@x\nSubject: Re: [VOTE] Release Y 2.0\nMessage-ID: <c@x>\nIn-Reply-To: <other@x>\n\n-1\n\n\
From d@x Mon Dec  1 10:07:00 2026\nFrom: d@x\nSubject: Re: [VOTE] Release X 1.0\nMessage-ID: <d@x>\nIn-Reply-To: <b@x>\nReferences: <root@x> <b@x>\n\n+1\n";
        let everything = read(mbox).unwrap();
        assert_eq!(everything.votes.len(), 3, "without a root every reply counts");
        let thread = read_thread(mbox, Some("<root@x>")).unwrap();
        let senders: Vec<&str> = thread.votes.iter().map(|v| v.sender.as_str()).collect();
        assert_eq!(senders, ["b@x", "d@x"]);
        assert!(thread.skipped.iter().any(|s| s.sender == "c@x" && s.reason == "not in the vote's thread"));
    }

    #[test]
    fn an_mbox_is_split_at_from_lines_after_blank_lines() {
        let mbox = "From a@x Mon Dec  1 00:00:00 2026\nSubject: one\n\nFrom here on it is body\n\nFrom b@x Mon Dec  1 00:00:01 2026\nSubject: two\n\nbody\n";
        let mails = split_mbox(mbox.as_bytes());
        assert_eq!(mails.len(), 2);
        assert!(
            String::from_utf8_lossy(mails[0]).contains("From here on"),
            "a From inside a paragraph is not a new mail"
        );
    }
}
