//! A step's output on its way to the reporter: masked, decoded as UTF-8 (lossily, without
//! splitting a character across reads), and sent in chunks of at most `MAX_OUTPUT_CHUNK`
//! bytes. The caller decides when to flush (every ~300 ms while output flows).

use crate::mask::Masker;
use crate::report::{ReportError, Reporter, Stop, StopReason};
use circlet_core::runner_protocol::MAX_OUTPUT_CHUNK;

/// The output of one step.
pub(crate) struct OutputSink<'a, R> {
    reporter: &'a R,
    stop: &'a Stop,
    index: u32,
    masker: Masker,
    /// Masked bytes that end in the middle of a UTF-8 character.
    partial: Vec<u8>,
    /// Decoded text not yet sent.
    text: String,
    chunk_limit: usize,
    /// A failed send was logged; later ones of this step are not, to keep the log readable.
    warned: bool,
    /// The last byte taken, to start the runner's own lines on a line of their own.
    last_byte: Option<u8>,
}

impl<'a, R: Reporter> OutputSink<'a, R> {
    /// Output of step `index`, masking `masks`.
    pub(crate) fn new(reporter: &'a R, stop: &'a Stop, index: u32, masks: &[String]) -> Self {
        OutputSink {
            reporter,
            stop,
            index,
            masker: Masker::new(masks),
            partial: Vec::new(),
            text: String::new(),
            chunk_limit: MAX_OUTPUT_CHUNK,
            warned: false,
            last_byte: None,
        }
    }

    /// Takes raw output of the step.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        if let Some(b) = bytes.last() {
            self.last_byte = Some(*b);
        }
        let masked = self.masker.push(bytes);
        self.decode(masked, false);
    }

    /// Adds a line written by the runner itself (masked like the rest), on a line of its own.
    pub(crate) fn line(&mut self, line: &str) {
        if self.last_byte.is_some_and(|b| b != b'\n') {
            self.push(b"\n");
        }
        self.push(line.as_bytes());
        self.push(b"\n");
    }

    /// Whether enough text waits to fill a chunk.
    pub(crate) fn is_full(&self) -> bool {
        self.text.len() >= self.chunk_limit
    }

    /// Sends whatever text is ready.
    pub(crate) async fn flush(&mut self) {
        while !self.text.is_empty() {
            let mut end = self.text.len().min(self.chunk_limit);
            while !self.text.is_char_boundary(end) {
                end -= 1;
            }
            let rest = self.text.split_off(end);
            let chunk = std::mem::replace(&mut self.text, rest);
            self.send(&chunk).await;
        }
    }

    /// The step ended: releases what the masker held back and sends everything.
    pub(crate) async fn finish(&mut self) {
        let rest = self.masker.finish();
        self.decode(rest, true);
        self.flush().await;
    }

    async fn send(&mut self, chunk: &str) {
        if self.stop.reason() == Some(StopReason::Lost) {
            return;
        }
        match self.reporter.output(self.index, chunk).await {
            Ok(()) => {}
            Err(ReportError::Lost) => self.stop.trigger(StopReason::Lost),
            // Output is dropped rather than held: a step must not stall because the log
            // cannot be written; the step's outcome still reaches the server.
            Err(e) => {
                if !self.warned {
                    tracing::warn!(step = self.index, "could not send step output: {e}");
                    self.warned = true;
                }
            }
        }
    }

    /// Appends `bytes` to the text, keeping an unfinished character for the next read unless
    /// `last`, and replacing invalid sequences with U+FFFD.
    fn decode(&mut self, bytes: Vec<u8>, last: bool) {
        let mut buf = std::mem::take(&mut self.partial);
        buf.extend(bytes);
        let mut rest: &[u8] = &buf;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    self.text.push_str(s);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    self.text
                        .push_str(std::str::from_utf8(valid).unwrap_or_default());
                    match e.error_len() {
                        Some(n) => {
                            self.text.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[n..];
                        }
                        None if last => {
                            self.text.push(char::REPLACEMENT_CHARACTER);
                            rest = &[];
                            break;
                        }
                        None => {
                            rest = after;
                            break;
                        }
                    }
                }
            }
        }
        self.partial = rest.to_vec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use circlet_core::runner_protocol::{
        HeartbeatReply, JobFinished, StepFinished, StepStarted, TestResults,
    };
    use std::sync::Mutex;

    #[derive(Default)]
    struct Chunks(Mutex<Vec<String>>);

    impl Reporter for Chunks {
        async fn step_started(&self, _: &StepStarted) -> Result<(), ReportError> {
            Ok(())
        }
        async fn output(&self, _: u32, text: &str) -> Result<(), ReportError> {
            self.0.lock().unwrap().push(text.to_owned());
            Ok(())
        }
        async fn step_finished(&self, _: u32, _: &StepFinished) -> Result<(), ReportError> {
            Ok(())
        }
        async fn test_results(&self, _: &TestResults) -> Result<(), ReportError> {
            Ok(())
        }
        async fn artifact(&self, _: &[String], _: &std::path::Path) -> Result<(), ReportError> {
            Ok(())
        }
        async fn heartbeat(&self) -> Result<HeartbeatReply, ReportError> {
            Ok(HeartbeatReply { cancel: false })
        }
        async fn job_finished(&self, _: &JobFinished) -> Result<(), ReportError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn chunks_respect_the_limit_and_never_split_a_character() {
        let r = Chunks::default();
        let stop = Stop::new();
        let mut sink = OutputSink::new(&r, &stop, 1, &[]);
        sink.chunk_limit = 7;
        let text = "héllo wörld ✓✓✓ done\n".repeat(5);
        // Fed one byte at a time, so characters arrive split.
        for b in text.as_bytes() {
            sink.push(&[*b]);
            if sink.is_full() {
                sink.flush().await;
            }
        }
        sink.finish().await;
        let chunks = r.0.lock().unwrap().clone();
        assert!(
            chunks.iter().all(|c| c.len() <= 7 && !c.is_empty()),
            "{chunks:?}"
        );
        assert_eq!(chunks.concat(), text);
    }

    #[tokio::test]
    async fn invalid_utf8_is_replaced_and_secrets_still_masked() {
        let r = Chunks::default();
        let stop = Stop::new();
        let mut sink = OutputSink::new(&r, &stop, 1, &["hunter22".into()]);
        sink.push(b"bad \xff byte, pw=hun");
        sink.flush().await;
        sink.push(b"ter22, cut \xe2\x9c");
        sink.finish().await;
        assert_eq!(
            r.0.lock().unwrap().concat(),
            "bad \u{fffd} byte, pw=********, cut \u{fffd}"
        );
    }
}
