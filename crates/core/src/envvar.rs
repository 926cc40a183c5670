//! Environment variable names and values as circlet accepts them.

/// The longest name accepted.
pub const MAX_NAME_LEN: usize = 256;

/// Whether `name` matches `^[A-Za-z_][A-Za-z0-9_]*$` and is at most [`MAX_NAME_LEN`] long.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_follow_the_shell_rule() {
        for ok in ["A", "_x", "PATH_2", &"a".repeat(256)] {
            assert!(super::valid_name(ok), "{ok}");
        }
        for bad in ["", "1A", "A-B", "A B", "É", &"a".repeat(257)] {
            assert!(!super::valid_name(bad), "{bad}");
        }
    }
}
