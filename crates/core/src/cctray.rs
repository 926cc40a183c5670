//! The CCMenu/CCTray feed (`cc.xml`, cctray v1 "Multiple Project Summary Reporting Standard"):
//! one `<Project/>` per project branch, with CircleCI's spellings (`name="org/repo"`, the build
//! number as label, `webUrl` pointing at the branch).

use crate::ProjectSlug;
use crate::build_state::JobState;
use std::fmt::Write as _;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The latest finished pipeline of a branch, as the feed reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastBuild {
    /// How it ended.
    pub state: JobState,
    /// Its highest build number (`lastBuildLabel`).
    pub build_num: i64,
    /// When its last job ended (`lastBuildTime`).
    pub finished_at: OffsetDateTime,
}

/// One project branch in the feed.
#[derive(Debug, Clone)]
pub struct FeedEntry<'a> {
    /// The project.
    pub slug: &'a ProjectSlug,
    /// The branch reported.
    pub branch: &'a str,
    /// Whether a job on the branch is queued, waiting or running.
    pub building: bool,
    /// The latest finished pipeline, if any.
    pub last: Option<LastBuild>,
    /// `lastBuildTime` when nothing has finished yet (the attribute is required): the
    /// project's creation.
    pub since: OffsetDateTime,
}

/// `lastBuildStatus` for the latest finished pipeline: success → `Success`; failed or timed out →
/// `Failure`; circlet could not run it → `Exception`; canceled, not run or none → `Unknown`.
pub fn last_build_status(last: Option<JobState>) -> &'static str {
    match last {
        Some(JobState::Success) => "Success",
        Some(JobState::Failed | JobState::Timedout) => "Failure",
        Some(JobState::InfrastructureFail) => "Exception",
        _ => "Unknown",
    }
}

/// The feed for `entries`; `public_url` (no trailing slash) starts every `webUrl`.
pub fn render(public_url: &str, entries: &[FeedEntry<'_>]) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Projects>\n");
    for e in entries {
        let slug = e.slug;
        let name = format!("{}/{}", slug.org(), slug.repo());
        let activity = if e.building { "Building" } else { "Sleeping" };
        let status = last_build_status(e.last.as_ref().map(|l| l.state));
        let time = e.last.as_ref().map_or(e.since, |l| l.finished_at);
        let time = time
            .to_offset(time::UtcOffset::UTC)
            .format(&Rfc3339)
            .unwrap_or_default();
        let web_url = format!(
            "{}/{}/{}/{}/tree/{}",
            public_url.trim_end_matches('/'),
            slug.vcs().short(),
            slug.org(),
            slug.repo(),
            encode_segment(e.branch)
        );
        let _ = write!(
            xml,
            "  <Project name=\"{}\" activity=\"{activity}\" lastBuildStatus=\"{status}\"",
            escape_attr(&name)
        );
        if let Some(last) = &e.last {
            let _ = write!(xml, " lastBuildLabel=\"{}\"", last.build_num);
        }
        let _ = writeln!(
            xml,
            " lastBuildTime=\"{}\" webUrl=\"{}\"/>",
            escape_attr(&time),
            escape_attr(&web_url)
        );
    }
    xml.push_str("</Projects>\n");
    xml
}

/// `raw` as an XML attribute value (inside double quotes). Characters XML 1.0 cannot carry at
/// all become U+FFFD; tab and line breaks are written as references so a parser's attribute
/// normalisation keeps them.
pub fn escape_attr(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// `raw` percent-encoded as one URL path segment (only unreserved characters stay), so a
/// branch `feature/x` becomes `feature%2Fx`, as CircleCI's badge and feed URLs spell it.
pub fn encode_segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(secs).unwrap()
    }

    #[test]
    fn statuses_follow_the_suggested_mapping() {
        use JobState::*;
        assert_eq!(last_build_status(Some(Success)), "Success");
        assert_eq!(last_build_status(Some(Failed)), "Failure");
        assert_eq!(last_build_status(Some(Timedout)), "Failure");
        assert_eq!(last_build_status(Some(InfrastructureFail)), "Exception");
        assert_eq!(last_build_status(Some(Canceled)), "Unknown");
        assert_eq!(last_build_status(None), "Unknown");
    }

    #[test]
    fn a_feed_lists_each_branch_with_its_last_build() {
        let slug = ProjectSlug::parse("gh/Acme/widget").unwrap();
        let entries = [
            FeedEntry {
                slug: &slug,
                branch: "feature/x",
                building: true,
                last: Some(LastBuild {
                    state: JobState::Failed,
                    build_num: 42,
                    finished_at: at(1_650_309_777),
                }),
                since: at(0),
            },
            FeedEntry {
                slug: &slug,
                branch: "main",
                building: false,
                last: None,
                since: at(1_000_000_000),
            },
        ];
        let xml = render("https://ci.example/", &entries);
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Projects>\n\
             \x20 <Project name=\"Acme/widget\" activity=\"Building\" lastBuildStatus=\"Failure\" lastBuildLabel=\"42\" \
             lastBuildTime=\"2022-04-18T19:22:57Z\" webUrl=\"https://ci.example/gh/Acme/widget/tree/feature%2Fx\"/>\n\
             \x20 <Project name=\"Acme/widget\" activity=\"Sleeping\" lastBuildStatus=\"Unknown\" \
             lastBuildTime=\"2001-09-09T01:46:40Z\" webUrl=\"https://ci.example/gh/Acme/widget/tree/main\"/>\n\
             </Projects>\n"
        );
        assert_eq!(render("x", &[]).matches("<Project ").count(), 0);
    }

    #[test]
    fn attribute_values_are_escaped() {
        assert_eq!(
            escape_attr("a&b<c>\"d\"'e'\tf\ng\u{1}"),
            "a&amp;b&lt;c&gt;&quot;d&quot;&apos;e&apos;&#9;f&#10;g\u{FFFD}"
        );
        assert_eq!(escape_attr("plain/ünï"), "plain/ünï");
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(encode_segment("feature/x"), "feature%2Fx");
        assert_eq!(encode_segment("a b&c?ü"), "a%20b%26c%3F%C3%BC");
        assert_eq!(encode_segment("v1.2_x-y~z"), "v1.2_x-y~z");
    }
}
