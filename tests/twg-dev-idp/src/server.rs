//! Wires the endpoints into a router and serves it until the shutdown future resolves.

use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::AppState;
use crate::conn::{ConnHandle, DroppableListener};
use crate::settings::Settings;
use crate::{
    admin, authorize, device_authorization, introspect, metadata, request_log, resources, revoke,
    token, verification_page,
};

/// How long in-flight requests get to finish once shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The issuer (and base URL) for a bound address: `http://127.0.0.1:PORT`, no trailing slash.
pub fn issuer_for(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

pub fn router(app: AppState) -> Router {
    Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(metadata::metadata),
        )
        .route("/.well-known/openid-configuration", get(metadata::metadata))
        .route("/authorize", get(authorize::show).post(authorize::decide))
        .route(
            "/oauth/device/code",
            post(device_authorization::device_authorization),
        )
        .route(
            "/device",
            get(verification_page::show).post(verification_page::decide),
        )
        .route("/oauth/token", post(token::token))
        .route("/oauth/revoke", post(revoke::revoke))
        .route("/oauth/introspect", post(introspect::introspect))
        .route(
            "/oauth/token/accessible-resources",
            get(resources::accessible_resources),
        )
        .route("/userinfo", get(resources::userinfo))
        .route("/me", get(resources::userinfo))
        .nest("/admin", admin::router())
        .fallback(not_found)
        .layer(middleware::from_fn(request_log::log_request))
        .with_state(app)
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({
            "error": "not_found",
            "error_description": "no such endpoint; see /.well-known/oauth-authorization-server",
        })),
    )
        .into_response()
}

/// Serves on `listener` until `shutdown` resolves, then gives open requests a short grace
/// period; hung (fault-injected) requests are released as soon as shutdown starts.
pub async fn serve(
    listener: TcpListener,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let issuer = issuer_for(listener.local_addr()?);
    let (stop_tx, stop_rx) = watch::channel(false);
    let app = AppState::new(settings, issuer, stop_rx.clone());
    let mut graceful = stop_rx;
    let server = axum::serve(
        DroppableListener::new(listener),
        router(app).into_make_service_with_connect_info::<ConnHandle>(),
    )
    .with_graceful_shutdown(async move {
        let _ = graceful.wait_for(|stopping| *stopping).await;
    })
    .into_future();
    tokio::pin!(server);

    tokio::select! {
        result = &mut server => return result,
        () = shutdown => {}
    }
    tracing::info!("shutting down");
    stop_tx.send_replace(true);
    match tokio::time::timeout(SHUTDOWN_GRACE, server).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!("connections still open after the grace period; exiting anyway");
            Ok(())
        }
    }
}
