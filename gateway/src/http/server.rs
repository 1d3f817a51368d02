use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle, Service};
use actix_web::{App, HttpResponse, HttpServer, web};

use crate::metrics::Metrics;
use crate::ports::StateStore;

/// A channel's routes (Slack, Teams, the webhook API), mounted on the shared server.
pub trait RouteProvider: Send + Sync {
    fn configure(&self, config: &mut web::ServiceConfig);
}

/// What the built-in routes need.
#[derive(Debug, Clone)]
pub struct ServerState {
    pub store: Arc<dyn StateStore>,
    pub metrics: Arc<Metrics>,
    /// `server.max_in_flight`: requests served at once per route class (see `shed`).
    pub limits: crate::config::InFlightLimits,
}

/// A running server: its bound address and a handle to stop it gracefully.
pub struct HttpServerHandle {
    pub address: SocketAddr,
    pub handle: ServerHandle,
    pub server: Server,
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(state: web::Data<ServerState>) -> HttpResponse {
    match state.store.ping().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })),
        Err(error) => {
            tracing::warn!(%error, "Not ready: the state store does not answer.");
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({ "status": "unavailable", "reason": "state store" }))
        }
    }
}

async fn render_metrics(state: web::Data<ServerState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}

/// Binds `listen` and starts serving the channels' routes together with health and metrics.
/// `shutdown_grace` bounds how long in-flight requests may take once a stop is requested.
pub fn start_server(
    listen: &str,
    state: ServerState,
    routes: Vec<Arc<dyn RouteProvider>>,
    workers: usize,
    shutdown_grace: std::time::Duration,
) -> std::io::Result<HttpServerHandle> {
    start(listen, state, routes, workers, shutdown_grace, true)
}

/// Binds `listen` for the channels' routes only: health and metrics are served by
/// [`start_admin_server`] on a listener of their own (`server.admin_listen`), so a public
/// ingress in front of this one can never expose them.
pub fn start_public_server(
    listen: &str,
    state: ServerState,
    routes: Vec<Arc<dyn RouteProvider>>,
    workers: usize,
    shutdown_grace: std::time::Duration,
) -> std::io::Result<HttpServerHandle> {
    start(listen, state, routes, workers, shutdown_grace, false)
}

/// Binds `listen` for `/healthz`, `/readyz` and `/metrics` alone.
pub fn start_admin_server(
    listen: &str,
    state: ServerState,
    shutdown_grace: std::time::Duration,
) -> std::io::Result<HttpServerHandle> {
    let factory_state = state.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(factory_state.clone()))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(render_metrics))
    })
    .workers(1)
    .shutdown_timeout(shutdown_grace.as_secs().max(1))
    .disable_signals()
    .bind(listen)?;
    let addresses = server.addrs();
    finish(addresses, server.run())
}

fn start(
    listen: &str,
    state: ServerState,
    routes: Vec<Arc<dyn RouteProvider>>,
    workers: usize,
    shutdown_grace: std::time::Duration,
    admin_routes: bool,
) -> std::io::Result<HttpServerHandle> {
    let factory_state = state.clone();
    let admission = super::shed::Admission::new(state.limits);
    let server = HttpServer::new(move || {
        let routes = routes.clone();
        let metrics = Arc::clone(&factory_state.metrics);
        let admission = admission.clone();
        App::new()
            .app_data(web::Data::new(factory_state.clone()))
            // Chat platforms and webhook clients send small bodies; anything bigger is abuse.
            .app_data(web::PayloadConfig::new(512 * 1024))
            .wrap_fn(move |request, service| {
                let metrics = Arc::clone(&metrics);
                let route = request
                    .match_pattern()
                    .unwrap_or_else(|| "unmatched".to_owned());
                let class = super::shed::RouteClass::of(request.path());
                let admitted = match admission.admit(class) {
                    Some(permit) => Ok((permit, service.call(request))),
                    None => Err(request.into_response(super::shed::overloaded(class))),
                };
                async move {
                    let (_permit, call) = match admitted {
                        Ok(admitted) => admitted,
                        Err(shed) => {
                            metrics.inc("liftgate_http_shed_total", &[("class", class.label())]);
                            return Ok(shed);
                        }
                    };
                    let response = call.await?.map_into_boxed_body();
                    let class = format!("{}xx", response.status().as_u16() / 100);
                    metrics.inc(
                        "liftgate_http_requests_total",
                        &[("route", &route), ("status", &class)],
                    );
                    Ok(response)
                }
            })
            .configure(|config| {
                if admin_routes {
                    config
                        .route("/healthz", web::get().to(healthz))
                        .route("/readyz", web::get().to(readyz))
                        .route("/metrics", web::get().to(render_metrics));
                }
            })
            .configure(move |config| {
                for provider in &routes {
                    provider.configure(config);
                }
            })
    })
    .workers(workers.max(1))
    .shutdown_timeout(shutdown_grace.as_secs().max(1))
    .disable_signals()
    .bind(listen)?;
    let addresses = server.addrs();
    finish(addresses, server.run())
}

/// Starts a bound server; `addresses` are what it bound.
fn finish(addresses: Vec<SocketAddr>, server: Server) -> std::io::Result<HttpServerHandle> {
    let address = addresses
        .first()
        .copied()
        .ok_or_else(|| std::io::Error::other("the server bound no address"))?;
    let handle = server.handle();
    Ok(HttpServerHandle {
        address,
        handle,
        server,
    })
}
