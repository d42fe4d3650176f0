//! The server loop and the request time limit.
//!
//! `axum::serve` sets no timer on hyper, so hyper's header read timeout never fires there and
//! a client that opens a connection and sends nothing (or a header a byte a minute) holds it
//! for ever. This loop is axum's, with the timer and the timeout set.

use crate::error::ApiError;
use crate::reads::Timeouts;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Middleware: a request that has not produced its answer within `limit` answers
/// `503 timeout` in the error shape (its handler is dropped, which cancels its reads).
pub(crate) async fn time_limit(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(
                limit_ms = limit.as_millis() as u64,
                "request cut by its time limit"
            );
            ApiError::timeout(format!(
                "the request ran past the server's time limit of {} ms",
                limit.as_millis()
            ))
            .into_response()
        }
    }
}

/// Serves `app` on `listener` until `shutdown`, then lets open connections finish.
pub(crate) async fn serve(
    listener: TcpListener,
    timeouts: Timeouts,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header_read);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait a little, as axum does.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(
            app.clone()
                .map_request(|request: axum::http::Request<Incoming>| request.map(Body::new)),
        );
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
