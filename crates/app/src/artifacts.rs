//! Artifacts' bytes: where they live ([`ArtifactStorage`], an `object_store` — a local directory
//! or an S3-compatible bucket) and under which keys. Receiving uploads and serving downloads is
//! HTTP's (`circlet_server::artifacts`).
//!
//! Every object key is `<project uuid>/<build_num>/<node>/<path>` with `path` an
//! [`ArtifactPath`] (no `..`, no empty or absolute segments), so no upload can land outside its
//! build's prefix. A row in the store (`job_artifacts`) is written only after the upload
//! completed; what is listed can be downloaded.

use anyhow::{Context, bail};
use circlet_core::artifact_path::ArtifactPath;
use circlet_core::badge_snippets::encode_segment;
use circlet_store::Project;
use object_store::ObjectStore;
use object_store::path::{Path as ObjectPath, PathPart};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

/// 5 GiB: the default largest single artifact (S3's largest single `PUT`, and far above what a
/// CI log or report needs, while still catching a runaway `store_artifacts` of a disk image).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// 20 GiB: the default total of one build's artifacts.
pub const DEFAULT_MAX_BUILD_BYTES: u64 = 20 * 1024 * 1024 * 1024;

/// Where artifacts are kept, and how large they may be.
#[derive(Debug, Clone)]
pub struct ArtifactStorage {
    /// The object store holding the bytes.
    pub store: Arc<dyn ObjectStore>,
    /// Where it is, for messages and `config check` (`file:///…`, `s3://bucket/prefix`).
    pub location: String,
    /// The largest single artifact accepted, in bytes.
    pub max_file_bytes: u64,
    /// The largest total of one build's artifacts, in bytes.
    pub max_build_bytes: u64,
    /// The same store when it is a local directory: downloads read its files directly, in
    /// large chunks (`object_store` reads local files 8 KiB at a time, a blocking-pool hop each).
    pub local: Option<Arc<object_store::local::LocalFileSystem>>,
}

/// Credentials for an S3 bucket given in configuration rather than by the `AWS_*` environment.
#[derive(Debug)]
pub struct S3Credentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: SecretString,
}

impl ArtifactStorage {
    fn new(store: Arc<dyn ObjectStore>, location: String) -> Self {
        ArtifactStorage {
            store,
            location,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_build_bytes: DEFAULT_MAX_BUILD_BYTES,
            local: None,
        }
    }

    /// Kept in memory: for tests and as the default before `serve` configures storage.
    pub fn in_memory() -> Self {
        Self::new(
            Arc::new(object_store::memory::InMemory::new()),
            "memory".into(),
        )
    }

    /// Files under `dir` (created when missing).
    pub fn local(dir: &std::path::Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the artifacts directory {}", dir.display()))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
            .with_context(|| format!("cannot use {} for artifacts", dir.display()))?
            // Removing an artifact also removes directories it leaves empty.
            .with_automatic_cleanup(true)
            // The row that lists an artifact is committed durably (SQLite FULL, PostgreSQL), so
            // its bytes must be on disk before it is written: listed means downloadable, after
            // a power loss too.
            .with_fsync(true);
        let location = format!("file://{}", dir.display());
        let store = Arc::new(store);
        Ok(ArtifactStorage {
            local: Some(store.clone()),
            ..Self::new(store, location)
        })
    }

    /// An S3 bucket at `url` (`s3://bucket` or `s3://bucket/prefix`). Credentials, region and
    /// the like come from the usual `AWS_*` environment variables unless `credentials` are
    /// given; `endpoint` names an S3-compatible server instead of AWS (plain `http://` only on a
    /// loopback address, where nobody can listen in).
    pub fn s3(
        url: &str,
        endpoint: Option<&str>,
        credentials: Option<S3Credentials>,
    ) -> anyhow::Result<Self> {
        let (bucket, prefix) = parse_s3_url(url)?;
        let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(&bucket);
        if let Some(endpoint) = endpoint {
            let parsed = endpoint_scheme(endpoint)?;
            if parsed.0 == "http" {
                if !parsed.1 {
                    bail!(
                        "S3 endpoint '{endpoint}' uses plain http on a non-loopback host; use https"
                    );
                }
                builder = builder.with_allow_http(true);
            }
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(c) = credentials {
            builder = builder
                .with_access_key_id(c.access_key_id)
                .with_secret_access_key(c.secret_access_key.expose_secret());
        }
        let s3 = builder
            .build()
            .with_context(|| format!("cannot use the S3 bucket '{bucket}' for artifacts"))?;
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(object_store::prefix::PrefixStore::new(
                s3,
                ObjectPath::from(prefix.as_str()),
            ))
        };
        let location = if prefix.is_empty() {
            format!("s3://{bucket}")
        } else {
            format!("s3://{bucket}/{prefix}")
        };
        Ok(Self::new(store, location))
    }

