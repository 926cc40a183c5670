//! Notices to a token's owners: when one is due (7 days and 1 day before a token expires; when
//! the leak guard or a secret scanner revoked it), what state its email is in, and what the
//! email and the dashboard say. Pure: the clock is the caller's, and no token value is ever an
//! input, so none can be in the text.

use crate::token::TokenKind;
use time::{Duration, OffsetDateTime};

/// The first notice: this close to its expiry, a token's owners are told.
pub const FIRST_NOTICE: Duration = Duration::days(7);
/// The last notice before a token expires.
pub const LAST_NOTICE: Duration = Duration::days(1);

/// What a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    /// The token expires within [`FIRST_NOTICE`] (and more than [`LAST_NOTICE`] from now).
    ExpiresInAWeek,
    /// The token expires within [`LAST_NOTICE`].
    ExpiresInADay,
    /// The token was found where it must not be and has been revoked.
    Revoked,
}

impl NoticeKind {
    /// Every kind.
    pub const ALL: [NoticeKind; 3] = [
        NoticeKind::ExpiresInAWeek,
        NoticeKind::ExpiresInADay,
        NoticeKind::Revoked,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::ExpiresInAWeek => "expires-7d",
            NoticeKind::ExpiresInADay => "expires-1d",
            NoticeKind::Revoked => "revoked",
        }
    }

    /// The kind with stored name `raw`.
    pub fn parse(raw: &str) -> Option<NoticeKind> {
        NoticeKind::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// Whether this notice is about an expiry (and so moot once the token is gone).
    pub fn is_expiry(self) -> bool {
        self != NoticeKind::Revoked
    }
}

/// Which expiry notice a token expiring at `expires_at` is due at `now`, if any: the 1-day one
/// within a day of it, else the 7-day one within a week; none once it has expired. A token
/// made with less than a day to live gets only the 1-day notice, never both at once.
pub fn expiry_notice(expires_at: OffsetDateTime, now: OffsetDateTime) -> Option<NoticeKind> {
    let left = expires_at - now;
    if left <= Duration::ZERO {
        None
    } else if left <= LAST_NOTICE {
        Some(NoticeKind::ExpiresInADay)
    } else if left <= FIRST_NOTICE {
        Some(NoticeKind::ExpiresInAWeek)
    } else {
        None
    }
}

/// Where a notice's email is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailState {
    /// No email: none is sent on this instance, the recipient has no address, or the notice
    /// became moot (its token was deleted) before it went.
    Off,
    /// To be sent (again, after a failed attempt).
    Pending,
    /// Accepted by the SMTP server.
    Sent,
    /// Given up after failing for as long as it mattered.
    Failed,
}

impl MailState {
    /// Every state.
    pub const ALL: [MailState; 4] = [
        MailState::Off,
        MailState::Pending,
        MailState::Sent,
        MailState::Failed,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            MailState::Off => "off",
            MailState::Pending => "pending",
            MailState::Sent => "sent",
            MailState::Failed => "failed",
        }
    }

    /// The state with stored name `raw`.
    pub fn parse(raw: &str) -> Option<MailState> {
        MailState::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// What a notice says, from what is kept of it (never the token's value).
#[derive(Debug, Clone)]
pub struct NoticeFacts<'a> {
    /// What it is about.
    pub kind: NoticeKind,
    /// Personal or project (runner tokens have no owner to tell).
    pub token_kind: TokenKind,
    /// The token's name (personal) or label (project).
    pub name: &'a str,
    /// Its last 4 characters, as every token list shows them.
    pub last4: &'a str,
    /// Its project's slug (project tokens), or empty.
    pub project_slug: &'a str,
    /// When it expires (expiry notices).
    pub expires_at: Option<OffsetDateTime>,
    /// Where it was found (revocations): "was printed in the output of build #3 of …".
    pub detail: &'a str,
}

/// `YYYY-MM-DD HH:MM UTC`, as the UI shows times.
fn at(t: OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_default()
}

