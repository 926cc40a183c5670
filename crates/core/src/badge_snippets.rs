//! The embed snippets the Status Badges page offers (CircleCI's set): the image URL and the
//! same badge in Markdown, Textile, RDoc, AsciiDoc, reStructuredText and POD.

/// A path segment percent-encoded so it stays one segment and is safe inside every snippet
/// format (only unreserved characters are left as they are: `feature/x` → `feature%2Fx`).
pub fn encode_segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What a badge shows and where it links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadgeUrls {
    /// The image.
    pub image: String,
    /// The page it links to.
    pub link: String,
}

/// The badge and link URLs for a project `slug` (`gh/org/repo`) under `public_url`, for
/// `branch` (`None`: the default branch), `ext` (`svg` or `png`), `style` (`svg`/`shield`) and
/// an optional token. Every part that comes from a user is percent-encoded.
pub fn urls(
    public_url: &str,
    slug: &str,
    branch: Option<&str>,
    ext: &str,
    style: &str,
    token: Option<&str>,
) -> BadgeUrls {
    let slug: Vec<String> = slug.split('/').map(encode_segment).collect();
    let base = format!("{}/{}", public_url.trim_end_matches('/'), slug.join("/"));
    let (image_path, link) = match branch {
        Some(b) => {
            let b = encode_segment(b);
            (format!("{base}/tree/{b}"), format!("{base}/tree/{b}"))
        }
        None => (base.clone(), base),
    };
    let mut image = format!("{image_path}.{ext}?style={}", encode_segment(style));
    if let Some(t) = token {
        image.push_str("&circle-token=");
        image.push_str(&encode_segment(t));
    }
    BadgeUrls { image, link }
}

/// The snippets, as (format name, text), in the order the page shows them.
pub fn snippets(u: &BadgeUrls) -> Vec<(&'static str, String)> {
    let (img, link) = (&u.image, &u.link);
    vec![
        ("Image URL", img.clone()),
        ("Markdown", format!("[![CircleCI]({img})]({link})")),
        ("Textile", format!("!{img}!:{link}")),
        (
            "RDoc",
            format!("{{<img src=\"{img}\" alt=\"CircleCI\" />}}[{link}]"),
        ),
        (
            "AsciiDoc",
            format!("image:{img}[\"CircleCI\", link=\"{link}\"]"),
        ),
        (
            "reStructuredText",
            format!(".. image:: {img}\n    :target: {link}"),
        ),
        (
            "pod",
            format!("=for HTML <a href=\"{link}\"><img src=\"{img}\"></a>"),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn branch_slashes_and_tokens_are_encoded_into_one_segment() {
        let u = urls(
            "https://ci.example/",
            "gh/acme/widget",
            Some("feature/x y"),
            "svg",
            "shield",
            Some("CCIPRJ_abc_123"),
        );
        assert_eq!(
            u.image,
            "https://ci.example/gh/acme/widget/tree/feature%2Fx%20y.svg?style=shield&circle-token=CCIPRJ_abc_123"
        );
        assert_eq!(
            u.link,
            "https://ci.example/gh/acme/widget/tree/feature%2Fx%20y"
        );
        let d = urls("http://h", "gh/a/b", None, "png", "svg", None);
        assert_eq!(d.image, "http://h/gh/a/b.png?style=svg");
        assert_eq!(d.link, "http://h/gh/a/b");
    }

    #[test]
    fn every_format_carries_both_urls() {
        let u = urls("http://h", "gh/a/b", Some("main"), "svg", "svg", Some("T"));
        let all = snippets(&u);
        assert_eq!(all.len(), 7);
        assert_eq!(
            all[1].1,
            "[![CircleCI](http://h/gh/a/b/tree/main.svg?style=svg&circle-token=T)](http://h/gh/a/b/tree/main)"
        );
        for (name, text) in &all[1..] {
            assert!(
                text.contains(&u.image) && text.contains(&u.link),
                "{name}: {text}"
            );
        }
    }

    proptest! {
        #[test]
        fn encoded_segments_hold_nothing_a_snippet_format_cares_about(raw in ".{0,40}") {
            let e = encode_segment(&raw);
            for c in ['/', '(', ')', '[', ']', '<', '>', '"', '!', '{', '}', ' ', '&', '?', '#', ':'] {
                prop_assert!(!e.contains(c), "{e}");
            }
        }
    }
}
