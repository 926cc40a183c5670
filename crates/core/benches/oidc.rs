//! What minting a job's OIDC ID tokens costs (issue 16): signing CircleCI's claims with the
//! instance's P-256 key (ES256), per token and per job (each job gets two: `CIRCLE_OIDC_TOKEN`
//! and `CIRCLE_OIDC_TOKEN_V2`), and checking one as `circleci run oidc get` has the server do.
//! Prints medians of many runs. The store reads a job's claims need (its organization, the
//! triggering user, its workflow) are not in these figures.
//!
//!     cargo bench -p circlet-core --bench oidc

use circlet_core::oidc::{Audience, Claims, LIFETIME_SECS, SigningKey, Subject, verify};
use std::time::{Duration, Instant};

fn claims() -> Claims {
    let now = 1_800_000_000;
    Claims {
        iss: "https://ci.example.test/oidc/org/5f0c7c3e-3c1c-4f55-9d55-0c3b7f1d2a11".into(),
        sub: String::new(),
        aud: Audience::One("5f0c7c3e-3c1c-4f55-9d55-0c3b7f1d2a11".into()),
        iat: now,
        exp: now + LIFETIME_SECS,
        org_id: "5f0c7c3e-3c1c-4f55-9d55-0c3b7f1d2a11".into(),
        project_id: "0d4a3e55-2b1f-4c0e-8a7e-3f6c1d2e9b40".into(),
        context_ids: vec![],
        job_id: "a2b3c4d5-e6f7-4a8b-9c0d-1e2f3a4b5c6d".into(),
        workflow_id: "b2b3c4d5-e6f7-4a8b-9c0d-1e2f3a4b5c6d".into(),
        pipeline_id: "c2b3c4d5-e6f7-4a8b-9c0d-1e2f3a4b5c6d".into(),
        vcs_origin: "github.com/acme/widgets".into(),
        vcs_ref: "refs/heads/main".into(),
        ssh_rerun: false,
    }
}

fn median(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1e6
}

fn main() {
    let key = SigningKey::generate();
    let mut c = claims();
    let subject = Subject {
        org_id: &c.org_id.clone(),
        project_id: &c.project_id.clone(),
        user_id: "d2b3c4d5-e6f7-4a8b-9c0d-1e2f3a4b5c6d",
        vcs_origin: &c.vcs_origin.clone(),
        vcs_ref: &c.vcs_ref.clone(),
    };
    let runs = 2_000;
    // Warm up.
    for _ in 0..100 {
        c.sub = subject.v2();
        std::hint::black_box(key.sign(&c));
    }
    let mut one = Vec::with_capacity(runs);
    let mut job = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        c.sub = subject.v2();
        std::hint::black_box(key.sign(&c));
        one.push(started.elapsed());
        let started = Instant::now();
        c.sub = subject.v1();
        std::hint::black_box(key.sign(&c));
        c.sub = subject.v2();
        std::hint::black_box(key.sign(&c));
        job.push(started.elapsed());
    }
    let token = key.sign(&c);
    let published = [key.public().clone()];
    let checks: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            // The claims' times are in 2027: not expired for this run.
            let _ = std::hint::black_box(verify(
                &token,
                &published,
                "https://ci.example.test/oidc/org/",
            ));
            started.elapsed()
        })
        .collect();
    println!(
        "OIDC: one ID token signed (ES256): median {:.1} µs; a job's two tokens: median {:.1} µs; checking one: median {:.1} µs ({} bytes)",
        median(one),
        median(job),
        median(checks),
        token.len()
    );
}
