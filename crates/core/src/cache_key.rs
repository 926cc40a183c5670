//! Cache key templates, as `save_cache` and `restore_cache` write them:
//! `deps-{{ .Branch }}-{{ checksum "Cargo.lock" }}`. Rendering reads nothing itself: the runner
//! supplies what a template may ask for (the environment, a file's checksum), so the rules live
//! here and the I/O stays in the runner.

/// What a template can name.
pub struct KeyValues<'a> {
    /// `{{ .Branch }}`: the branch built (empty for a tag).
    pub branch: &'a str,
    /// `{{ .Revision }}`: the revision built.
    pub revision: &'a str,
    /// `{{ .BuildNum }}`: the build's number.
    pub build_num: i64,
    /// `{{ epoch }}`: seconds since 1970.
    pub epoch: u64,
    /// `{{ arch }}`: the OS and CPU, as CircleCI spells them (`linux-amd64`).
    pub arch: &'a str,
    /// `{{ .Environment.NAME }}`: a variable of the job's environment.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// `{{ checksum "FILE" }}`: the file's checksum, or why there is none.
    pub checksum: &'a mut dyn FnMut(&str) -> Result<String, String>,
}

/// The longest key a cache may be saved under, after rendering (CircleCI's limit).
pub const MAX_KEY_LEN: usize = 900;

/// `template` with every `{{ … }}` replaced, or why it cannot be: an unknown name, an unclosed
/// `{{`, a file that cannot be read. An unset variable renders as `<no value>`, as on CircleCI.
pub fn render(template: &str, values: &mut KeyValues<'_>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("cache key '{template}' has a `{{{{` without `}}}}`"))?;
        out.push_str(&value(after[..end].trim(), template, values)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn value(expr: &str, template: &str, values: &mut KeyValues<'_>) -> Result<String, String> {
    match expr {
        ".Branch" => return Ok(values.branch.to_owned()),
        ".Revision" => return Ok(values.revision.to_owned()),
        ".BuildNum" => return Ok(values.build_num.to_string()),
        "epoch" => return Ok(values.epoch.to_string()),
        "arch" => return Ok(values.arch.to_owned()),
        _ => {}
    }
    if let Some(name) = expr.strip_prefix(".Environment.") {
        // Go's templates, which CircleCI renders keys with, print a missing value so.
        return Ok((values.env)(name).unwrap_or_else(|| "<no value>".to_owned()));
    }
    if let Some(arg) = expr.strip_prefix("checksum") {
        let file = arg
            .trim()
            .strip_prefix('"')
            .and_then(|f| f.strip_suffix('"'))
            .filter(|f| !f.is_empty())
            .ok_or_else(|| {
                format!("cache key '{template}': write checksum with a quoted file name, like {{{{ checksum \"Cargo.lock\" }}}}")
            })?;
        return (values.checksum)(file)
            .map_err(|e| format!("cache key '{template}': checksum of {file}: {e}"));
    }
    Err(format!(
        "cache key '{template}' uses {{{{ {expr} }}}}; the templates are .Branch, .Revision, .BuildNum, .Environment.NAME, checksum \"FILE\", epoch and arch"
    ))
}

/// CircleCI's `{{ arch }}` for this machine: `linux-amd64`, `darwin-arm64`, …
pub fn host_arch() -> String {
    let cpu = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    format!("{}-{cpu}", std::env::consts::OS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_with(template: &str) -> Result<String, String> {
        let env = |name: &str| (name == "NODE").then(|| "20".to_owned());
        let mut asked = Vec::new();
        let mut checksum = |file: &str| {
            asked.push(file.to_owned());
            match file {
                "package-lock.json" => Ok("q1w2e3".to_owned()),
                _ => Err("no such file".to_owned()),
            }
        };
        let mut values = KeyValues {
            branch: "main",
            revision: "abc123",
            build_num: 42,
            epoch: 1_700_000_000,
            arch: "linux-amd64",
            env: &env,
            checksum: &mut checksum,
        };
        render(template, &mut values)
    }

    #[test]
    fn every_template_renders() {
        assert_eq!(
            render_with("v1-{{ .Branch }}-{{.Revision}}-{{ .BuildNum }}-{{ epoch }}-{{ arch }}"),
            Ok("v1-main-abc123-42-1700000000-linux-amd64".to_owned())
        );
        assert_eq!(
            render_with("deps-{{ .Environment.NODE }}-{{ checksum \"package-lock.json\" }}"),
            Ok("deps-20-q1w2e3".to_owned())
        );
        assert_eq!(render_with("plain-key"), Ok("plain-key".to_owned()));
    }

    #[test]
    fn what_cannot_render_says_why() {
        let e = render_with("v1-{{ .Brunch }}").unwrap_err();
        assert!(e.contains("uses {{ .Brunch }}; the templates are"), "{e}");
        let e = render_with("v1-{{ .Branch").unwrap_err();
        assert!(e.contains("has a `{{` without `}}`"), "{e}");
        assert_eq!(
            render_with("v1-{{ .Environment.MISSING }}"),
            Ok("v1-<no value>".to_owned()),
            "an unset variable renders as CircleCI's Go templates render it"
        );
        let e = render_with("v1-{{ checksum \"nope.lock\" }}").unwrap_err();
        assert!(e.contains("checksum of nope.lock: no such file"), "{e}");
        let e = render_with("v1-{{ checksum nope.lock }}").unwrap_err();
        assert!(e.contains("quoted file name"), "{e}");
    }

    #[test]
    fn the_host_arch_reads_as_circleci_writes_it() {
        let arch = host_arch();
        assert!(arch.starts_with(std::env::consts::OS), "{arch}");
        assert!(!arch.contains("x86_64"), "{arch}");
    }
}
