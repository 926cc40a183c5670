//! Masking secret values out of a step's output before it leaves the runner: the masker lives
//! in `circlet_core::mask`, shared with the server, which masks the same way what it shows of a
//! build (parameters, step names).

pub use circlet_core::mask::{MASK, MIN_MASK_LEN, Masker};
