//! What a test reads out of circlet's HTML forms.

/// The value of the first hidden `csrf` field in a page, if it has one.
pub fn csrf_in(html: &str) -> Option<String> {
    const MARKER: &str = "name=\"csrf\" value=\"";
    let at = html.find(MARKER)? + MARKER.len();
    Some(html[at..].split('"').next()?.to_owned())
}
