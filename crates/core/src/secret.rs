//! Secret values drawn from the OS random number generator.

use secrecy::SecretString;

/// `N` bytes from the OS CSPRNG.
///
/// Panics only if the OS has no randomness to give, in which case no secret this process
/// could make would be safe, so stopping is the right outcome.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the OS random number generator failed");
    buf
}

/// A fresh 256-bit secret as 64 lowercase hex characters (session ids, setup codes).
pub fn random_hex_secret() -> SecretString {
    SecretString::from(hex::encode(random_bytes::<32>()))
}

/// Equality that takes the same time wherever the inputs differ (for comparing secrets).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn secrets_are_long_hex_and_distinct() {
        let a = random_hex_secret();
        let b = random_hex_secret();
        assert_eq!(a.expose_secret().len(), 64);
        assert!(a.expose_secret().chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.expose_secret(), b.expose_secret());
    }
}
