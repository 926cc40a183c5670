//! When a schedule fires: CircleCI's scheduled pipelines' `timetable` (`per-hour`,
//! `hours-of-day`, `days-of-week` or `days-of-month`, `months`) and a config's
//! `triggers: - schedule: cron:` (five fields, UTC), both read into one [`Calendar`] whose
//! [`Calendar::next_after`] gives the next minute it fires.

use crate::Invalid;
use time::{Duration, OffsetDateTime, Time};

/// The minutes a schedule fires at, all in UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    minutes: [bool; 60],
    hours: [bool; 24],
    /// Days of the month (1–31); `None`: any.
    days_of_month: Option<[bool; 32]>,
    months: [bool; 13],
    /// Days of the week, 0 = Sunday; `None`: any.
    days_of_week: Option<[bool; 7]>,
}

/// CircleCI's week-day names, Sunday first (cron's 0).
pub const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
/// CircleCI's month names, January first (cron's 1).
pub const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

/// A scheduled pipeline's timetable, as API v2 gives it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Timetable {
    /// How many times an hour it fires, 1–60, evenly spread.
    #[serde(rename = "per-hour")]
    pub per_hour: u32,
    /// The hours (UTC) it fires in, 0–23.
    #[serde(rename = "hours-of-day")]
    pub hours_of_day: Vec<u32>,
    /// The days of the week, `MON`…`SUN` (or give `days-of-month`).
    #[serde(
        rename = "days-of-week",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub days_of_week: Vec<String>,
    /// The days of the month, 1–31 (or give `days-of-week`).
    #[serde(
        rename = "days-of-month",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub days_of_month: Vec<u32>,
    /// The months, `JAN`…`DEC`; every month when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub months: Vec<String>,
}

impl Timetable {
    /// The calendar this timetable describes, or what is wrong with it.
    pub fn calendar(&self) -> Result<Calendar, Invalid> {
        if !(1..=60).contains(&self.per_hour) {
            return Err(Invalid::new("timetable: per-hour must be 1 to 60"));
        }
        let mut minutes = [false; 60];
        for k in 0..self.per_hour {
            minutes[(k * 60 / self.per_hour) as usize] = true;
        }
        if self.hours_of_day.is_empty() {
            return Err(Invalid::new(
                "timetable: hours-of-day must name at least one hour",
            ));
        }
        let mut hours = [false; 24];
        for &h in &self.hours_of_day {
            *hours
                .get_mut(h as usize)
                .ok_or_else(|| Invalid::new(format!("timetable: hour {h} is not 0 to 23")))? = true;
        }
        let (days_of_week, days_of_month) =
            match (self.days_of_week.is_empty(), self.days_of_month.is_empty()) {
                (false, true) => {
                    let mut set = [false; 7];
                    for d in &self.days_of_week {
                        set[name_index(&WEEKDAYS, d, "day of the week")?] = true;
                    }
                    (Some(set), None)
                }
                (true, false) => {
                    let mut set = [false; 32];
                    for &d in &self.days_of_month {
                        if !(1..=31).contains(&d) {
                            return Err(Invalid::new(format!(
                                "timetable: day of the month {d} is not 1 to 31"
                            )));
                        }
                        set[d as usize] = true;
                    }
                    (None, Some(set))
                }
                _ => {
                    return Err(Invalid::new(
                        "timetable: give either days-of-week or days-of-month",
                    ));
                }
            };
        let mut months = [self.months.is_empty(); 13];
        months[0] = false;
        for m in &self.months {
            months[name_index(&MONTHS, m, "month")? + 1] = true;
        }
        Ok(Calendar {
            minutes,
            hours,
            days_of_month,
            months,
            days_of_week,
        })
    }
}

fn name_index(names: &[&str], given: &str, what: &str) -> Result<usize, Invalid> {
    names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(given.trim()))
        .ok_or_else(|| {
            Invalid::new(format!(
                "timetable: '{}' is not a {what} ({})",
                given.escape_debug(),
                names.join(", ")
            ))
        })
}