/// How long until `expires_at`, to the nearest day from two days on, else to the nearest
/// hour: "in 6 days", "in 20 hours", "in less than an hour"; "has expired" once past.
pub fn time_left(expires_at: OffsetDateTime, now: OffsetDateTime) -> String {
    let left = expires_at - now;
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if left <= Duration::ZERO {
        "has expired".into()
    } else if left >= Duration::days(2) {
        let days = (left + Duration::hours(12)).whole_days();
        format!("in {}", plural(days, "day"))
    } else if left >= Duration::hours(1) {
        let hours = (left + Duration::minutes(30)).whole_hours();
        format!("in {}", plural(hours, "hour"))
    } else {
        "in less than an hour".into()
    }
}

/// `text` on one line: control characters (a line break could start a new mail header)
/// become spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

impl NoticeFacts<'_> {
    /// "personal API token 'ci' (…1c9e)", "project API token 'deploy' (…ab12) of gh/acme/app".
    pub fn token(&self) -> String {
        let kind = match self.token_kind {
            TokenKind::Personal => "personal API token",
            TokenKind::Project => "project API token",
            TokenKind::Runner => "runner token",
        };
        let mut s = format!("{kind} '{}' (…{})", one_line(self.name), self.last4);
        if !self.project_slug.is_empty() {
            s.push_str(" of ");
            s.push_str(self.project_slug);
        }
        s
    }

    /// One sentence for the dashboard and the email's first line, at `now`.
    pub fn headline(&self, now: OffsetDateTime) -> String {
        let token = self.token();
        match (self.kind, self.expires_at) {
            (NoticeKind::Revoked, _) => {
                format!("Your {token} {} and has been revoked.", self.detail)
            }
            (_, Some(e)) if e <= now => format!("Your {token} expired on {}.", at(e)),
            (_, Some(e)) => format!("Your {token} expires {} ({}).", time_left(e, now), at(e)),
            (_, None) => format!("Your {token} expires soon."),
        }
    }

    /// The email's subject, at `now`: one line.
    pub fn subject(&self, now: OffsetDateTime) -> String {
        let token = self.token();
        let what = match (self.kind, self.expires_at) {
            (NoticeKind::Revoked, _) => "was revoked because it leaked".to_owned(),
            (_, Some(e)) => format!("expires {}", time_left(e, now)),
            (_, None) => "expires soon".to_owned(),
        };
        one_line(&format!("[circlet] Your {token} {what}"))
    }

    /// The email's body, at `now`: the headline, what follows from it, and where the token's
    /// settings are (`settings_url`).
    pub fn body(&self, now: OffsetDateTime, settings_url: &str) -> String {
        let advice = match self.kind {
            NoticeKind::Revoked => {
                "Requests made with it are refused from now on. Create a new token where it is \
                 needed, and keep it out of job output and of anything you publish (a project \
                 environment variable keeps it masked)."
            }
            _ => {
                "After that, requests made with it are refused. If it is still needed, create a \
                 new token and put it where this one is used before then."
            }
        };
        format!(
            "{}\n\n{advice}\n\nThe token's settings: {settings_url}\n\n\
             This notice is also on your circlet dashboard until you dismiss it.\n",
            self.headline(now)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2030-01-10 12:00 UTC);

    #[test]
    fn expiry_notices_fall_due_a_week_and_a_day_before() {
        let cases = [
            (Duration::days(30), None),
            (Duration::days(7) + Duration::seconds(1), None),
            (Duration::days(7), Some(NoticeKind::ExpiresInAWeek)),
            (Duration::days(6), Some(NoticeKind::ExpiresInAWeek)),
            (
                Duration::days(1) + Duration::seconds(1),
                Some(NoticeKind::ExpiresInAWeek),
            ),
            (Duration::days(1), Some(NoticeKind::ExpiresInADay)),
            (Duration::hours(20), Some(NoticeKind::ExpiresInADay)),
            (Duration::seconds(1), Some(NoticeKind::ExpiresInADay)),
            (Duration::ZERO, None),
            (-Duration::days(1), None),
        ];
        for (left, expected) in cases {
            assert_eq!(expiry_notice(NOW + left, NOW), expected, "{left}");
        }
    }

    #[test]
    fn kinds_and_states_read_back() {
        for k in NoticeKind::ALL {
            assert_eq!(NoticeKind::parse(k.as_str()), Some(k));
        }
        for s in MailState::ALL {
            assert_eq!(MailState::parse(s.as_str()), Some(s));
        }
        assert_eq!(NoticeKind::parse("expires"), None);
        assert_eq!(MailState::parse(""), None);
        assert!(!NoticeKind::Revoked.is_expiry());
        assert!(NoticeKind::ExpiresInADay.is_expiry());
    }

    #[test]
    fn time_left_says_the_largest_whole_unit() {
        assert_eq!(time_left(NOW + Duration::days(6), NOW), "in 6 days");
        assert_eq!(
            time_left(NOW + Duration::days(2) + Duration::hours(3), NOW),
            "in 2 days"
        );
        assert_eq!(time_left(NOW + Duration::hours(47), NOW), "in 47 hours");
        // A token made to last 6 days, looked at a moment later, still has "6 days".
        assert_eq!(
            time_left(NOW + Duration::days(6) - Duration::seconds(5), NOW),
            "in 6 days"
        );
        assert_eq!(
            time_left(NOW + Duration::hours(20) - Duration::seconds(5), NOW),
            "in 20 hours"
        );
        assert_eq!(time_left(NOW + Duration::hours(1), NOW), "in 1 hour");
        assert_eq!(
            time_left(NOW + Duration::minutes(59), NOW),
            "in less than an hour"
        );
        assert_eq!(time_left(NOW, NOW), "has expired");
    }

    fn facts(kind: NoticeKind) -> NoticeFacts<'static> {
        NoticeFacts {
            kind,
            token_kind: TokenKind::Project,
            name: "deploy\r\nBcc: x@example.com",
            last4: "1c9e",
            project_slug: "gh/acme/widgets",
            expires_at: Some(NOW + Duration::hours(20)),
            detail: "was printed in the output of build #3 of gh/acme/widgets",
        }
    }

    #[test]
    fn an_expiry_letter_names_the_token_the_time_and_the_settings_page() {
        let f = facts(NoticeKind::ExpiresInADay);
        let subject = f.subject(NOW);
        assert_eq!(
            subject,
            "[circlet] Your project API token 'deploy  Bcc: x@example.com' (…1c9e) of gh/acme/widgets expires in 20 hours"
        );
        assert!(!subject.contains('\n') && !subject.contains('\r'));
        let body = f.body(
            NOW,
            "https://ci.example/projects/gh/acme/widgets/settings/api",
        );
        assert!(
            body.starts_with("Your project API token 'deploy  Bcc: x@example.com' (…1c9e) of gh/acme/widgets expires in 20 hours (2030-01-11 08:00 UTC)."),
            "{body}"
        );
        assert!(body.contains("https://ci.example/projects/gh/acme/widgets/settings/api"));
        assert!(body.contains("requests made with it are refused"));
        let later = NOW + Duration::days(2);
        assert!(
            f.headline(later)
                .ends_with("expired on 2030-01-11 08:00 UTC."),
            "{}",
            f.headline(later)
        );
    }

    #[test]
    fn a_revocation_letter_says_where_the_token_was_found() {
        let f = NoticeFacts {
            token_kind: TokenKind::Personal,
            name: "ci",
            project_slug: "",
            expires_at: None,
            ..facts(NoticeKind::Revoked)
        };
        assert_eq!(
            f.subject(NOW),
            "[circlet] Your personal API token 'ci' (…1c9e) was revoked because it leaked"
        );
        let body = f.body(NOW, "https://ci.example/account/tokens");
        assert!(body.starts_with("Your personal API token 'ci' (…1c9e) was printed in the output of build #3 of gh/acme/widgets and has been revoked."), "{body}");
        assert!(body.contains("refused from now on"));
        assert!(body.contains("https://ci.example/account/tokens"));
    }
}
