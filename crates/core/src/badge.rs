//! Status badges: which look a branch's latest finished pipeline gets, and the SVG of that look.
//!
//! Two styles, as CircleCI offers: `svg` (a coloured pill with a logo and `PASSED`/`FAILED`)
//! and `shield` (the shields.io look, `circleci | passing`). The SVG names the font circlet
//! embeds for rasterizing (DejaVu Sans) and sets `textLength` from that font's advance widths,
//! so a browser that substitutes another font still fits the text into the same box.

use crate::build_state::JobState;
use std::fmt::Write as _;

/// What a badge says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BadgeLook {
    /// The latest finished pipeline passed: every job succeeded.
    Passed,
    /// It failed, timed out, or its infrastructure failed.
    Failed,
    /// It was canceled (or never ran).
    Canceled,
    /// Nothing on this branch has finished yet.
    NoBuilds,
    /// No such project, or one the caller may not see: the same neutral grey either way.
    Unknown,
    /// The credential was refused (invalid, not allowed, throttled).
    NoAccess,
}

impl BadgeLook {
    /// The look for a branch whose latest finished pipeline ended in `latest` (`None`: none has).
    /// Unfinished states never reach a badge (it shows finished jobs only) and count as none.
    pub fn of(latest: Option<JobState>) -> BadgeLook {
        match latest {
            Some(JobState::Success) => BadgeLook::Passed,
            Some(
                JobState::Failed
                | JobState::Timedout
                | JobState::InfrastructureFail
                | JobState::Unauthorized,
            ) => BadgeLook::Failed,
            // CircleCI shows "not run" like canceled.
            Some(JobState::Canceled | JobState::NotRun) => BadgeLook::Canceled,
            Some(JobState::Blocked | JobState::Queued | JobState::Running | JobState::OnHold)
            | None => BadgeLook::NoBuilds,
        }
    }

    /// The text of the `svg` style pill.
    pub fn pill_text(self) -> &'static str {
        match self {
            BadgeLook::Passed => "PASSED",
            BadgeLook::Failed => "FAILED",
            BadgeLook::Canceled => "CANCELED",
            BadgeLook::NoBuilds => "NO BUILDS",
            BadgeLook::Unknown => "UNKNOWN",
            BadgeLook::NoAccess => "NO ACCESS",
        }
    }

    /// The right-hand text of the `shield` style.
    pub fn shield_text(self) -> &'static str {
        match self {
            BadgeLook::Passed => "passing",
            BadgeLook::Failed => "failing",
            BadgeLook::Canceled => "canceled",
            BadgeLook::NoBuilds => "no builds",
            BadgeLook::Unknown => "unknown",
            BadgeLook::NoAccess => "no access",
        }
    }

    /// The background colour (`#rrggbb`) in `style`.
    pub fn colour(self, style: BadgeStyle) -> &'static str {
        match (self, style) {
            (BadgeLook::Passed, BadgeStyle::Svg) => "#229922",
            (BadgeLook::Passed, BadgeStyle::Shield) => "#44cc11",
            (BadgeLook::Failed, BadgeStyle::Svg) => "#cc3333",
            (BadgeLook::Failed, BadgeStyle::Shield) => "#e05d44",
            (BadgeLook::Canceled, _) => "#222222",
            (BadgeLook::NoBuilds | BadgeLook::Unknown | BadgeLook::NoAccess, _) => "#9f9f9f",
        }
    }
}

/// The badge's style (`?style=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BadgeStyle {
    /// CircleCI's pill; the default.
    Svg,
    /// shields.io's two-part badge.
    Shield,
}

impl BadgeStyle {
    /// `shield` is the shield; anything else (`svg`, the legacy `badge`, nothing, a typo)
    /// is the default pill, so an old embed never breaks.
    pub fn parse(raw: Option<&str>) -> BadgeStyle {
        match raw.map(str::trim) {
            Some(s) if s.eq_ignore_ascii_case("shield") => BadgeStyle::Shield,
            _ => BadgeStyle::Svg,
        }
    }
}

/// A rendered badge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Badge {
    /// The SVG document.
    pub svg: String,
    /// Its width in pixels.
    pub width: u32,
    /// Its height in pixels.
    pub height: u32,
}

/// The family the SVG asks for first; the rasterizer has exactly this font embedded.
pub const FONT_FAMILY: &str = "DejaVu Sans";
const FONT_STACK: &str = "DejaVu Sans,Verdana,Geneva,sans-serif";
const HEIGHT: u32 = 20;

