//! What makes a login, a display name, an email address and a password acceptable.

use crate::Invalid;
use secrecy::{ExposeSecret, SecretString};
use std::fmt;

/// A user's login: 1–39 characters of ASCII lowercase letters, digits, `-` and `_`,
/// starting with a letter or digit. Stored lowercased so that `Alice` and `alice` are one user.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Login(String);

impl Login {
    /// Validates `raw` (surrounding whitespace ignored, case folded).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let login = raw.trim().to_ascii_lowercase();
        if login.is_empty() {
            return Err(Invalid::new("login must not be empty"));
        }
        if login.len() > 39 {
            return Err(Invalid::new("login must be at most 39 characters"));
        }
        if !login.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(Invalid::new("login must start with a letter or a digit"));
        }
        if !login
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        {
            return Err(Invalid::new(
                "login may contain only letters, digits, '-' and '_'",
            ));
        }
        Ok(Login(login))
    }

    /// The login as stored and shown.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A person's display name: 1–100 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// Validates `raw`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(Invalid::new("name must not be empty"));
        }
        if name.chars().count() > 100 {
            return Err(Invalid::new("name must be at most 100 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(Invalid::new("name must not contain control characters"));
        }
        Ok(DisplayName(name.to_owned()))
    }

    /// The name as given, trimmed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address: one `@` with something on each side, no spaces, at most 254 characters.
/// Deliberately lenient: the only proof an address works is a mail that arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Validates `raw` (surrounding whitespace ignored).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let email = raw.trim();
        let bad = || Invalid::new("email must look like name@example.com");
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        match email.split_once('@') {
            Some((local, domain))
                if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
            {
                Ok(Email(email.to_owned()))
            }
            _ => Err(bad()),
        }
    }

    /// The address as given, trimmed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password chosen by a user: 10–1024 characters. Held as a secret so it never prints.
#[derive(Debug)]
pub struct Password(SecretString);

impl Password {
    /// The shortest password accepted.
    pub const MIN_CHARS: usize = 10;

    /// Validates a new password; the length cap keeps hashing cost bounded.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let n = raw.chars().count();
        if n < Self::MIN_CHARS {
            return Err(Invalid::new(format!(
                "password must be at least {} characters",
                Self::MIN_CHARS
            )));
        }
        if n > 1024 {
            return Err(Invalid::new("password must be at most 1024 characters"));
        }
        Ok(Password(SecretString::from(raw.to_owned())))
    }

    /// The password, for hashing only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_are_folded_and_validated() {
        assert_eq!(Login::parse(" Alice ").unwrap().as_str(), "alice");
        assert_eq!(Login::parse("a-b_c9").unwrap().as_str(), "a-b_c9");
        for bad in ["", "-x", "_x", "a b", "a/b", "é", &"a".repeat(40)] {
            assert!(Login::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn emails_need_one_at_with_both_sides() {
        assert!(Email::parse("a@b").is_ok());
        for bad in ["", "a", "@b", "a@", "a@b@c", "a b@c"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("  Ada  ").unwrap().as_str(), "Ada");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"x".repeat(101)).is_err());
        assert!(DisplayName::parse("a\u{7}b").is_err());
    }

    #[test]
    fn passwords_are_bounded_and_never_debug_printed() {
        assert!(Password::parse("short").is_err());
        let p = Password::parse("correct horse battery").unwrap();
        assert!(!format!("{p:?}").contains("horse"));
        assert_eq!(p.expose(), "correct horse battery");
    }
}
