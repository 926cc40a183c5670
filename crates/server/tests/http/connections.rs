//! Connections that send nothing, half a request or sit idle: closed after their deadlines or
//! to make room beyond the cap, while long polls and slow uploads, which are busy, go on.

use crate::app::TestApp;
use circlet_store::BackendKind;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// The longest any step here may take.
const DEADLINE: Duration = Duration::from_secs(20);

/// A request head without the blank line that ends it.
const HALF_HEAD: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: circlet\r\nAccept: */*\r\n";

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.url.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the server closes `stream` (EOF or reset) and returns what came and when the
/// close came; fails the test at [`DEADLINE`].
async fn until_closed(stream: &mut TcpStream) -> (String, Instant) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(DEADLINE, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (String::from_utf8_lossy(&seen).into(), Instant::now());
            }
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "the server kept the connection open for {DEADLINE:?}; it sent {:?}",
                String::from_utf8_lossy(&seen)
            ),
        }
    }
}

/// Whether the server has closed `stream`, without waiting for it to.
async fn is_closed(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::from_millis(1), stream.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

/// Sends `head` (a whole request without a body) on `stream` and returns the response.
async fn exchange(stream: &mut TcpStream, head: &str) -> String {
    stream.write_all(head.as_bytes()).await.unwrap();
    response(stream).await
}

#[tokio::test]
async fn silent_and_half_sent_connections_are_closed_after_the_header_timeout() {
    let app = TestApp::spawn_with(BackendKind::Sqlite, |c| {
        c.http.header_timeout = Duration::from_secs(1);
        c.http.idle_timeout = Duration::from_secs(60);
    })
    .await;
    let started = Instant::now();
    let mut silent = connect(&app).await;
    let mut half = connect(&app).await;
    half.write_all(HALF_HEAD).await.unwrap();

    let (said, closed) = until_closed(&mut half).await;
    assert!(said.is_empty(), "no response to half a request: {said:?}");
    assert!(
        closed - started >= Duration::from_millis(900),
        "closed by the header timeout, not at once"
    );
    let (said, _) = until_closed(&mut silent).await;
    assert!(said.is_empty(), "{said:?}");
    // The server itself is fine.
    assert_eq!(
        reqwest::get(app.at("/healthz")).await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn idle_connections_are_closed_but_long_polls_and_slow_uploads_go_on() {
    let app = TestApp::spawn_with(BackendKind::Sqlite, |c| {
        c.http.header_timeout = Duration::from_secs(1);
        c.http.idle_timeout = Duration::from_secs(1);
        // The runner protocol's bodies (artifact uploads) have no deadline either.
        c.http.body_timeout = Duration::from_secs(1);
    })
    .await;
    let token = app.runner_token("long-poller").await;

    // A kept-alive connection that asks nothing more is closed after the idle timeout.
    let mut kept = connect(&app).await;
    let said = exchange(&mut kept, "GET /healthz HTTP/1.1\r\nHost: circlet\r\n\r\n").await;
    assert!(said.starts_with("HTTP/1.1 200"), "{said}");
    let answered = Instant::now();
    let (said, closed) = until_closed(&mut kept).await;
    assert!(said.is_empty(), "{said:?}");
    assert!(
        closed - answered >= Duration::from_millis(900),
        "after the idle timeout"
    );

    // A runner's long poll outlasts both timeouts: busy connections have no deadline.
    let mut polling = connect(&app).await;
    let said = exchange(
        &mut polling,
        &format!(
            "POST /api/runner/v1/claim?wait=3 HTTP/1.1\r\nHost: circlet\r\n\
             Authorization: Bearer {token}\r\nContent-Length: 0\r\n\r\n"
        ),
    )
    .await;
    assert!(
        said.starts_with("HTTP/1.1 204"),
        "the claim waited and found nothing: {said}"
    );

    // So does a request body that trickles in for longer than both: the JSON is read to its
    // end (a whole, valid body) before the handler finds there is no such job.
    let mut uploading = connect(&app).await;
    let body = r#"{"index": 0, "name": "a step whose start is reported slowly", "command": null}"#;
    uploading
        .write_all(
            format!(
                "POST /api/runner/v1/jobs/{}/steps HTTP/1.1\r\nHost: circlet\r\n\
                 Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n",
                uuid::Uuid::new_v4(),
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut ticks = tokio::time::interval(Duration::from_millis(250));
    for chunk in body.as_bytes().chunks(body.len().div_ceil(12)) {
        ticks.tick().await;
        uploading.write_all(chunk).await.unwrap();
    }
    let said = response(&mut uploading).await;
    assert!(
        said.starts_with("HTTP/1.1 404") && said.contains("No such job"),
        "the slow body was read to its end and answered: {said:?}"
    );
}

/// Reads one response (head and `Content-Length` body) from `stream`; fails the test when the
/// connection closes first or nothing comes within [`DEADLINE`].
async fn response(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + DEADLINE;
    loop {
        let text = String::from_utf8_lossy(&seen).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if text.len() >= end + 4 + length {
                return text;
            }
        }
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .expect("a response within the deadline")
            .unwrap_or(0);
        assert!(n > 0, "closed without a whole response: {text:?}");
        seen.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test]
async fn connections_beyond_the_cap_close_idle_ones_instead_of_waiting() {
    const CAP: usize = 8;
    let app = TestApp::spawn_with(BackendKind::Sqlite, |c| {
        c.http.max_connections = CAP;
        // Long deadlines: only making room can explain what follows.
        c.http.header_timeout = Duration::from_secs(60);
        c.http.idle_timeout = Duration::from_secs(60);
    })
    .await;
    let token = app.runner_token("long-poller").await;
    // A request in progress holds its connection whatever comes after it.
    let mut polling = connect(&app).await;
    polling
        .write_all(
            format!(
                "POST /api/runner/v1/claim?wait=4 HTTP/1.1\r\nHost: circlet\r\n\
                 Authorization: Bearer {token}\r\nContent-Length: 0\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    // Its head must have been read before the flood, or the poll is just the oldest idle
    // connection: a whole exchange on another connection after it lets the server get to it
    // (connections are served in the order they came; on a busy 2-core machine it raced).
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    for _ in 0..2 {
        let r = fresh.get(app.at("/healthz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }

    let mut idle = Vec::new();
    for i in 0..5 * CAP {
        let mut s = connect(&app).await;
        if i % 2 == 0 {
            s.write_all(HALF_HEAD).await.unwrap();
        }
        idle.push(s);
    }
    let asked = Instant::now();
    let health = tokio::time::timeout(DEADLINE, fresh.get(app.at("/healthz")).send())
        .await
        .expect("/healthz answers while the cap is full of idle connections")
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "answered at once, not after a timeout: {:?}",
        asked.elapsed()
    );

    // At most CAP connections stay open: the oldest idle ones were closed to make room.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let mut closed = 0;
        for s in &mut idle {
            if is_closed(s).await {
                closed += 1;
            }
        }
        if closed >= idle.len() - CAP {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {closed} of {} idle connections were closed with a cap of {CAP}",
            idle.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let said = response(&mut polling).await;
    assert!(
        said.starts_with("HTTP/1.1 204"),
        "the long poll was left alone: {said:?}"
    );
}

/// Outside the runner protocol a body trickled in for longer than the body deadline is cut off
/// with 408 (JSON on the API, a page in the UI) and the connection closed, so a slow sender
/// cannot hold a slot; a body sent at once is answered as usual.
#[tokio::test]
async fn a_body_that_trickles_past_its_deadline_is_answered_408_and_closed() {
    let app = TestApp::spawn_with(BackendKind::Sqlite, |c| {
        c.http.body_timeout = Duration::from_secs(1);
    })
    .await;
    let alice = app.user("alice", false).await;
    let token = app.personal_token(&alice).await;
    let cases = [
        (
            "POST /login HTTP/1.1\r\nHost: circlet\r\nContent-Type: application/x-www-form-urlencoded\r\n".to_owned(),
            "login=alice&password=whatever&csrf=x".to_owned(),
            "text/html",
        ),
        (
            format!(
                "POST /api/v2/project/gh/acme/slow HTTP/1.1\r\nHost: circlet\r\nCircle-Token: {token}\r\nContent-Type: application/json\r\n"
            ),
            r#"{"repo_url": "file:///nowhere", "default_branch": "main"}"#.to_owned(),
            "application/json",
        ),
    ];
    for (head, body, kind) in cases {
        let mut slow = connect(&app).await;
        slow.write_all(format!("{head}Content-Length: {}\r\n\r\n", body.len()).as_bytes())
            .await
            .unwrap();
        let started = Instant::now();
        // One byte every 200 ms: the whole body would take several seconds.
        let mut sent = 0;
        let said = loop {
            // Anything from the server (its answer, or the close) ends the trickle; peeked, so
            // that the answer is still there to read.
            let mut peeked = [0u8; 1];
            let answered = tokio::time::timeout(Duration::from_millis(1), slow.peek(&mut peeked))
                .await
                .is_ok();
            if answered || sent == body.len() {
                break until_closed(&mut slow).await.0;
            }
            slow.write_all(&body.as_bytes()[sent..=sent])
                .await
                .unwrap_or(());
            sent += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert!(said.starts_with("HTTP/1.1 408"), "{head}: {said:?}");
        assert!(said.to_ascii_lowercase().contains(kind), "{head}: {said:?}");
        assert!(
            said.contains("did not arrive within 1 s"),
            "{head}: {said:?}"
        );
        assert!(
            sent < body.len(),
            "the body was cut off before its end ({sent} bytes sent)"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
    // A JSON body sent at once still reaches its handler.
    let r = reqwest::Client::new()
        .post(app.at("/api/v2/project/gh/acme/fast"))
        .header("Circle-Token", &token)
        .json(&serde_json::json!({"default_branch": "main"}))
        .send()
        .await
        .unwrap();
    assert_ne!(r.status().as_u16(), 408);
}
