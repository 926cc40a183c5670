//! Masking secrets out of text: the runner masks a step's output before it leaves the runner
//! (the project's env var values), the server masks what it shows of a build's inputs (build and
//! pipeline parameters, step names, commands) with [`mask_secrets`]. One rule for both: every
//! occurrence becomes [`MASK`].
//!
//! Output arrives in reads of any size, so a secret may be split across two reads. The
//! [`Masker`] holds back only the end of what it has seen that could still grow into a secret
//! (a proper prefix of one), and lets everything else through at once, so ordinary output is
//! never delayed.

/// What a masked value is replaced by.
pub const MASK: &str = "********";

/// Values shorter than this are not masked: masking `1` or `yes` would garble the output and
/// hide nothing.
pub const MIN_MASK_LEN: usize = 4;

/// Replaces every occurrence of the given values in a stream of bytes by [`MASK`].
#[derive(Debug, Default)]
pub struct Masker {
    /// The values to hide, longest first so that the longest one wins at a position.
    values: Vec<Vec<u8>>,
    /// Bytes seen but not yet released: a possible start of a value.
    pending: Vec<u8>,
}

impl Masker {
    /// A masker for `values`; those shorter than [`MIN_MASK_LEN`] characters are ignored.
    pub fn new<S: AsRef<str>>(values: impl IntoIterator<Item = S>) -> Masker {
        let mut values: Vec<Vec<u8>> = values
            .into_iter()
            .filter(|v| v.as_ref().chars().count() >= MIN_MASK_LEN)
            .map(|v| v.as_ref().as_bytes().to_vec())
            .collect();
        values.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        values.dedup();
        Masker {
            values,
            pending: Vec::new(),
        }
    }

    /// Takes the next read; returns the output that is now safe to send.
    pub fn push(&mut self, input: &[u8]) -> Vec<u8> {
        if self.values.is_empty() {
            return input.to_vec();
        }
        self.pending.extend_from_slice(input);
        let held = self.possible_start();
        self.release(self.pending.len() - held)
    }

    /// The stream ended: returns everything still held, masked.
    pub fn finish(&mut self) -> Vec<u8> {
        self.release(self.pending.len())
    }

    /// Masks and releases `pending` up to `limit` (a match starting before it may run past it).
    fn release(&mut self, limit: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(limit);
        let mut i = 0;
        while i < limit {
            let rest = &self.pending[i..];
            match self.values.iter().find(|v| rest.starts_with(v)) {
                Some(v) => {
                    out.extend_from_slice(MASK.as_bytes());
                    i += v.len();
                }
                None => {
                    out.push(self.pending[i]);
                    i += 1;
                }
            }
        }
        self.pending.drain(..i);
        out
    }

    /// The length of the longest end of `pending` that is a proper prefix of a value: those
    /// bytes might be the first part of a secret whose rest is in the next read.
    fn possible_start(&self) -> usize {
        let p = &self.pending;
        let mut longest = 0;
        for v in &self.values {
            let most = (v.len() - 1).min(p.len());
            for k in (longest + 1..=most).rev() {
                if p.ends_with(&v[..k]) {
                    longest = k;
                    break;
                }
            }
        }
        longest
    }
}

