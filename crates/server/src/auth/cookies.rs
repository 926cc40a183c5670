//! Reading the `Cookie` header and writing `Set-Cookie` values with circlet's attributes.

use axum::http::HeaderMap;
use axum::http::header::COOKIE;

/// The session cookie: a random secret whose keyed digest names a server-side session.
pub const SESSION_COOKIE: &str = "circlet_session";
/// The anonymous CSRF cookie, used on forms shown before login (login, setup).
pub const CSRF_COOKIE: &str = "circlet_csrf";

/// The value of cookie `name`, if the request carries it.
pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, `Secure` when `secure`.
/// `max_age_secs` of 0 deletes the cookie; `None` makes a browser-session cookie.
pub fn set(name: &str, value: &str, max_age_secs: Option<i64>, secure: bool) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age_secs {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// A `Set-Cookie` value for a cookie only the page at `path` receives: HttpOnly,
/// SameSite=Strict, `max_age_secs` long (0 deletes it), `Secure` when `secure`.
pub fn set_at(name: &str, value: &str, path: &str, max_age_secs: i64, secure: bool) -> String {
    let mut c =
        format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}");
    if secure {
        c.push_str("; Secure");
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn finds_a_cookie_among_several() {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=1; circlet_session=abc ; b=2"),
        );
        assert_eq!(get(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(get(&h, "missing"), None);
    }

    #[test]
    fn set_cookie_carries_the_safety_attributes() {
        let c = set("n", "v", Some(60), true);
        assert!(
            c.contains("HttpOnly")
                && c.contains("SameSite=Lax")
                && c.contains("Secure")
                && c.contains("Max-Age=60")
        );
        assert!(!set("n", "v", None, false).contains("Secure"));
    }
}