/// Advance widths of printable ASCII (U+0020..=U+007E) in DejaVu Sans, in font units (2048 per
/// em), read with fontTools from the embedded font file (`crates/server/assets/fonts`); regenerate
/// both tables if that file changes.
pub const REGULAR_ADVANCES: [u16; 95] = [
    651, 821, 942, 1716, 1303, 1946, 1597, 563, 799, 799, 1024, 1716, 651, 739, 651, 690, 1303,
    1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 690, 690, 1716, 1716, 1716, 1087, 2048,
    1401, 1405, 1430, 1577, 1294, 1178, 1587, 1540, 604, 604, 1343, 1141, 1767, 1532, 1612, 1235,
    1612, 1423, 1300, 1251, 1499, 1401, 2025, 1403, 1251, 1403, 799, 690, 799, 1716, 1024, 1024,
    1255, 1300, 1126, 1300, 1260, 721, 1300, 1298, 569, 569, 1186, 569, 1995, 1298, 1253, 1300,
    1300, 842, 1067, 803, 1298, 1212, 1675, 1212, 1212, 1075, 1303, 690, 1303, 1716,
];

/// The same for DejaVu Sans Bold.
pub const BOLD_ADVANCES: [u16; 95] = [
    713, 934, 1067, 1716, 1425, 2052, 1786, 627, 936, 936, 1071, 1716, 778, 850, 778, 748, 1425,
    1425, 1425, 1425, 1425, 1425, 1425, 1425, 1425, 1425, 819, 819, 1716, 1716, 1716, 1188, 2048,
    1585, 1561, 1503, 1700, 1399, 1399, 1681, 1714, 762, 762, 1587, 1305, 2038, 1714, 1741, 1501,
    1741, 1577, 1475, 1397, 1663, 1585, 2259, 1579, 1483, 1485, 936, 748, 936, 1716, 1024, 1024,
    1382, 1466, 1214, 1466, 1389, 891, 1466, 1458, 702, 702, 1362, 702, 2134, 1458, 1407, 1466,
    1466, 1010, 1219, 979, 1458, 1335, 1892, 1321, 1335, 1192, 1458, 748, 1458, 1716,
];

/// The width of `text` (printable ASCII; anything else counts as an `M`) at `size` pixels.
fn text_width(text: &str, size: f64, bold: bool) -> f64 {
    let table = if bold {
        &BOLD_ADVANCES
    } else {
        &REGULAR_ADVANCES
    };
    let units: u32 = text
        .chars()
        .map(|c| {
            let i = (c as u32).wrapping_sub(0x20) as usize;
            u32::from(*table.get(i).unwrap_or(&table[usize::from(b'M' - 0x20)]))
        })
        .sum();
    f64::from(units) * size / 2048.0
}

/// The badge for `look` in `style`. Every text is one of circlet's own constants, never user
/// input, so nothing needs escaping.
pub fn render(look: BadgeLook, style: BadgeStyle) -> Badge {
    match style {
        BadgeStyle::Svg => pill(look),
        BadgeStyle::Shield => shield(look),
    }
}

fn pill(look: BadgeLook) -> Badge {
    let text = look.pill_text();
    let tw = text_width(text, 10.0, true);
    let text_x = 21;
    let width = text_x + tw.ceil() as u32 + 7;
    let colour = look.colour(BadgeStyle::Svg);
    let mut svg = String::new();
    let _ = write!(
        svg,
        concat!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="CircleCI: {t}">"##,
            r##"<title>CircleCI: {t}</title>"##,
            r##"<rect width="{w}" height="{h}" rx="3" fill="{c}"/>"##,
            // The logo: a ring open on the left around a dot.
            r##"<path d="M6.6 8A5 5 0 1 1 6.6 12" fill="none" stroke="#fff" stroke-width="2"/>"##,
            r##"<circle cx="11" cy="10" r="2.2" fill="#fff"/>"##,
            r##"<text x="{x}" y="14" fill="#fff" font-family="{f}" font-size="10" font-weight="bold" "##,
            r##"textLength="{tl:.1}" lengthAdjust="spacingAndGlyphs">{t}</text>"##,
            "</svg>"
        ),
        w = width,
        h = HEIGHT,
        t = text,
        c = colour,
        x = text_x,
        f = FONT_STACK,
        tl = tw,
    );
    Badge {
        svg,
        width,
        height: HEIGHT,
    }
}

