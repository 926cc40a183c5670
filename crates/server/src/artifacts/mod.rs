//! Artifacts over HTTP: how a runner's upload is received ([`upload`]: streamed into a
//! multipart write, limited per file and per build) and how a download is served ([`download`]:
//! streamed, ranges, validators, and types that cannot run script on circlet's origin). Where
//! the bytes live is `circlet_app::artifacts`.

pub mod download;
pub mod upload;
