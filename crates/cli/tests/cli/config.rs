//! `circlet config check`: the effective settings, where each comes from, secrets masked.

use crate::{Run, circlet};
use std::fs;

/// The value of `key = value` in `config check`'s output, quotes removed.
fn setting<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no {key} in:\n{out}"))
        .trim_matches('"')
}

#[test]
fn database_passwords_are_masked() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = circlet(tmp.path());
    cmd.args([
        "--database-url",
        "postgres://u:pa55w0rd-x7@h/db",
        "config",
        "check",
    ]);
    let run = Run::of(cmd, None);
    let out = run.ok();
    assert_eq!(setting(out, "database_url"), "postgres://u:****@h/db");
    assert!(!out.contains("pa55w0rd-x7"), "{out}");
    assert!(!run.stderr.contains("pa55w0rd-x7"), "{}", run.stderr);

    // The same from the environment and from a config file.
    let mut cmd = circlet(tmp.path());
    cmd.env(
        "CIRCLET_DATABASE_URL",
        "postgresql://u:hunter2hunter2@h:5432/db",
    )
    .args(["config", "check"]);
    let run = Run::of(cmd, None);
    let out = run.ok();
    assert_eq!(
        setting(out, "database_url"),
        "postgresql://u:****@h:5432/db"
    );
    assert!(!out.contains("hunter2"), "{out}");

    fs::write(
        tmp.path().join("c.toml"),
        "database_url = \"postgres://ci:s3cr3t@db.internal/circlet\"\n",
    )
    .unwrap();
    let mut cmd = circlet(tmp.path());
    cmd.args(["--config", "c.toml", "config", "check"]);
    let run = Run::of(cmd, None);
    let out = run.ok();
    assert_eq!(
        setting(out, "database_url"),
        "postgres://ci:****@db.internal/circlet"
    );
    assert!(!out.contains("s3cr3t"), "{out}");
}

#[test]
fn defaults_apply_when_nothing_is_set() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = circlet(tmp.path());
    cmd.args(["config", "check"]);
    let run = Run::of(cmd, None);
    let out = run.ok();
    assert_eq!(setting(out, "config_file"), "(none)");
    assert_eq!(setting(out, "listen"), "127.0.0.1:8080");
    assert_eq!(setting(out, "data_dir"), "circlet-data");
    assert_eq!(
        setting(out, "database_url"),
        "sqlite://circlet-data/circlet.db"
    );
    assert_eq!(setting(out, "public_url"), "http://127.0.0.1:8080");
    assert!(
        !tmp.path().join("circlet-data").exists(),
        "config check must not create the data dir"
    );
}

#[test]
fn a_flag_beats_the_environment_which_beats_the_file_which_beats_the_default() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(
        tmp.path().join("circlet.toml"),
        "listen = \"127.0.0.1:9001\"\ndata_dir = \"/srv/from-file\"\npublic_url = \"https://ci.example/\"\n",
    )
    .unwrap();
    let file = Some("circlet.toml");
    let env = Some("127.0.0.1:9002");
    let flag = Some("127.0.0.1:9003");
    // (config file, CIRCLET_LISTEN, --listen) → effective listen address
    let cases = [
        (None, None, None, "127.0.0.1:8080"),
        (file, None, None, "127.0.0.1:9001"),
        (file, env, None, "127.0.0.1:9002"),
        (None, env, None, "127.0.0.1:9002"),
        (file, env, flag, "127.0.0.1:9003"),
        (None, None, flag, "127.0.0.1:9003"),
        (file, None, flag, "127.0.0.1:9003"),
    ];
    for (config, env_listen, flag_listen, expected) in cases {
        let mut cmd = circlet(tmp.path());
        if let Some(path) = config {
            cmd.args(["--config", path]);
        }
        if let Some(addr) = env_listen {
            cmd.env("CIRCLET_LISTEN", addr);
        }
        if let Some(addr) = flag_listen {
            cmd.args(["--listen", addr]);
        }
        cmd.args(["config", "check"]);
        let run = Run::of(cmd, None);
        let out = run.ok();
        let case = format!("file {config:?}, env {env_listen:?}, flag {flag_listen:?}");
        assert_eq!(setting(out, "listen"), expected, "{case}:\n{out}");
        // Settings not overridden still come from the file.
        let (data_dir, public_url) = match config {
            Some(_) => ("/srv/from-file", "https://ci.example".to_owned()),
            None => ("circlet-data", format!("http://{expected}")),
        };
        assert_eq!(setting(out, "data_dir"), data_dir, "{case}:\n{out}");
        assert_eq!(setting(out, "public_url"), public_url, "{case}:\n{out}");
    }

    // The config file itself can come from the environment.
    let mut cmd = circlet(tmp.path());
    cmd.env("CIRCLET_CONFIG", "circlet.toml")
        .env("CIRCLET_DATA_DIR", "/srv/from-env")
        .args(["config", "check"]);
    let run = Run::of(cmd, None);
    let out = run.ok();
    assert_eq!(setting(out, "config_file"), "circlet.toml");
    assert_eq!(setting(out, "listen"), "127.0.0.1:9001");
    assert_eq!(setting(out, "data_dir"), "/srv/from-env");
    assert_eq!(
        setting(out, "database_url"),
        "sqlite:///srv/from-env/circlet.db"
    );
}

