//! The log: one line per event on stderr, with every control character in it escaped.
//!
//! Log lines carry text users wrote (job and step names, branch names, paths, messages from
//! runners and git, error chains). A newline in such a text would start a line that looks like
//! one of circlet's own, a carriage return or an escape sequence would rewrite what a terminal
//! shows. Escaping happens here, once, in the formatter every field value (and the message)
//! passes through, rather than at each `tracing` call: a call site added tomorrow is covered
//! without anyone remembering to. The line's own newline is written after the fields, so it is
//! the only one left.

use std::fmt;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{DefaultFields, Writer};

/// Logs go to stderr; `CIRCLET_LOG` (or `RUST_LOG`) picks the level, default `info`.
pub fn init() {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("CIRCLET_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info,sqlx=warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info")))
        .fmt_fields(EscapedFields::default())
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

/// Characters that must not reach a log line as they are: C0 and C1 controls (newline,
/// carriage return, escape, NUL, …), Unicode's line and paragraph separators, and the
/// bidirectional overrides that make a line read differently from what it holds.
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with each character of [`needs_escape`] written as an escape: `\n`, `\r`, `\t`,
/// `\x1b` (as tracing-subscriber itself writes the escape character), `\u{2028}`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let _ = fmt::Write::write_str(&mut Escaping(&mut out), text);
    out
}

/// Formats fields exactly as `tracing_subscriber`'s default does, through [`Escaping`].
#[derive(Default)]
struct EscapedFields(DefaultFields);

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut escaping = Escaping(writer);
        self.0.format_fields(Writer::new(&mut escaping), fields)
    }
}

/// A writer that escapes the characters of [`needs_escape`] on their way through.
struct Escaping<W>(W);

impl<W: fmt::Write> fmt::Write for Escaping<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some(at) = rest.find(needs_escape) {
            self.0.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                c if u32::from(c) < 0x100 => write!(self.0, "\\x{:02x}", u32::from(c))?,
                c => write!(self.0, "\\u{{{:x}}}", u32::from(c))?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(
            escape("a\nb\r\x1b[31mc\td\0e\u{85}f\u{2028}g\u{202e}h é ✓ \\n"),
            "a\\nb\\r\\x1b[31mc\\td\\x00e\\x85f\\u{2028}g\\u{202e}h é ✓ \\n"
        );
    }

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn an_event_is_one_line_whatever_its_fields_hold() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(EscapedFields::default())
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("job", name = %"a\nb");
            let _entered = span.enter();
            let forged = "x\nINFO circlet: forged\r\x1b[2K";
            tracing::info!(step = %forged, path = forged, "claimed {forged}");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.matches('\n').count(), 1, "{text:?}");
        assert!(text.ends_with('\n'), "{text:?}");
        assert!(!text.contains(['\r', '\x1b']), "{text:?}");
        assert!(
            text.contains("claimed x\\nINFO circlet: forged\\r\\x1b[2K"),
            "{text:?}"
        );
        assert!(text.contains("job{name=a\\nb}"), "{text:?}");
    }
}
