//! Email over SMTP, for notices: lettre on tokio, TLS by the rustls (aws-lc-rs) stack the build
//! already has. The server is named by one URL, in lettre's conventions:
//!
//! - `smtps://user:pass@host[:465]`: TLS from the first byte;
//! - `smtp://user:pass@host[:587]?tls=required`: STARTTLS, refused without it;
//! - `smtp://host[:25]?tls=opportunistic`: STARTTLS when offered;
//! - `smtp://host[:25]`: plain, never encrypted (a relay on the same host, or a test server).
//!
//! A user name and password in the URL are sent with AUTH; a URL that would send them in the
//! clear (`smtp://` without `tls=required`) is refused unless the host is a loopback address.
//! A path names the EHLO host (`smtp://host/ci.example.com`).

use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

/// How long one message may take, connection included.
const DEADLINE: Duration = Duration::from_secs(20);

/// Where notices' emails go and whom they come from, as configured (`--smtp-url`,
/// `--smtp-from`).
#[derive(Clone)]
pub struct MailSettings {
    /// The SMTP server's URL; it may hold a password.
    pub smtp_url: SecretString,
    /// The sender, `ci@example.com` or `circlet <ci@example.com>`.
    pub from: String,
}

impl std::fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailSettings")
            .field("smtp_url", &"[redacted]")
            .field("from", &self.from)
            .finish()
    }
}

/// What is wrong with mail settings, in words for the operator (never the password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadMailSettings(pub String);

fn bad(text: impl Into<String>) -> BadMailSettings {
    BadMailSettings(text.into())
}

/// Checks an SMTP URL without connecting: its scheme, host and `tls` choice, and that a
/// password would not cross the network in the clear.
pub fn check_url(raw: &str) -> Result<(), BadMailSettings> {
    let url = reqwest::Url::parse(raw.trim()).map_err(|_| {
        bad("the SMTP URL must look like smtps://user:password@host:465 or smtp://host:25")
    })?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("the SMTP URL names no host"))?;
    let tls = url
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.into_owned());
    let encrypted = match (url.scheme(), tls.as_deref()) {
        ("smtps", _) | ("smtp", Some("required")) => true,
        ("smtp", None | Some("opportunistic")) => false,
        ("smtp", Some(other)) => {
            return Err(bad(format!(
                "the SMTP URL's tls must be `required` or `opportunistic` (with smtp://), not `{other}`"
            )));
        }
        (scheme, _) => {
            return Err(bad(format!(
                "the SMTP URL must start with smtp:// or smtps://, not {scheme}://"
            )));
        }
    };
    let loopback = match host.trim_start_matches('[').trim_end_matches(']') {
        "localhost" => true,
        h => h
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
    };
    if url.password().is_some() && !encrypted && !loopback {
        return Err(bad(
            "the SMTP URL has a password but would send it unencrypted: use smtps:// or \
             smtp://…?tls=required (plain smtp:// with a password only to a loopback address)",
        ));
    }
    Ok(())
}

impl MailSettings {
    /// Checks the URL ([`check_url`]) and the sender address, without connecting.
    pub fn check(&self) -> Result<Mailbox, BadMailSettings> {
        check_url(self.smtp_url.expose_secret())?;
        self.from.trim().parse().map_err(|_| {
            bad(format!(
                "the sender address '{}' is not an email address (like circlet@example.com)",
                self.from
            ))
        })
    }
}

/// Sends notices' emails. Made once at start-up from checked settings.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from).finish()
    }
}

impl Mailer {
    /// A mailer for `settings`, or what is wrong with them.
    pub fn new(settings: &MailSettings) -> Result<Mailer, BadMailSettings> {
        let from = settings.check()?;
        let url = settings.smtp_url.expose_secret().trim();
        // lettre's own error may quote the URL; it is not passed on.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|_| {
                bad("the SMTP URL cannot be used (see the accepted forms in circlet.example.toml)")
            })?
            .timeout(Some(DEADLINE))
            .build();
        Ok(Mailer { transport, from })
    }

    /// The sender.
    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    /// Sends one plain-text email to `to`; the error says why it was not accepted.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), String> {
        let to: Mailbox = to
            .parse()
            .map_err(|_| format!("'{to}' is not an email address"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| format!("the email cannot be made: {e}"))?;
        self.transport
            .send(message)
            .await
            .map(drop)
            .map_err(|e| format!("the SMTP server did not take it: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_are_checked_before_anything_is_sent() {
        for ok in [
            "smtps://u:p@mail.example.com",
            "smtps://u:p@mail.example.com:465",
            "smtp://u:p@mail.example.com:587?tls=required",
            "smtp://mail.example.com:25?tls=opportunistic",
            "smtp://mail.example.com",
            "smtp://u:p@127.0.0.1:2525",
            "smtp://u:p@localhost:2525",
            "smtp://u:p@[::1]:2525",
            "smtp://127.0.0.1:2525/ci.example.com",
        ] {
            assert_eq!(check_url(ok), Ok(()), "{ok}");
        }
        for (bad_url, says) in [
            ("mail.example.com", "must look like"),
            ("http://mail.example.com", "smtp:// or smtps://"),
            ("smtp://u:p@mail.example.com:587", "unencrypted"),
            (
                "smtp://u:p@mail.example.com:587?tls=opportunistic",
                "unencrypted",
            ),
            ("smtp://mail.example.com?tls=none", "`none`"),
        ] {
            let e = check_url(bad_url).expect_err(bad_url).0;
            assert!(e.contains(says), "{bad_url}: {e}");
            assert!(!e.contains(":p@"), "no password in {e}");
        }
    }

    #[tokio::test]
    async fn a_mailer_needs_a_sender_address() {
        let settings = |from: &str| MailSettings {
            smtp_url: SecretString::from("smtp://127.0.0.1:2525"),
            from: from.into(),
        };
        assert!(Mailer::new(&settings("circlet <ci@example.com>")).is_ok());
        let e = Mailer::new(&settings("not an address")).unwrap_err().0;
        assert!(e.contains("not an email address"), "{e}");
        assert!(!format!("{:?}", settings("a@b.c")).contains("2525"));
    }
}