impl Calendar {
    /// Reads a five-field cron expression (`minute hour day-of-month month day-of-week`, UTC;
    /// `*`, `a`, `a-b`, `*/n`, `a-b/n`, lists, month and day names). When both day fields are
    /// restricted, a day matching either fires, as cron has it.
    pub fn cron(expr: &str) -> Result<Calendar, Invalid> {
        let fields: Vec<&str> = expr.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(Invalid::new(format!(
                "cron '{}' must have five fields: minute hour day month weekday",
                expr.escape_debug()
            )));
        }
        let minutes = field::<60>(fields[0], 0, 59, &[])?;
        let hours = field::<24>(fields[1], 0, 23, &[])?;
        let dom = field::<32>(fields[2], 1, 31, &[])?;
        let months = field::<13>(fields[3], 1, 12, &MONTHS)?;
        // 7 is Sunday too.
        let dow8 = field::<8>(fields[4], 0, 7, &WEEKDAYS)?;
        let mut dow = [false; 7];
        for (d, on) in dow8.iter().enumerate() {
            if *on {
                dow[d % 7] = true;
            }
        }
        let (dom_any, dow_any) = (fields[2] == "*", fields[4] == "*");
        let (days_of_month, days_of_week) = match (dom_any, dow_any) {
            (true, true) => (None, None),
            (false, true) => (Some(dom), None),
            (true, false) => (None, Some(dow)),
            // Both restricted: either (kept as both; `day_matches` ORs them).
            (false, false) => (Some(dom), Some(dow)),
        };
        Ok(Calendar {
            minutes,
            hours,
            days_of_month,
            months,
            days_of_week,
        })
    }

    fn day_matches(&self, t: OffsetDateTime) -> bool {
        if !self.months[u8::from(t.month()) as usize] {
            return false;
        }
        let dom = self.days_of_month.map(|s| s[t.day() as usize]);
        let dow = self
            .days_of_week
            .map(|s| s[t.weekday().number_days_from_sunday() as usize]);
        match (dom, dow) {
            (None, None) => true,
            (Some(a), None) | (None, Some(a)) => a,
            (Some(a), Some(b)) => a || b,
        }
    }

    /// The first minute strictly after `t` at which this calendar fires (UTC), looking at most
    /// eight years ahead; `None` when it never does (the 31st of February).
    pub fn next_after(&self, t: OffsetDateTime) -> Option<OffsetDateTime> {
        let t = t.to_offset(time::UtcOffset::UTC);
        let start =
            t.replace_time(Time::from_hms(t.hour(), t.minute(), 0).ok()?) + Duration::minutes(1);
        let mut day = start.replace_time(Time::MIDNIGHT);
        for _ in 0..(366 * 8) {
            if self.day_matches(day) {
                for h in 0..24u8 {
                    if !self.hours[h as usize] {
                        continue;
                    }
                    for m in 0..60u8 {
                        if !self.minutes[m as usize] {
                            continue;
                        }
                        let at = day.replace_time(Time::from_hms(h, m, 0).ok()?);
                        if at >= start {
                            return Some(at);
                        }
                    }
                }
            }
            day += Duration::days(1);
        }
        None
    }
}

