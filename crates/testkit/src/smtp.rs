//! A real SMTP server on loopback for tests of emails: PyPI's `aiosmtpd` (which `scripts/test`
//! installs), with a handler that keeps each message it accepts as a file, read back here with
//! Python's own `email` parser (so a message is read as a mail client reads it, whatever
//! transfer encoding circlet's SMTP library chose). Stopped when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The handler: each accepted message becomes `NNNN.eml` (as received) and then `NNNN.txt`
/// (envelope, decoded subject and plain-text body), the latter renamed into place whole.
const HANDLER: &str = r#"
import email, email.policy, os, sys, threading
from aiosmtpd.controller import Controller

class Keep:
    def __init__(self, out):
        self.out, self.n, self.lock = out, 0, threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.n += 1
            base = os.path.join(self.out, "%04d" % self.n)
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        part = msg.get_body(preferencelist=("plain",))
        text = part.get_content() if part is not None else ""
        with open(base + ".eml", "wb") as f:
            f.write(envelope.content)
        with open(base + ".tmp", "w", encoding="utf-8") as f:
            f.write("MAIL FROM: %s\nRCPT TO: %s\nFrom: %s\nSubject: %s\n\n%s" % (
                envelope.mail_from, ",".join(envelope.rcpt_tos), msg["from"], msg["subject"], text))
        os.rename(base + ".tmp", base + ".txt")
        return "250 OK"

out, port = sys.argv[1], int(sys.argv[2])
controller = Controller(Keep(out), hostname="127.0.0.1", port=port)
controller.start()
threading.Event().wait()
"#;

/// One message the server accepted.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The envelope's sender.
    pub mail_from: String,
    /// The envelope's recipients, comma-separated.
    pub rcpt_to: String,
    /// The `From:` header.
    pub from: String,
    /// The subject, decoded.
    pub subject: String,
    /// The plain-text body, decoded.
    pub body: String,
    /// The message exactly as received.
    pub raw: String,
}

/// A running `aiosmtpd`.
pub struct SmtpSink {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("its address").port()
}

impl SmtpSink {
    /// Starts the server on a free port. Panics, saying why, when it cannot.
    pub fn start() -> SmtpSink {
        SmtpSink::start_on(free_port())
    }

    /// Starts the server on `port` (a test that wanted it down first). Panics, saying why,
    /// when it cannot.
    pub fn start_on(port: u16) -> SmtpSink {
        let dir = tempfile::tempdir().expect("temp dir");
        let script = dir.path().join("keep.py");
        std::fs::write(&script, HANDLER).expect("write the handler");
        let mail = dir.path().join("mail");
        std::fs::create_dir(&mail).expect("mail dir");
        let child = Command::new("python3")
            .arg(&script)
            .arg(&mail)
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start python3 with aiosmtpd (scripts/test installs it)");
        let mut sink = SmtpSink {
            child: Some(child),
            dir,
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = sink
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("aiosmtpd exited ({status}); is it installed (pip install aiosmtpd)?");
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        sink
    }

    /// `smtp://127.0.0.1:<port>`: plain SMTP, as a loopback server is reached.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn mail_dir(&self) -> PathBuf {
        self.dir.path().join("mail")
    }

    /// Every message accepted so far, in the order received.
    pub fn messages(&self) -> Vec<Mail> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.mail_dir())
            .expect("read the mail dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "txt"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|p| {
                let text = std::fs::read_to_string(&p).expect("read a message");
                let raw = std::fs::read(p.with_extension("eml")).expect("read a raw message");
                let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
                let field = |name: &str| {
                    head.lines()
                        .find_map(|l| l.strip_prefix(name))
                        .unwrap_or_default()
                        .to_owned()
                };
                Mail {
                    mail_from: field("MAIL FROM: "),
                    rcpt_to: field("RCPT TO: "),
                    from: field("From: "),
                    subject: field("Subject: "),
                    body: body.to_owned(),
                    raw: String::from_utf8_lossy(&raw).into_owned(),
                }
            })
            .collect()
    }

    /// Waits until at least `n` messages have been accepted (up to 30 s), and returns them
    /// all. It blocks its thread: for a server in another process (an async test whose server
    /// shares its runtime polls [`SmtpSink::messages`] with the runtime's own sleep).
    pub fn wait_for(&self, n: usize) -> Vec<Mail> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} message(s), got {}: {got:#?}",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (it is down until started again with [`SmtpSink::start_on`]).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}
