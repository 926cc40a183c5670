//! The client's address: the TCP peer, or, when the peer is a trusted proxy
//! (`--trusted-proxy`), the address `X-Forwarded-For` names (see `circlet_core::forwarded`).
//!
//! Everything that keeps or counts addresses takes them from here: the failed-login and
//! failed-authentication limits, the audit log, a token's last-used address.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use std::net::{IpAddr, SocketAddr};

/// The client's address, as far as it can be known (see the module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The client's address for a request, if it came over TCP (always, outside unit tests).
pub fn client_ip(parts: &Parts, state: &AppState) -> Option<IpAddr> {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
    let forwarded = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    Some(state.config.trusted_proxies.client(peer, forwarded))
}

impl<S> FromRequestParts<S> for ClientIp
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = AppState::from_ref(state);
        client_ip(parts, &state)
            .map(ClientIp)
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("the connection has no address")))
    }
}