    /// Removes, under the local artifacts directory `dir`, the partial files of uploads that a
    /// crash (kill -9, power loss) cut short: `object_store` writes an upload to `<file>#<n>` and
    /// renames it on completion, so such a file is never listed, only wasted space. Only files
    /// last written before `before` (the server's start) go, so that uploads begun since are
    /// left alone; an artifact's own name never holds a raw `#` (keys escape it). Returns how
    /// many were removed.
    pub fn remove_abandoned_uploads(
        dir: &std::path::Path,
        before: std::time::SystemTime,
    ) -> std::io::Result<usize> {
        let mut removed = 0;
        let mut pending = vec![dir.to_path_buf()];
        while let Some(d) = pending.pop() {
            for entry in std::fs::read_dir(&d)? {
                let entry = entry?;
                // Not followed: a link out of the directory is nobody's upload.
                let kind = entry.file_type()?;
                if kind.is_dir() {
                    pending.push(entry.path());
                } else if kind.is_file()
                    && is_staging_name(&entry.file_name().to_string_lossy())
                    && entry.metadata()?.modified()? < before
                {
                    std::fs::remove_file(entry.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// The same storage with other limits.
    pub fn with_limits(mut self, max_file_bytes: u64, max_build_bytes: u64) -> Self {
        self.max_file_bytes = max_file_bytes;
        self.max_build_bytes = max_build_bytes;
        self
    }
}

/// Whether a file name is that of an upload in progress in `LocalFileSystem`: `<name>#<digits>`.
fn is_staging_name(name: &str) -> bool {
    name.rsplit_once('#')
        .is_some_and(|(_, suffix)| !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()))
}

/// `s3://bucket/some/prefix/` → (`bucket`, `some/prefix`).
fn parse_s3_url(url: &str) -> anyhow::Result<(String, String)> {
    let Some(rest) = url.strip_prefix("s3://") else {
        bail!("artifacts URL '{url}' must start with s3://");
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty()
        || !bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.'))
    {
        bail!("artifacts URL '{url}' must name a bucket: s3://bucket or s3://bucket/prefix");
    }
    let prefix = prefix.trim_matches('/');
    if !prefix.is_empty() && ArtifactPath::parse(prefix).is_err() {
        bail!("the prefix of artifacts URL '{url}' must be a plain relative path");
    }
    Ok((bucket.to_owned(), prefix.to_owned()))
}

/// The scheme of an endpoint URL and whether its host is a loopback address.
fn endpoint_scheme(endpoint: &str) -> anyhow::Result<(String, bool)> {
    let (scheme, rest) = endpoint
        .split_once("://")
        .with_context(|| format!("S3 endpoint '{endpoint}' must be an http(s):// URL"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        bail!("S3 endpoint '{endpoint}' must be an http(s):// URL");
    }
    let authority = rest.split('/').next().unwrap_or("");
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    Ok((scheme, loopback))
}

/// The object key of an artifact: `<project uuid>/<build_num>/<node>/<path>`. Each segment is
/// one [`PathPart`] (which escapes what object stores treat specially), and the path's segments
/// are never `.`, `..` or empty, so the key always lies under its build's prefix.
pub fn object_key(project: &Project, build_num: i64, node: i64, path: &ArtifactPath) -> ObjectPath {
    let head = [
        PathPart::from(project.uuid.to_string()),
        PathPart::from(build_num.to_string()),
        PathPart::from(node.to_string()),
    ];
    ObjectPath::from_iter(head.into_iter().chain(path.segments().map(PathPart::from)))
}

/// Where an artifact is downloaded: `<public url>/artifacts/<vcs>/<org>/<repo>/<build>/<node>/<path>`,
/// each segment percent-encoded, with no query string of its own (clients append
/// `?circle-token=…`).
pub fn download_url(
    public_url: &str,
    project: &Project,
    build_num: i64,
    node: i64,
    path: &ArtifactPath,
) -> String {
    let slug = &project.slug;
    let mut url = format!(
        "{public_url}/artifacts/{}/{}/{}/{build_num}/{node}",
        slug.vcs().short(),
        encode_segment(slug.org()),
        encode_segment(slug.repo())
    );
    for segment in path.segments() {
        url.push('/');
        url.push_str(&encode_segment(segment));
    }
    url
}

/// The `Content-Type` an artifact is stored with, from its file name.
pub fn content_type_of(path: &ArtifactPath) -> String {
    mime_guess::from_path(path.file_name())
        .first_or_octet_stream()
        .essence_str()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn uploads_cut_short_before_a_start_are_removed_and_nothing_else() {
        use object_store::ObjectStoreExt as _;
        let tmp = tempfile::tempdir().unwrap();
        let storage = ArtifactStorage::local(tmp.path()).unwrap();
        let key = ObjectPath::from("p/1/0/done #1.txt");
        storage.store.put(&key, "whole".into()).await.unwrap();
        let deep = tmp.path().join("p/2/0/out");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(deep.join("big.bin#1"), "partial").unwrap();
        std::fs::write(deep.join("big.bin#12"), "partial").unwrap();
        std::fs::write(deep.join("x#y"), "not staging").unwrap();
        let started = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        let removed = ArtifactStorage::remove_abandoned_uploads(tmp.path(), started).unwrap();
        assert_eq!(removed, 2);
        assert!(!deep.join("big.bin#1").exists());
        assert!(deep.join("x#y").exists());
        assert_eq!(
            storage
                .store
                .get(&key)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
            "whole"
        );
        // An upload begun after the start is left alone.
        std::fs::write(deep.join("new.bin#1"), "in progress").unwrap();
        let earlier = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        assert_eq!(
            ArtifactStorage::remove_abandoned_uploads(tmp.path(), earlier).unwrap(),
            0
        );
        assert!(deep.join("new.bin#1").exists());
    }

    #[test]
    fn staging_names_are_told_from_artifact_names() {
        assert!(is_staging_name("report.txt#1"));
        assert!(is_staging_name("a#b#23"));
        assert!(!is_staging_name("report.txt"));
        assert!(!is_staging_name("report#"));
        assert!(!is_staging_name("x#y"));
    }

    #[test]
    fn s3_urls_name_a_bucket_and_an_optional_prefix() {
        assert_eq!(
            parse_s3_url("s3://ci-artifacts").unwrap(),
            ("ci-artifacts".into(), String::new())
        );
        assert_eq!(
            parse_s3_url("s3://b/circlet/prod/").unwrap(),
            ("b".into(), "circlet/prod".into())
        );
        for bad in [
            "b",
            "s3://",
            "s3:///x",
            "s3://B",
            "s3://b/../x",
            "https://b",
        ] {
            assert!(parse_s3_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plain_http_endpoints_only_on_loopback() {
        assert_eq!(
            endpoint_scheme("http://127.0.0.1:9000").unwrap(),
            ("http".into(), true)
        );
        assert_eq!(
            endpoint_scheme("http://localhost:9000/").unwrap(),
            ("http".into(), true)
        );
        assert_eq!(
            endpoint_scheme("http://[::1]:9000").unwrap(),
            ("http".into(), true)
        );
        assert_eq!(
            endpoint_scheme("http://minio.internal:9000").unwrap(),
            ("http".into(), false)
        );
        assert!(ArtifactStorage::s3("s3://b", Some("http://10.0.0.1:9000"), None).is_err());
        assert!(endpoint_scheme("ftp://x").is_err());
    }

    #[test]
    fn keys_stay_under_the_build_prefix() {
        let project = Project {
            id: 1,
            uuid: uuid::Uuid::nil(),
            slug: circlet_core::ProjectSlug::parse("gh/a/b").unwrap(),
            repo_url: circlet_core::RepoUrl::parse("file:///tmp/x").unwrap(),
            default_branch: circlet_core::BranchName::parse("main").unwrap(),
            public: false,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            builds: Default::default(),
            poll_interval_secs: None,
        };
        let key = object_key(
            &project,
            7,
            0,
            &ArtifactPath::parse("a b/#1/%2e%2e/x.txt").unwrap(),
        );
        let prefix = "00000000-0000-0000-0000-000000000000/7/0/";
        assert!(key.as_ref().starts_with(prefix), "{key}");
        assert_eq!(key.parts().count(), 7);
        assert!(key.parts().all(|p| p.as_ref() != ".." && p.as_ref() != "."));
    }

    #[test]
    fn download_urls_encode_each_segment_and_carry_no_query() {
        let project = Project {
            id: 1,
            uuid: uuid::Uuid::nil(),
            slug: circlet_core::ProjectSlug::parse("github/Acme/widget").unwrap(),
            repo_url: circlet_core::RepoUrl::parse("file:///tmp/x").unwrap(),
            default_branch: circlet_core::BranchName::parse("main").unwrap(),
            public: false,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            builds: Default::default(),
            poll_interval_secs: None,
        };
        let url = download_url(
            "https://ci.example",
            &project,
            12,
            0,
            &ArtifactPath::parse("test results/a?b#c/ü.txt").unwrap(),
        );
        assert_eq!(
            url,
            "https://ci.example/artifacts/gh/Acme/widget/12/0/test%20results/a%3Fb%23c/%C3%BC.txt"
        );
    }

    #[test]
    fn content_types_come_from_the_file_name() {
        let t = |p: &str| content_type_of(&ArtifactPath::parse(p).unwrap());
        assert_eq!(t("a/report.html"), "text/html");
        assert_eq!(t("x.svg"), "image/svg+xml");
        assert_eq!(t("x.txt"), "text/plain");
        assert_eq!(t("x.png"), "image/png");
        assert_eq!(t("noext"), "application/octet-stream");
    }
}