/// One cron field as the set of values it names, `lo..=hi`, with `names` for `lo + index`.
fn field<const N: usize>(
    raw: &str,
    lo: u32,
    hi: u32,
    names: &[&str],
) -> Result<[bool; N], Invalid> {
    let bad = || Invalid::new(format!("cron field '{}' is not valid", raw.escape_debug()));
    let value = |s: &str| -> Result<u32, Invalid> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            // Month names start at 1, day names at 0.
            return Ok(i as u32 + if names.len() == 12 { 1 } else { 0 });
        }
        let v: u32 = s.parse().map_err(|_| bad())?;
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(bad())
        }
    };
    let mut set = [false; N];
    for part in raw.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().map_err(|_| bad())?),
            None => (part, 1),
        };
        if step == 0 || step > hi {
            return Err(bad());
        }
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let v = value(range)?;
            (v, if part.contains('/') { hi } else { v })
        };
        if a > b {
            return Err(bad());
        }
        let mut v = a;
        while v <= b {
            set[v as usize] = true;
            v += step;
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn timetable(per_hour: u32, hours: &[u32], days: &[&str]) -> Timetable {
        Timetable {
            per_hour,
            hours_of_day: hours.to_vec(),
            days_of_week: days.iter().map(|d| (*d).to_owned()).collect(),
            days_of_month: vec![],
            months: vec![],
        }
    }

    #[test]
    fn a_timetable_fires_evenly_in_its_hours_on_its_days() {
        // 2026-12-05 is a Saturday.
        let c = timetable(4, &[9, 17], &["MON", "SAT"]).calendar().unwrap();
        let t = datetime!(2026-12-05 09:00:00 UTC);
        assert_eq!(c.next_after(t), Some(datetime!(2026-12-05 09:15:00 UTC)));
        let t = datetime!(2026-12-05 17:45:00 UTC);
        assert_eq!(c.next_after(t), Some(datetime!(2026-12-07 09:00:00 UTC)));
        let t = datetime!(2026-12-05 08:59:30 UTC);
        assert_eq!(c.next_after(t), Some(datetime!(2026-12-05 09:00:00 UTC)));
    }

    #[test]
    fn days_of_month_and_months_restrict_it() {
        let mut tt = timetable(1, &[0], &[]);
        tt.days_of_month = vec![31];
        tt.months = vec!["FEB".into(), "MAR".into()];
        let c = tt.calendar().unwrap();
        assert_eq!(
            c.next_after(datetime!(2026-12-05 00:00:00 UTC)),
            Some(datetime!(2027-03-31 00:00:00 UTC))
        );
    }

    #[test]
    fn bad_timetables_say_why() {
        for (tt, why) in [
            (timetable(0, &[1], &["MON"]), "per-hour"),
            (timetable(61, &[1], &["MON"]), "per-hour"),
            (timetable(1, &[24], &["MON"]), "hour 24"),
            (timetable(1, &[], &["MON"]), "hours-of-day"),
            (timetable(1, &[1], &["FUNDAY"]), "FUNDAY"),
            (timetable(1, &[1], &[]), "either"),
        ] {
            let e = tt.calendar().unwrap_err().0;
            assert!(e.contains(why), "{e} should name {why}");
        }
    }

    #[test]
    fn cron_reads_lists_ranges_steps_and_names() {
        let c = Calendar::cron("*/15 3-4 * * MON-FRI").unwrap();
        // Saturday → Monday 03:00.
        assert_eq!(
            c.next_after(datetime!(2026-12-05 12:00:00 UTC)),
            Some(datetime!(2026-12-07 03:00:00 UTC))
        );
        let c = Calendar::cron("0 0 1 JAN,jul *").unwrap();
        assert_eq!(
            c.next_after(datetime!(2026-12-05 12:00:00 UTC)),
            Some(datetime!(2027-01-01 00:00:00 UTC))
        );
        // Day of month OR day of week, as cron has it: the 10th or any Sunday.
        let c = Calendar::cron("30 6 10 * 0").unwrap();
        assert_eq!(
            c.next_after(datetime!(2026-12-05 12:00:00 UTC)),
            Some(datetime!(2026-12-06 06:30:00 UTC))
        );
        assert_eq!(
            Calendar::cron("0 0 * * 7").unwrap(),
            Calendar::cron("0 0 * * 0").unwrap()
        );
        assert_eq!(
            Calendar::cron("0 0 30 2 *")
                .unwrap()
                .next_after(datetime!(2026-01-01 00:00:00 UTC)),
            None
        );
        for bad in [
            "",
            "* * * *",
            "60 * * * *",
            "* * 0 * *",
            "*/0 * * * *",
            "5-1 * * * *",
            "a * * * *",
            "5/4294967295 * * * *",
        ] {
            assert!(Calendar::cron(bad).is_err(), "{bad}");
        }
    }
}
