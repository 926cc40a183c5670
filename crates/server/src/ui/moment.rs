//! Moments as pages show them: relative to now ("in 89 days", "3 minutes ago"), with the exact
//! time on hover (`<time datetime=… title=…>`), so a list reads at a glance and still says
//! precisely when.

use std::fmt;
use time::{Duration, OffsetDateTime};

/// A moment, ready for a `<time>` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moment {
    /// Relative to when the page was made: "in 89 days", "3 minutes ago", "just now".
    pub relative: String,
    /// The exact time for people, in UTC (the hover text).
    pub exact: String,
    /// The exact time in RFC 3339 (the `datetime` attribute).
    pub iso: String,
}

impl Moment {
    /// `at` as seen from `now`.
    pub fn of(at: &OffsetDateTime, now: OffsetDateTime) -> Moment {
        Moment {
            relative: relative(*at - now),
            exact: super::when(at),
            iso: at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        }
    }
}

impl fmt::Display for Moment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.relative)
    }
}

/// `offset` from now in words, whole units counted down: "in 89 days" for 89 days and 23
/// hours, "3 minutes ago", "just now" within a minute either way.
pub fn relative(offset: Duration) -> String {
    let future = offset.is_positive();
    let span = offset.abs();
    let (n, unit) = if span < Duration::MINUTE {
        return "just now".into();
    } else if span < Duration::HOUR {
        (span.whole_minutes(), "minute")
    } else if span < Duration::DAY {
        (span.whole_hours(), "hour")
    } else if span < Duration::days(730) {
        (span.whole_days(), "day")
    } else {
        (span.whole_days() / 365, "year")
    };
    let unit = if n == 1 {
        unit.to_owned()
    } else {
        format!("{unit}s")
    };
    if future {
        format!("in {n} {unit}")
    } else {
        format!("{n} {unit} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_read_in_whole_units() {
        let d = |s: i64| relative(Duration::seconds(s));
        assert_eq!(d(0), "just now");
        assert_eq!(d(-59), "just now");
        assert_eq!(d(59), "just now");
        assert_eq!(d(-60), "1 minute ago");
        assert_eq!(d(-3 * 60 - 5), "3 minutes ago");
        assert_eq!(d(2 * 3600 + 1), "in 2 hours");
        assert_eq!(d(-86_400), "1 day ago");
        assert_eq!(d(90 * 86_400 - 5), "in 89 days");
        assert_eq!(d(365 * 86_400), "in 365 days");
        assert_eq!(d(-3 * 365 * 86_400), "3 years ago");
    }

    #[test]
    fn a_moment_keeps_the_exact_time() {
        let at = time::macros::datetime!(2027-03-04 05:06:07 UTC);
        let m = Moment::of(&at, at - Duration::days(2));
        assert_eq!(m.relative, "in 2 days");
        assert_eq!(m.exact, "2027-03-04 05:06 UTC");
        assert_eq!(m.iso, "2027-03-04T05:06:07Z");
        assert_eq!(m.to_string(), "in 2 days");
    }
}
