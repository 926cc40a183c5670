//! A job's SSH keys (the project's, handed over with the claim): the checkout key `checkout`
//! uses for an SSH repository, kept in a directory of the runner's own beside the job's (hidden
//! from the job by the sandbox) and removed with it; and `add_ssh_keys`, which installs the
//! project's additional keys in the job's `~/.ssh` with a config naming each key's host.
//!
//! OpenSSH reads `~/.ssh` from the user's home in the password database, not from `$HOME`, so
//! a job that adds keys gets `GIT_SSH_COMMAND` pointing `ssh` at the job's own config; a plain
//! `ssh` in a step needs `-F ~/.ssh/config`.

use crate::caches::fail;
use crate::output::OutputSink;
use crate::report::Reporter;
use crate::step::{JobContext, StepEnd};
use circlet_core::ci_config::Step;
use circlet_core::runner_protocol::{ClaimedJob, Outcome};
use circlet_core::ssh_keys::{Fingerprints, is_ssh_url};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The runner's own directory for a job's keys: beside the job's, inside the work dir (which
/// the sandbox hides).
pub(crate) fn keys_dir(work: &Path, job_id: &str) -> PathBuf {
    work.join(format!("{job_id}.keys"))
}

/// Writes `text` to a new file of mode 0600 (replacing one that was there).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let _ = std::fs::remove_file(path);
    let mut body = text.trim().to_owned();
    body.push('\n');
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?
        .write_all(body.as_bytes())
}

/// `GIT_SSH_COMMAND` for the runner's own `git clone` of an SSH repository with the project's
/// checkout key, when the job has one; the host key is trusted on first sight.
pub(crate) fn checkout_ssh_command(
    job: &ClaimedJob,
    keys: &Path,
) -> std::io::Result<Option<String>> {
    let Some(key) = job.ssh_keys.iter().find(|k| k.checkout) else {
        return Ok(None);
    };
    if !is_ssh_url(&job.repo_url) {
        return Ok(None);
    }
    std::fs::create_dir_all(keys)?;
    std::fs::set_permissions(keys, std::fs::Permissions::from_mode(0o700))?;
    let file = keys.join("checkout_key");
    write_private(&file, &key.private_key)?;
    Ok(Some(format!(
        "ssh -i '{}' -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile='{}'",
        file.display(),
        keys.join("known_hosts").display()
    )))
}

/// For a job with an `add_ssh_keys` step: its `~/.ssh` (an empty config to begin with) and the
/// `GIT_SSH_COMMAND` that makes git's `ssh` read it.
pub(crate) fn prepare(job: &ClaimedJob, root: &Path) -> std::io::Result<Option<(String, String)>> {
    if !job
        .steps
        .iter()
        .any(|s| matches!(s, Step::AddSshKeys { .. }))
    {
        return Ok(None);
    }
    let dir = root.join(".ssh");
    std::fs::create_dir_all(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    let config = dir.join("config");
    if !config.exists() {
        write_private(&config, "# Written by circlet's add_ssh_keys")?;
    }
    Ok(Some((
        "GIT_SSH_COMMAND".into(),
        format!(
            "ssh -F '{}' -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile='{}'",
            config.display(),
            dir.join("known_hosts").display()
        ),
    )))
}

/// `add_ssh_keys`: the project's additional keys (those `fingerprints` name, in either form;
/// all of them when it names none) into `~/.ssh`, each as `id_rsa_<md5>` with a `Host` entry.
pub(crate) fn add_ssh_keys<R: Reporter>(
    ctx: &JobContext<'_, R>,
    fingerprints: &[String],
    sink: &mut OutputSink<'_, R>,
) -> StepEnd {
    let additional: Vec<_> = ctx.job.ssh_keys.iter().filter(|k| !k.checkout).collect();
    let chosen: Vec<_> = if fingerprints.is_empty() {
        additional.clone()
    } else {
        let mut chosen = Vec::new();
        for wanted in fingerprints {
            let found = additional.iter().find(|k| {
                Fingerprints {
                    sha256: k.fingerprint_sha256.clone(),
                    md5: k.fingerprint.clone(),
                }
                .matches(wanted)
            });
            match found {
                Some(k) => chosen.push(*k),
                None => {
                    return fail(
                        sink,
                        &format!(
                            "this project has no additional SSH key with the fingerprint {wanted} (Project settings → SSH Keys, or the v1.1 ssh-key API)"
                        ),
                    );
                }
            }
        }
        chosen
    };
    if chosen.is_empty() {
        sink.line("This project has no additional SSH keys; nothing was added.");
        return StepEnd::new(Outcome::Success, None);
    }
    // The runner writes here outside the sandbox, after the job's own steps: `~/.ssh` (or its
    // config) made a symbolic link by the job must not lead the writes out of its directory.
    let dir = match crate::archive::safe_dir(ctx.root, Path::new(".ssh")) {
        Ok(dir) => dir,
        Err(e) => return fail(sink, &format!("cannot use ~/.ssh: {e}")),
    };
    let mut config = String::new();
    for k in &chosen {
        let name = format!("id_rsa_{}", k.fingerprint.replace(':', ""));
        let file = dir.join(&name);
        if let Err(e) =
            std::fs::create_dir_all(&dir).and_then(|()| write_private(&file, &k.private_key))
        {
            return fail(sink, &format!("cannot write {}: {e}", file.display()));
        }
        let host = if k.hostname.is_empty() {
            "*"
        } else {
            &k.hostname
        };
        config.push_str(&format!(
            "\nHost {host}\n  IdentityFile {}\n  IdentitiesOnly no\n",
            file.display()
        ));
        sink.line(&format!(
            "Added SSH key {} ({}) for {}",
            k.fingerprint,
            k.fingerprint_sha256,
            if k.hostname.is_empty() {
                "every host"
            } else {
                &k.hostname
            }
        ));
    }
    let appended = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(dir.join("config"))
        .and_then(|mut f| f.write_all(config.as_bytes()));
    if let Err(e) = appended {
        return fail(sink, &format!("cannot write ~/.ssh/config: {e}"));
    }
    StepEnd::new(Outcome::Success, None)
}
