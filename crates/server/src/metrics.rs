//! Prometheus metrics at `/metrics`: requests by route shape, method and status; request
//! latency by route; store time by operation (the store is wrapped in [`TimedStore`]).
//! Labels hold route shapes (`/Patient/*`), never ids.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use spfhir_store::{
    AuditEntry, AuditPage, AuditQuery, Page, Query, Record, Remembered, Result, Store, Write,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    operation: String,
}

/// Seconds, from 100 µs to about 13 s.
fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Histograms<RouteLabels>,
    store: Histograms<StoreLabels>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::with_prefix("spfhir");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: Histograms<RouteLabels> = Family::new_with_constructor(seconds);
        let store: Histograms<StoreLabels> = Family::new_with_constructor(seconds);
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route and method",
            latency.clone(),
        );
        registry.register(
            "store_duration_seconds",
            "Time spent in the store by operation",
            store.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            store,
        }
    }
}

impl Metrics {
    /// Count a finished request.
    pub fn request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
                method: method.to_owned(),
            })
            .observe(seconds);
    }

    /// The metrics in Prometheus's text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    fn store_time(&self, operation: &str, started: Instant) {
        self.store
            .get_or_create(&StoreLabels {
                operation: operation.to_owned(),
            })
            .observe(started.elapsed().as_secs_f64());
    }
}

/// A store whose every call is timed into [`Metrics`].
pub struct TimedStore {
    pub inner: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
}

#[async_trait]
impl Store for TimedStore {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn read(&self, ty: &str, id: &str) -> Result<Option<Record>> {
        let t = Instant::now();
        let r = self.inner.read(ty, id).await;
        self.metrics.store_time("read", t);
        r
    }
    async fn vread(&self, ty: &str, id: &str, version: i64) -> Result<Option<Record>> {
        let t = Instant::now();
        let r = self.inner.vread(ty, id, version).await;
        self.metrics.store_time("vread", t);
        r
    }
    async fn history(&self, ty: &str, id: Option<&str>, count: usize) -> Result<Vec<Record>> {
        let t = Instant::now();
        let r = self.inner.history(ty, id, count).await;
        self.metrics.store_time("history", t);
        r
    }
    async fn search(&self, query: &Query) -> Result<Page> {
        let t = Instant::now();
        let r = self.inner.search(query).await;
        self.metrics.store_time("search", t);
        r
    }
    async fn count(&self, query: &Query) -> Result<u64> {
        let t = Instant::now();
        let r = self.inner.count(query).await;
        self.metrics.store_time("count", t);
        r
    }
    async fn commit_remembering(
        &self,
        writes: Vec<Write>,
        now: i64,
        remember: Vec<(String, Remembered)>,
    ) -> Result<Vec<Record>> {
        let t = Instant::now();
        let r = self.inner.commit_remembering(writes, now, remember).await;
        self.metrics.store_time("commit", t);
        r
    }
    async fn audit(&self, entries: Vec<AuditEntry>) -> Result<()> {
        let t = Instant::now();
        let r = self.inner.audit(entries).await;
        self.metrics.store_time("audit", t);
        r
    }
    async fn audit_search(&self, query: &AuditQuery) -> Result<AuditPage> {
        let t = Instant::now();
        let r = self.inner.audit_search(query).await;
        self.metrics.store_time("audit_search", t);
        r
    }
    async fn audit_count(&self, query: &AuditQuery) -> Result<u64> {
        let t = Instant::now();
        let r = self.inner.audit_count(query).await;
        self.metrics.store_time("audit_count", t);
        r
    }
    async fn recall(&self, key: &str) -> Result<Option<Remembered>> {
        let t = Instant::now();
        let r = self.inner.recall(key).await;
        self.metrics.store_time("recall", t);
        r
    }
    async fn claim(&self, key: &str, until: i64, now: i64) -> Result<bool> {
        let t = Instant::now();
        let r = self.inner.claim(key, until, now).await;
        self.metrics.store_time("claim", t);
        r
    }
    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }
}
