//! The PostgreSQL side of the generations: the listening connection each replica keeps, its
//! pings, and the notifications it sends.

use super::{CHANNEL, Change, DEAF_AFTER, Mode, PING_EVERY, RECONNECT_DELAY};
use crate::Store;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// The listener task: on a revocation or project change, moves its generation and then
/// acknowledges it; keeps the list of replicas heard from; while disconnected, marks the store
/// deaf, and reconnects.
pub(super) async fn listen(store: Store, pool: sqlx::PgPool) {
    let Mode::Postgres {
        id,
        listening,
        last_heard_ms,
        since,
        peers,
        heard,
        ..
    } = &store.generations.mode
    else {
        return;
    };
    loop {
        if pool.is_closed() {
            listening.store(false, Ordering::SeqCst);
            return;
        }
        let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                if pool.is_closed() {
                    return;
                }
                tracing::warn!("cannot listen for revocations yet: {e}");
                tokio::time::sleep(RECONNECT_DELAY).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            if pool.is_closed() {
                return;
            }
            tracing::warn!("cannot listen for revocations yet: {e}");
            tokio::time::sleep(RECONNECT_DELAY).await;
            continue;
        }
        // Anything may have been revoked, or have ended, while nobody listened.
        store.generations.bump_both();
        last_heard_ms.store(millis(since), Ordering::SeqCst);
        listening.store(true, Ordering::SeqCst);
        // A hello: every replica answers with a ping, so this one learns of them at once.
        notify(&pool, &format!("h:{id}")).await;
        tracing::debug!("listening for revocations");
        loop {
            let message = match listener.try_recv().await {
                Ok(Some(n)) => n.payload().to_owned(),
                Ok(None) | Err(_) => {
                    listening.store(false, Ordering::SeqCst);
                    store.generations.bump_both();
                    if pool.is_closed() {
                        // The process is shutting down: nothing to say, nothing to reconnect.
                        return;
                    }
                    tracing::warn!("lost the revocations listener; reconnecting");
                    break;
                }
            };
            last_heard_ms.store(millis(since), Ordering::SeqCst);
            let change = match message.split_at_checked(2) {
                Some(("r:", payload)) => Some((Change::Revocation, payload)),
                Some(("s:", payload)) => Some((Change::Project, payload)),
                _ => None,
            };
            if let Some((change, payload)) = change {
                store.generations.bump(change);
                notify(&pool, &format!("a:{payload}:{id}")).await;
            } else if let Some((kind, peer)) = message.split_once(':')
                && (kind == "p" || kind == "h")
            {
                {
                    let mut peers = peers.lock().expect("peers lock");
                    peers.retain(|_, at| at.elapsed() < DEAF_AFTER);
                    peers.insert(peer.to_owned(), Instant::now());
                }
                if kind == "h" && peer != id {
                    notify(&pool, &format!("p:{id}")).await;
                }
            }
            // Nobody waiting is normal.
            let _ = heard.send(message);
        }
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

/// Tells the other replicas every [`PING_EVERY`] that this one listens; hearing its own ping
/// is also how the listener knows it is not deaf.
pub(super) async fn ping(store: Store, pool: sqlx::PgPool) {
    let Mode::Postgres { id, listening, .. } = &store.generations.mode else {
        return;
    };
    let mut tick = tokio::time::interval(PING_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !pool.is_closed() {
        tick.tick().await;
        if listening.load(Ordering::SeqCst) {
            notify(&pool, &format!("p:{id}")).await;
        }
    }
}

/// Sends `message` on the channel; a failure only means the others hear of this later.
async fn notify(pool: &sqlx::PgPool, message: &str) {
    let sent = sqlx::query("SELECT pg_notify('circlet_auth', $1)")
        .bind(message)
        .execute(pool)
        .await;
    if let Err(e) = sent {
        tracing::debug!("could not notify the other replicas: {e}");
    }
}

fn millis(since: &Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}
