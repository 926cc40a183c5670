//! Environment variable names and values as circlet accepts them.

/// The longest name accepted.
pub const MAX_NAME_LEN: usize = 256;

/// The largest value accepted, in bytes.
pub const MAX_VALUE_BYTES: usize = 32 * 1024;

/// What every listing shows instead of a value: `xxxx` and its last 4 characters, or `xxxx`
/// alone for values of 4 characters or fewer (which would otherwise show whole).
pub fn masked(value: &str) -> String {
    let count = value.chars().count();
    if count <= 4 {
        return "xxxx".into();
    }
    let tail: String = value.chars().skip(count - 4).collect();
    format!("xxxx{tail}")
}

/// Whether job output should hide this value (CircleCI's rule: 4 characters or more, and not
/// a boolean word that would mask ordinary output).
pub fn masked_in_output(value: &str) -> bool {
    value.chars().count() >= 4 && !matches!(value, "true" | "True" | "false" | "False")
}

/// Checks a name and value as the API and UI accept them; the error says what is wrong.
pub fn check(name: &str, value: &str) -> Result<(), crate::Invalid> {
    if !valid_name(name) {
        return Err(crate::Invalid::new(format!(
            "Environment variable names must match ^[A-Za-z_][A-Za-z0-9_]*$ and be at most {MAX_NAME_LEN} characters; '{}' does not",
            name.chars().take(80).collect::<String>().escape_debug()
        )));
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(crate::Invalid::new(format!(
            "Environment variable values may be at most {} KiB; this one is {} bytes",
            MAX_VALUE_BYTES / 1024,
            value.len()
        )));
    }
    if value.contains('\0') {
        return Err(crate::Invalid::new(
            "Environment variable values must not contain NUL",
        ));
    }
    Ok(())
}

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
    fn masks_show_at_most_the_last_four_characters() {
        assert_eq!(super::masked(""), "xxxx");
        assert_eq!(super::masked("abcd"), "xxxx");
        assert_eq!(super::masked("abcde"), "xxxxbcde");
        assert_eq!(super::masked("sécrété1234"), "xxxx1234");
        assert_eq!(super::masked("ééééé"), "xxxxéééé");
    }

    #[test]
    fn output_masking_skips_short_values_and_booleans() {
        assert!(super::masked_in_output("abcd"));
        assert!(!super::masked_in_output("abc"));
        assert!(!super::masked_in_output("true"));
        assert!(!super::masked_in_output("False"));
    }

    #[test]
    fn checks_name_value_and_size() {
        assert!(super::check("A_B", "x").is_ok());
        let e = super::check("MY-VAR", "x").unwrap_err();
        assert!(e.0.contains("MY-VAR"), "{e}");
        assert!(super::check("A", &"x".repeat(40 * 1024)).is_err());
        assert!(super::check("A", &"x".repeat(32 * 1024)).is_ok());
        assert!(super::check("A", "a\0b").is_err());
    }

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