/// `circlet config validate` / `process`: a CircleCI config compiled without a server.
mod ci_config {
    use crate::{Run, circlet};
    use std::fs;

    const CONFIG: &str = "version: 2.1
parameters:
  greeting: {type: string, default: hello}
commands:
  greet:
    parameters: {to: {type: string}}
    steps: [{run: echo << pipeline.parameters.greeting >> << parameters.to >> on << pipeline.git.branch >>}]
jobs:
  build:
    docker: [{image: cimg/base:stable}]
    steps: [checkout, {greet: {to: world}}]
workflows:
  main: {jobs: [build]}
";

    #[test]
    fn a_valid_config_is_said_to_be_valid_and_processed_to_2_0() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join(".circleci")).unwrap();
        fs::write(tmp.path().join(".circleci/config.yml"), CONFIG).unwrap();
        let mut cmd = circlet(tmp.path());
        cmd.args(["config", "validate"]);
        assert_eq!(
            Run::of(cmd, None).ok(),
            "Config file at .circleci/config.yml is valid.\n"
        );
        let mut cmd = circlet(tmp.path());
        cmd.args([
            "config",
            "process",
            "-",
            "--branch",
            "release",
            "--pipeline-parameter",
            "greeting=hi",
        ]);
        let out = Run::of(cmd, Some(CONFIG)).ok().to_owned();
        assert!(out.starts_with("version: 2\n"), "{out}");
        assert!(out.contains("run: echo hi world on release"), "{out}");
        assert!(!out.contains("commands:") && !out.contains("<<"), "{out}");
    }

    #[test]
    fn an_invalid_config_lists_its_problems_and_fails() {
        let tmp = tempfile::tempdir().unwrap();
        let bad = CONFIG.replace("{greet: {to: world}}", "{greet: {too: world}}");
        fs::write(tmp.path().join("c.yml"), bad).unwrap();
        let mut cmd = circlet(tmp.path());
        cmd.args(["config", "validate", "c.yml"]);
        let run = Run::of(cmd, None);
        assert_eq!(
            run.error_line(),
            "circlet: error: c.yml is not a valid config (2 problems above)"
        );
        assert!(
            run.stderr.contains("  - job 'build', step 2: command 'greet' has no parameter 'too' (its parameters are to) (line 11, column 32)"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("  - job 'build', step 2: command 'greet' needs a value for its parameter 'to' (it has no default) (line 11, column 24)"),
            "{}",
            run.stderr
        );
        let mut cmd = circlet(tmp.path());
        cmd.args(["config", "process", "missing.yml"]);
        assert!(
            Run::of(cmd, None)
                .error_line()
                .starts_with("circlet: error: reading missing.yml: "),
        );
    }
}
