//! Orbs: references like `circleci/node@5.1`, how a version range picks a published version,
//! and where published orbs come from ([`OrbSource`]: the server's registry, or none).

use std::collections::BTreeMap;
use std::fmt;

/// An orb version, `X.Y.Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrbVersion(pub u64, pub u64, pub u64);

impl fmt::Display for OrbVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

impl std::str::FromStr for OrbVersion {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let mut parts = s.split('.').map(number);
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(Some(a)), Some(Some(b)), Some(Some(c)), None) => Ok(OrbVersion(a, b, c)),
            _ => Err(()),
        }
    }
}

fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// Which versions a reference accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionRange {
    /// `@1.2.3`: that one.
    Exact(OrbVersion),
    /// `@1.2`: the newest 1.2.x.
    Minor(u64, u64),
    /// `@1`: the newest 1.x.y.
    Major(u64),
    /// `@volatile`: the newest of all.
    Volatile,
}

impl VersionRange {
    /// Whether `v` is in the range.
    pub fn accepts(&self, v: OrbVersion) -> bool {
        match *self {
            VersionRange::Exact(x) => x == v,
            VersionRange::Minor(a, b) => v.0 == a && v.1 == b,
            VersionRange::Major(a) => v.0 == a,
            VersionRange::Volatile => true,
        }
    }

    /// The newest of `published` in the range.
    pub fn pick(&self, published: impl IntoIterator<Item = OrbVersion>) -> Option<OrbVersion> {
        published.into_iter().filter(|v| self.accepts(*v)).max()
    }
}

impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionRange::Exact(v) => write!(f, "{v}"),
            VersionRange::Minor(a, b) => write!(f, "{a}.{b}"),
            VersionRange::Major(a) => write!(f, "{a}"),
            VersionRange::Volatile => f.write_str("volatile"),
        }
    }
}

/// `namespace/name@version` as a config writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrbRef {
    /// The namespace (`circleci`).
    pub namespace: String,
    /// The orb's name (`node`).
    pub name: String,
    /// The versions it accepts.
    pub range: VersionRange,
}

impl OrbRef {
    /// `namespace/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

impl fmt::Display for OrbRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}@{}", self.namespace, self.name, self.range)
    }
}

/// Whether `s` is a valid orb namespace or name: lowercase letters, digits, `-` and `_`,
/// starting with a letter or digit, at most 100 characters.
pub fn valid_orb_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && s.as_bytes()[0].is_ascii_alphanumeric()
}

impl std::str::FromStr for OrbRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "'{}' is not an orb reference like `namespace/name@1.2.3`",
                s.escape_debug()
            )
        };
        let (path, version) = s.split_once('@').ok_or_else(bad)?;
        let (namespace, name) = path.split_once('/').ok_or_else(bad)?;
        if !valid_orb_name(namespace) || !valid_orb_name(name) {
            return Err(bad());
        }
        let range = if version == "volatile" {
            VersionRange::Volatile
        } else {
            let parts: Vec<Option<u64>> = version.split('.').map(number).collect();
            match parts.as_slice() {
                [Some(a)] => VersionRange::Major(*a),
                [Some(a), Some(b)] => VersionRange::Minor(*a, *b),
                [Some(a), Some(b), Some(c)] => VersionRange::Exact(OrbVersion(*a, *b, *c)),
                _ if version.starts_with("dev:") => {
                    return Err(format!(
                        "'{s}' names a development version; circlet's registry holds released versions (X.Y.Z) only"
                    ));
                }
                _ => return Err(bad()),
            }
        };
        Ok(OrbRef {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            range,
        })
    }
}

/// A published orb, as a registry hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedOrb {
    /// The version the reference resolved to.
    pub version: OrbVersion,
    /// Its packed YAML (what `circleci orb pack` makes).
    pub source: String,
}

/// Where orbs named by reference are found.
pub trait OrbSource {
    /// The newest published version `orb` accepts, `Ok(None)` if none is published, `Err`
    /// when the registry could not be read.
    fn find(&self, orb: &OrbRef) -> Result<Option<PublishedOrb>, String>;
}

/// No registry: every orb reference is "not published".
#[derive(Debug, Clone, Copy, Default)]
pub struct NoOrbs;

impl OrbSource for NoOrbs {
    fn find(&self, _: &OrbRef) -> Result<Option<PublishedOrb>, String> {
        Ok(None)
    }
}

/// Orbs held in memory, by `namespace/name` and version: for tests, and for the CLI reading
/// a directory of packed orbs.
#[derive(Debug, Clone, Default)]
pub struct MemoryOrbs(pub BTreeMap<String, BTreeMap<OrbVersion, String>>);

impl MemoryOrbs {
    /// Adds `source` as `namespace/name@version`.
    pub fn publish(&mut self, full_name: &str, version: OrbVersion, source: impl Into<String>) {
        self.0
            .entry(full_name.to_owned())
            .or_default()
            .insert(version, source.into());
    }
}

impl OrbSource for MemoryOrbs {
    fn find(&self, orb: &OrbRef) -> Result<Option<PublishedOrb>, String> {
        let Some(versions) = self.0.get(&orb.full_name()) else {
            return Ok(None);
        };
        Ok(orb
            .range
            .pick(versions.keys().copied())
            .map(|v| PublishedOrb {
                version: v,
                source: versions[&v].clone(),
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_and_ranges_pick_the_newest_they_accept() {
        let r: OrbRef = "circleci/node@5.1".parse().unwrap();
        assert_eq!(r.full_name(), "circleci/node");
        assert_eq!(r.range, VersionRange::Minor(5, 1));
        let published = [
            OrbVersion(5, 0, 9),
            OrbVersion(5, 1, 0),
            OrbVersion(5, 1, 12),
            OrbVersion(6, 0, 0),
        ];
        assert_eq!(r.range.pick(published), Some(OrbVersion(5, 1, 12)));
        let major: OrbRef = "circleci/node@5".parse().unwrap();
        assert_eq!(major.range.pick(published), Some(OrbVersion(5, 1, 12)));
        let exact: OrbRef = "circleci/node@5.0.9".parse().unwrap();
        assert_eq!(exact.range.pick(published), Some(OrbVersion(5, 0, 9)));
        let volatile: OrbRef = "circleci/node@volatile".parse().unwrap();
        assert_eq!(volatile.range.pick(published), Some(OrbVersion(6, 0, 0)));
        let none: OrbRef = "circleci/node@4".parse().unwrap();
        assert_eq!(none.range.pick(published), None);
        assert_eq!(exact.to_string(), "circleci/node@5.0.9");
    }

    #[test]
    fn malformed_references_are_refused() {
        for bad in [
            "node@1",
            "circleci/node",
            "circleci/node@",
            "circleci/node@1.2.3.4",
            "circleci/node@01.2",
            "Circle/node@1",
            "a/b@x",
        ] {
            assert!(bad.parse::<OrbRef>().is_err(), "{bad}");
        }
        assert!(
            "circleci/node@dev:alpha"
                .parse::<OrbRef>()
                .unwrap_err()
                .contains("development version")
        );
    }
}
