//! Handing jobs to runners over HTTP: the long-poll claim and the reaper of silent runners
//! ([`dispatch`]). What a pipeline and a claimed job are is `circlet_app::builds`.

pub mod dispatch;
