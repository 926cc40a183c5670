//! A real OpenSSH server on loopback (Debian's `openssh-server`, which `scripts/test` installs)
//! for tests of SSH checkouts and keys: it accepts exactly the public keys it is given, for the
//! user the tests run as, and serves git repositories by their absolute paths. Stopped when
//! dropped.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `sshd`.
pub struct Sshd {
    child: Child,
    dir: tempfile::TempDir,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    /// The user it lets in (the one the tests run as).
    pub user: String,
}

impl Sshd {
    /// Starts `sshd` accepting `keys` (OpenSSH public key lines). Panics, saying why, when it
    /// cannot (no `/usr/sbin/sshd`, no free port).
    pub fn start(keys: &[&str]) -> Sshd {
        let dir = tempfile::tempdir().expect("temp dir");
        let made = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(dir.path().join("host_key"))
            .status()
            .expect("run ssh-keygen (scripts/test installs openssh-client)");
        assert!(made.success(), "ssh-keygen failed");
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").expect("a free port");
            l.local_addr().expect("its address").port()
        };
        let user = Command::new("id")
            .arg("-un")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "root".into());
        let d = dir.path().display();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
             PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nPidFile {d}/sshd.pid\nLogLevel ERROR\n"
        );
        std::fs::write(dir.path().join("sshd_config"), config).expect("write sshd_config");
        // Privilege separation wants this directory when sshd runs as root.
        let _ = std::fs::create_dir_all("/run/sshd");
        let sshd = Sshd {
            child: Command::new("/usr/sbin/sshd")
                .args(["-D", "-e", "-f"])
                .arg(dir.path().join("sshd_config"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start /usr/sbin/sshd (scripts/test installs openssh-server)"),
            dir,
            port,
            user,
        };
        sshd.authorize(keys);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        sshd
    }

    /// Accepts exactly `keys` from now on.
    pub fn authorize(&self, keys: &[&str]) {
        let mut f = std::fs::File::create(self.dir.path().join("authorized_keys"))
            .expect("write authorized_keys");
        for k in keys {
            writeln!(f, "{}", k.trim()).expect("write a key");
        }
    }

    /// The `ssh://` URL of the repository at `path` on this server.
    pub fn url(&self, path: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            path.display()
        )
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
