//! The expiry and Replace fields of the token forms: the lifetimes the instance allows, each
//! choice naming the day it ends, and what a Replace form asks to change.

use circlet_app::tokens::{self, LIFETIME_PRESETS, Lifetime, TokenPolicy};
use circlet_core::Invalid;
use circlet_core::scope::ProjectScope;
use circlet_store::TokenRecord;
use time::{Duration, OffsetDateTime};

/// One choice of the expiry select.
pub struct ExpiryOption {
    /// The form value: days, `custom` or `never`.
    pub value: String,
    /// What the user reads.
    pub label: String,
    /// Whether it is the chosen one.
    pub selected: bool,
}

/// The expiry fields of a creation form, ready to render.
pub struct ExpiryChoices {
    /// The select's options.
    pub options: Vec<ExpiryOption>,
    /// The custom date typed so far.
    pub date: String,
    /// The earliest date the date input offers (tomorrow).
    pub min_date: String,
    /// The latest date it offers, when the instance caps lifetimes.
    pub max_date: Option<String>,
}

/// `d` as `YYYY-MM-DD`, as date inputs and expiry choices write it.
pub fn iso_date(d: time::Date) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]");
    d.format(&f).unwrap_or_default()
}

impl ExpiryChoices {
    /// The choices `policy` allows, with `selected` (a form value) chosen and `date` kept.
    pub fn new(policy: &TokenPolicy, selected: &str, date: &str) -> Self {
        let max = policy.max_lifetime_days;
        let mut days: Vec<u32> = LIFETIME_PRESETS
            .into_iter()
            .filter(|d| max.is_none_or(|m| *d <= m))
            .collect();
        if let Some(m) = max
            && !days.contains(&m)
        {
            days.push(m);
        }
        let today = OffsetDateTime::now_utc().date();
        let mut options: Vec<(String, String)> = days
            .into_iter()
            .map(|d| {
                let until = iso_date(today + Duration::days(i64::from(d)));
                (d.to_string(), format!("{d} days · until {until}"))
            })
            .collect();
        options.push(("custom".into(), "Custom date".into()));
        if max.is_none() {
            options.push(("never".into(), "No expiry".into()));
        }
        let selected = if options.iter().any(|(v, _)| v == selected) {
            selected.to_owned()
        } else {
            options[0].0.clone()
        };
        ExpiryChoices {
            options: options
                .into_iter()
                .map(|(value, label)| ExpiryOption {
                    selected: value == selected,
                    value,
                    label,
                })
                .collect(),
            date: date.to_owned(),
            min_date: iso_date(today.next_day().unwrap_or(today)),
            max_date: max.map(|m| iso_date(today + Duration::days(i64::from(m)))),
        }
    }
}

impl ExpiryChoices {
    /// The choices for replacing `old`: first, and chosen, the lifetime it has (counted from
    /// now, as a replacement counts it), then those a new token may have.
    pub fn replacing(policy: &TokenPolicy, old: &TokenRecord) -> Self {
        let mut choices = ExpiryChoices::new(policy, KEEP_LIFETIME, "");
        let label = match old.expires_at {
            None => "As now: no expiry".to_owned(),
            Some(at) => {
                let days = (at - old.created_at).whole_days();
                let until = OffsetDateTime::now_utc().date() + Duration::days(days);
                format!("As now: {days} days · until {}", iso_date(until))
            }
        };
        for o in &mut choices.options {
            o.selected = false;
        }
        choices.options.insert(
            0,
            ExpiryOption {
                value: KEEP_LIFETIME.into(),
                label,
                selected: true,
            },
        );
        choices
    }
}

/// The expiry choice that keeps a replaced token's lifetime.
const KEEP_LIFETIME: &str = "same";

/// The Replace form: every field optional, each left out keeps what the token has.
#[derive(serde::Deserialize, Default)]
pub struct ReplaceForm {
    /// A project token's new scope (the narrower-scope hint's one step).
    #[serde(default)]
    scope: String,
    /// A new expiry choice; absent or `same` keeps the lifetime.
    #[serde(default)]
    expiry: String,
    /// The custom date, when `expiry` is `custom`.
    #[serde(default)]
    expires_on: String,
}

impl ReplaceForm {
    /// What the form asks the replacement to change.
    pub fn replacement(&self) -> Result<tokens::Replacement, Invalid> {
        let scope = match self.scope.trim() {
            "" => None,
            s => Some(
                ProjectScope::parse(s)
                    .map_err(|_| Invalid::new("Choose a scope: Status, Build Artifacts or All."))?,
            ),
        };
        let lifetime = match self.expiry.trim() {
            "" | KEEP_LIFETIME => None,
            e => Some(parse_lifetime(
                e,
                &self.expires_on,
                OffsetDateTime::now_utc().date(),
            )?),
        };
        Ok(tokens::Replacement { scope, lifetime })
    }
}

/// The lifetime a creation form asks for; the policy's own limits are checked afterwards.
pub fn parse_lifetime(expiry: &str, date: &str, today: time::Date) -> Result<Lifetime, Invalid> {
    match expiry.trim() {
        "never" => Ok(Lifetime::Never),
        "custom" => {
            let f = time::macros::format_description!("[year]-[month]-[day]");
            let day = time::Date::parse(date.trim(), &f)
                .map_err(|_| Invalid::new("Choose an expiry date (YYYY-MM-DD)."))?;
            if day <= today {
                return Err(Invalid::new("The expiry date must be after today."));
            }
            Ok(Lifetime::Until(day.midnight().assume_utc()))
        }
        days => match days.parse::<u32>() {
            Ok(d) if d > 0 => Ok(Lifetime::Days(d)),
            _ => Err(Invalid::new("Choose when the token expires.")),
        },
    }
}