fn shield(look: BadgeLook) -> Badge {
    let label = "circleci";
    let message = look.shield_text();
    let (lt, mt) = (
        text_width(label, 11.0, false),
        text_width(message, 11.0, false),
    );
    let lw = lt.ceil() as u32 + 10;
    let mw = mt.ceil() as u32 + 10;
    let width = lw + mw;
    let colour = look.colour(BadgeStyle::Shield);
    let mut svg = String::new();
    let _ = write!(
        svg,
        concat!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{l}: {m}">"##,
            r##"<title>{l}: {m}</title>"##,
            r##"<linearGradient id="gloss" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>"##,
            r##"<clipPath id="round"><rect width="{w}" height="{h}" rx="3" fill="#fff"/></clipPath>"##,
            r##"<g clip-path="url(#round)"><rect width="{lw}" height="{h}" fill="#555"/><rect x="{lw}" width="{mw}" height="{h}" fill="{c}"/>"##,
            r##"<rect width="{w}" height="{h}" fill="url(#gloss)"/></g>"##,
            r##"<g fill="#fff" text-anchor="middle" font-family="{f}" font-size="11">"##,
            r##"<text x="{lx:.1}" y="15" fill="#010101" fill-opacity=".3" textLength="{lt:.1}" lengthAdjust="spacingAndGlyphs">{l}</text>"##,
            r##"<text x="{lx:.1}" y="14" textLength="{lt:.1}" lengthAdjust="spacingAndGlyphs">{l}</text>"##,
            r##"<text x="{mx:.1}" y="15" fill="#010101" fill-opacity=".3" textLength="{mt:.1}" lengthAdjust="spacingAndGlyphs">{m}</text>"##,
            r##"<text x="{mx:.1}" y="14" textLength="{mt:.1}" lengthAdjust="spacingAndGlyphs">{m}</text>"##,
            "</g></svg>"
        ),
        w = width,
        h = HEIGHT,
        l = label,
        m = message,
        lw = lw,
        mw = mw,
        c = colour,
        f = FONT_STACK,
        lx = f64::from(lw) / 2.0,
        mx = f64::from(lw) + f64::from(mw) / 2.0,
        lt = lt,
        mt = mt,
    );
    Badge {
        svg,
        width,
        height: HEIGHT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOOKS: [BadgeLook; 6] = [
        BadgeLook::Passed,
        BadgeLook::Failed,
        BadgeLook::Canceled,
        BadgeLook::NoBuilds,
        BadgeLook::Unknown,
        BadgeLook::NoAccess,
    ];

    #[test]
    fn finished_states_map_to_looks() {
        use JobState::*;
        let cases = [
            (Some(Success), BadgeLook::Passed),
            (Some(Failed), BadgeLook::Failed),
            (Some(Timedout), BadgeLook::Failed),
            (Some(InfrastructureFail), BadgeLook::Failed),
            (Some(Canceled), BadgeLook::Canceled),
            (Some(NotRun), BadgeLook::Canceled),
            (Some(Running), BadgeLook::NoBuilds),
            (None, BadgeLook::NoBuilds),
        ];
        for (state, want) in cases {
            assert_eq!(BadgeLook::of(state), want, "{state:?}");
        }
    }

    #[test]
    fn styles_parse_leniently() {
        assert_eq!(BadgeStyle::parse(None), BadgeStyle::Svg);
        assert_eq!(BadgeStyle::parse(Some("svg")), BadgeStyle::Svg);
        assert_eq!(BadgeStyle::parse(Some("badge")), BadgeStyle::Svg);
        assert_eq!(BadgeStyle::parse(Some("Shield")), BadgeStyle::Shield);
    }

    #[test]
    fn each_look_is_distinct_in_each_style() {
        for style in [BadgeStyle::Svg, BadgeStyle::Shield] {
            let svgs: std::collections::HashSet<String> =
                LOOKS.iter().map(|l| render(*l, style).svg).collect();
            assert_eq!(svgs.len(), LOOKS.len(), "{style:?}");
        }
        // Passed, failed and canceled differ by colour too, not only by text.
        let colours: std::collections::HashSet<&str> = [
            BadgeLook::Passed,
            BadgeLook::Failed,
            BadgeLook::Canceled,
            BadgeLook::NoBuilds,
        ]
        .iter()
        .map(|l| l.colour(BadgeStyle::Svg))
        .collect();
        assert_eq!(colours.len(), 4);
    }

    #[test]
    fn the_pill_says_passed_in_green() {
        let b = render(BadgeLook::Passed, BadgeStyle::Svg);
        assert!(
            b.svg
                .starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\"")
        );
        assert!(b.svg.contains(">PASSED</text>"));
        assert!(b.svg.contains("fill=\"#229922\""));
        assert!(b.svg.contains(&format!("width=\"{}\"", b.width)));
        assert_eq!(b.height, 20);
        // Logo, text and padding: a pill for a longer word is wider.
        assert!(render(BadgeLook::NoBuilds, BadgeStyle::Svg).width > b.width);
    }

    #[test]
    fn the_shield_says_circleci_and_the_status() {
        let b = render(BadgeLook::Failed, BadgeStyle::Shield);
        assert!(b.svg.contains(">circleci</text>"));
        assert!(b.svg.contains(">failing</text>"));
        assert!(b.svg.contains("fill=\"#e05d44\""));
        assert!(b.svg.contains("aria-label=\"circleci: failing\""));
    }

    #[test]
    fn widths_follow_the_font() {
        // "i" is narrower than "M" in any proportional font; the table says so too.
        assert!(text_width("i", 10.0, false) < text_width("M", 10.0, false));
        assert!(text_width("PASSED", 10.0, true) > text_width("PASSED", 10.0, false));
        // 1303 units at 2048/em is a digit's width.
        assert!((text_width("0", 2048.0, false) - 1303.0).abs() < f64::EPSILON);
    }
}