/// `text` with every circlet token (shape and checksum, see [`crate::token::find_in`]) and every
/// occurrence of `values` (those of [`MIN_MASK_LEN`] characters or more) replaced by [`MASK`]:
/// the masking job output gets, applied to a whole string at once.
pub fn mask_secrets<S: AsRef<str>>(text: &str, values: &[S]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (range, _) in crate::token::find_in(text) {
        out.push_str(&text[last..range.start]);
        out.push_str(MASK);
        last = range.end;
    }
    out.push_str(&text[last..]);
    if values.is_empty() {
        return out;
    }
    let mut masker = Masker::new(values);
    let mut bytes = masker.push(out.as_bytes());
    bytes.extend(masker.finish());
    // Whole values are replaced by ASCII, so the text stays UTF-8; lossy only to be total.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_secrets_hides_tokens_and_values_in_a_whole_string() {
        let new = crate::token::NewToken::generate(crate::token::TokenKind::Personal);
        let token = new.expose().to_owned();
        let text = format!("deploy --token {token} --password hunter22 --user ada");
        assert_eq!(
            mask_secrets(&text, &["hunter22", "no"]),
            "deploy --token ******** --password ******** --user ada"
        );
        assert_eq!(mask_secrets::<&str>(&text, &[]).matches(MASK).count(), 1);
        // Same shape, wrong checksum: not a token circlet issued, left alone.
        let mut fake = token.clone();
        let last = if fake.ends_with('0') { "1" } else { "0" };
        fake.replace_range(fake.len() - 1.., last);
        assert_eq!(mask_secrets::<&str>(&fake, &[]), fake);
        assert_eq!(mask_secrets("pässwörd!", &["wörd"]), "päss********!");
    }

    fn through(masker: &mut Masker, chunks: &[&str]) -> String {
        let mut out = Vec::new();
        for c in chunks {
            out.extend(masker.push(c.as_bytes()));
        }
        out.extend(masker.finish());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn values_are_masked_whole_in_one_read() {
        let mut m = Masker::new(["hunter22", "s3cr3t-token"]);
        assert_eq!(
            through(&mut m, &["pw=hunter22 tok=s3cr3t-token hunter22\n"]),
            "pw=******** tok=******** ********\n"
        );
    }

    #[test]
    fn a_value_split_across_reads_is_still_masked() {
        let secret = "correct-horse-battery";
        let text = format!("before {secret} after {secret}");
        // Every way of cutting the text in two, and byte by byte.
        for cut in 0..=text.len() {
            let mut m = Masker::new([secret]);
            let out = through(&mut m, &[&text[..cut], &text[cut..]]);
            assert_eq!(out, "before ******** after ********", "cut at {cut}");
        }
        let mut m = Masker::new([secret]);
        let bytes: Vec<String> = text.chars().map(String::from).collect();
        let refs: Vec<&str> = bytes.iter().map(String::as_str).collect();
        assert_eq!(through(&mut m, &refs), "before ******** after ********");
    }

    #[test]
    fn output_that_cannot_start_a_value_is_released_at_once() {
        let mut m = Masker::new(["hunter22"]);
        assert_eq!(m.push(b"waiting for the server"), b"waiting for the server");
        // "hun" might be the start of the secret: held until the next read says otherwise.
        assert_eq!(m.push(b"... hun"), b"... ");
        assert_eq!(m.push(b"gry\n"), b"hungry\n");
        assert_eq!(m.push(b"hunter"), b"");
        assert_eq!(m.finish(), b"hunter");
    }

    #[test]
    fn short_values_are_ignored() {
        let mut m = Masker::new(["abc", "", "x", "true"]);
        assert_eq!(through(&mut m, &["abc x is true\n"]), "abc x is ********\n");
        let mut none = Masker::new(["no", "1"]);
        assert_eq!(through(&mut none, &["no 1\n"]), "no 1\n");
    }

    #[test]
    fn the_longest_value_wins_where_two_overlap() {
        let mut m = Masker::new(["secret", "secret-and-more"]);
        assert_eq!(
            through(&mut m, &["a secret-and-more b secret c"]),
            "a ******** b ******** c"
        );
    }

    #[test]
    fn multibyte_values_are_masked_across_reads() {
        let secret = "pässwörd";
        let text = format!("x{secret}y");
        let bytes = text.as_bytes();
        for cut in 0..=bytes.len() {
            let mut m = Masker::new([secret]);
            let mut out = m.push(&bytes[..cut]);
            out.extend(m.push(&bytes[cut..]));
            out.extend(m.finish());
            assert_eq!(out, b"x********y", "cut at {cut}");
        }
    }

    proptest::proptest! {
        /// However the output is cut into reads, the result is the same as masking it whole,
        /// and no secret survives in it.
        #[test]
        fn masking_ignores_read_boundaries_and_leaves_no_secret(
            secrets in proptest::collection::vec("[a-z0-9-]{4,10}", 1..4),
            pieces in proptest::collection::vec(("[a-z0-9 \n-]{0,12}", proptest::option::of(0usize..4)), 0..12),
            cuts in proptest::collection::vec(0usize..200, 0..8),
        ) {
            let mut text = String::new();
            for (filler, secret) in &pieces {
                text.push_str(filler);
                if let Some(i) = secret {
                    text.push_str(&secrets[i % secrets.len()]);
                }
            }
            let whole = through(&mut Masker::new(&secrets), &[&text]);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (text.len() + 1)).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut at = 0;
            for c in cuts {
                chunks.push(&text[at..c]);
                at = c;
            }
            chunks.push(&text[at..]);
            proptest::prop_assert_eq!(&through(&mut Masker::new(&secrets), &chunks), &whole);
            for s in &secrets {
                proptest::prop_assert!(!whole.contains(s.as_str()), "{} survived in {:?}", s, whole);
            }
        }
    }
}
