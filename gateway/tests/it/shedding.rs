//! Load shedding (docs/reference.md §2, `server.max_in_flight`): past a route class's limit a
//! request is answered 503 with `Retry-After` at once, and the other classes keep being served.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::{HttpResponse, web};
use liftgate_gateway::config::InFlightLimits;
use liftgate_gateway::http::{RouteProvider, ServerState, start_server};
use liftgate_gateway::testing::Harness;
use tokio::sync::Notify;

/// `/api/v1/slow` waits for `release`; `/slack/fast` answers at once.
struct Routes {
    release: Arc<Notify>,
    waiting: Arc<AtomicUsize>,
}

impl RouteProvider for Routes {
    fn configure(&self, config: &mut web::ServiceConfig) {
        let (release, waiting) = (Arc::clone(&self.release), Arc::clone(&self.waiting));
        config.route(
            "/api/v1/slow",
            web::get().to(move || {
                let (release, waiting) = (Arc::clone(&release), Arc::clone(&waiting));
                async move {
                    waiting.fetch_add(1, Ordering::SeqCst);
                    release.notified().await;
                    HttpResponse::Ok().finish()
                }
            }),
        );
        config.route(
            "/slack/fast",
            web::get().to(|| async { HttpResponse::Ok().finish() }),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_limit_a_route_class_is_shed_at_once_and_the_others_are_served() {
    let harness = Harness::new(Default::default());
    let release = Arc::new(Notify::new());
    let waiting = Arc::new(AtomicUsize::new(0));
    let routes: Arc<dyn RouteProvider> = Arc::new(Routes {
        release: Arc::clone(&release),
        waiting: Arc::clone(&waiting),
    });
    let state = ServerState {
        store: harness.store.clone(),
        metrics: harness.metrics.clone(),
        limits: InFlightLimits {
            chat: 8,
            api: 2,
            admin: 2,
        },
    };
    let server = start_server(
        "127.0.0.1:0",
        state,
        vec![routes],
        2,
        Duration::from_secs(1),
    )
    .unwrap();
    let base = format!("http://{}", server.address);
    tokio::spawn(server.server);
    let http = reqwest::Client::new();

    let slow: Vec<_> = (0..2)
        .map(|_| tokio::spawn(http.get(format!("{base}/api/v1/slow")).send()))
        .collect();
    while waiting.load(Ordering::SeqCst) < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let shed = http
        .get(format!("{base}/api/v1/slow"))
        .send()
        .await
        .unwrap();
    assert_eq!(shed.status(), 503);
    assert_eq!(shed.headers()["retry-after"], "1");
    let body: serde_json::Value = shed.json().await.unwrap();
    assert_eq!(body["error"]["code"], "overloaded");
    assert_eq!(
        waiting.load(Ordering::SeqCst),
        2,
        "the shed request never reached its handler"
    );

    // Chat acks and health are not held up by a full API class.
    let chat = http.get(format!("{base}/slack/fast")).send().await.unwrap();
    assert_eq!(chat.status(), 200);
    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(
        harness
            .metrics
            .counter_value("liftgate_http_shed_total", &[("class", "api")]),
        1.0
    );

    // Once the slow calls finish, the class admits again.
    release.notify_waiters();
    for call in slow {
        assert_eq!(call.await.unwrap().unwrap().status(), 200);
    }
    release.notify_one();
    let again = http
        .get(format!("{base}/api/v1/slow"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
}
