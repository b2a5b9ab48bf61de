//! The OTLP receiver: an HTTP server (hyper) and a gRPC server (tonic) on a
//! single-threaded tokio runtime of their own thread, both handing requests
//! to the spool writer. Started and stopped from Python (`usagecore serve`); a stop stops
//! accepting, lets requests in flight finish and writes out everything that
//! was accepted before it returns.

pub mod grpc;
pub mod http;
pub mod spool;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::watch;

use crate::otlp::proto::collector::logs::v1::logs_service_server::LogsServiceServer;
use crate::otlp::proto::collector::metrics::v1::metrics_service_server::MetricsServiceServer;
use crate::otlp::proto::collector::trace::v1::trace_service_server::TraceServiceServer;
use spool::{Spool, SpoolStats};

/// Bounds on what one request and the spool may hold.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Body as sent (compressed).
    pub max_body_bytes: usize,
    /// Body after decompression (FORMATS.md §F.1 recommends 64 MiB).
    pub max_decompressed_bytes: usize,
    /// Requests waiting for the spool writer.
    pub queue: usize,
    /// Spool files not yet drained into the store before new requests get 503.
    pub max_pending_files: u64,
    /// How long a client may take to send its body once its headers are in
    /// (slow-loris bound); then it gets 408.
    pub body_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 << 20,
            max_decompressed_bytes: 64 << 20,
            queue: 4096,
            max_pending_files: 2_000,
            body_timeout: Duration::from_secs(30),
        }
    }
}

/// Bearer tokens, each mapped to an account (or none). No tokens: no auth.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    tokens: HashMap<String, Option<String>>,
}

impl Auth {
    pub fn new(tokens: impl IntoIterator<Item = (String, Option<String>)>) -> Self {
        Auth { tokens: tokens.into_iter().collect() }
    }

    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// The account of an `Authorization` header value.
    pub fn check(&self, header: Option<&str>) -> Result<Option<String>, String> {
        if !self.enabled() {
            return Ok(None);
        }
        let header = header.ok_or("missing Authorization: Bearer token")?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or("Authorization must be a Bearer token")?;
        self.tokens.get(token).cloned().ok_or_else(|| "unknown bearer token".to_owned())
    }
}

pub struct Config {
    pub host: String,
    pub http_port: u16,
    /// `None`: no gRPC server.
    pub grpc_port: Option<u16>,
    pub spool_dir: PathBuf,
    pub auth: Auth,
    pub limits: Limits,
}

/// What every request handler needs.
pub struct Shared {
    pub spool: Spool,
    pub auth: Auth,
    pub limits: Limits,
}

/// A running receiver.
pub struct Server {
    pub http_addr: SocketAddr,
    pub grpc_addr: Option<SocketAddr>,
    pub stats: Arc<SpoolStats>,
    spool: Option<Spool>,
    shutdown: watch::Sender<bool>,
    runtime: Option<std::thread::JoinHandle<()>>,
    writers: Vec<std::thread::JoinHandle<()>>,
}

/// How long a stop waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

impl Server {
    /// Bind both ports (errors such as "address in use" come back here) and
    /// serve on a background thread.
    pub fn start(config: Config) -> std::io::Result<Server> {
        let http = std::net::TcpListener::bind((config.host.as_str(), config.http_port))?;
        http.set_nonblocking(true)?;
        let grpc = match config.grpc_port {
            Some(port) => {
                let listener = std::net::TcpListener::bind((config.host.as_str(), port))?;
                listener.set_nonblocking(true)?;
                Some(listener)
            }
            None => None,
        };
        let http_addr = http.local_addr()?;
        let grpc_addr = grpc.as_ref().map(|l| l.local_addr()).transpose()?;
        let spool_limits = spool::Limits {
            queue: config.limits.queue,
            max_pending_files: config.limits.max_pending_files,
            ..spool::Limits::default()
        };
        let (spool, writers) = Spool::start(&config.spool_dir, spool_limits)?;
        let shared = Arc::new(Shared { spool: spool.clone(), auth: config.auth, limits: config.limits });
        // One thread serves every connection: a request costs it about 30 µs
        // of CPU, and the spool writer, the other thread a request passes
        // through, runs beside it. Two worker threads took 35-40 µs per
        // request (waking each other to share the work), one worker of a
        // multi-threaded runtime 43. A large or compressed body is decoded
        // on the blocking pool (http.rs), so it holds up nobody.
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (shutdown, stop) = watch::channel(false);
        let thread = std::thread::Builder::new().name("usagecore-serve".into()).spawn(move || {
            runtime.block_on(async move {
                let http = tokio::spawn(serve_http(http, shared.clone(), stop.clone()));
                let grpc =
                    grpc.map(|listener| tokio::spawn(serve_grpc(listener, shared.clone(), stop.clone())));
                let _ = http.await;
                if let Some(grpc) = grpc {
                    let _ = grpc.await;
                }
            });
            // Dropping the runtime ends any connection still open; `shared`
            // (and with it a spool sender) went with the tasks.
            runtime.shutdown_timeout(Duration::from_secs(1));
        })?;
        Ok(Server {
            http_addr,
            grpc_addr,
            stats: spool.stats.clone(),
            spool: Some(spool),
            shutdown,
            runtime: Some(thread),
            writers,
        })
    }

    pub fn pending_files(&self) -> u64 {
        self.spool.as_ref().map_or(0, Spool::pending_files)
    }

    /// Stop accepting, finish requests in flight, write out what was
    /// accepted. Idempotent.
    pub fn stop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(thread) = self.runtime.take() {
            let _ = thread.join();
        }
        // Our own sender is the last one: dropping it lets the writer finish.
        self.spool = None;
        for writer in self.writers.drain(..) {
            let _ = writer.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn serve_http(listener: std::net::TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // A client that trickles its headers is dropped (slow loris).
        .header_read_timeout(Duration::from_secs(10))
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                let service = hyper::service::service_fn(move |request| http::handle(request, shared.clone()));
                let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                let connection = graceful.watch(connection.into_owned());
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
}

async fn serve_grpc(listener: std::net::TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    use tonic::codec::CompressionEncoding::Gzip;
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
    let limit = shared.limits.max_decompressed_bytes;
    let otlp = grpc::Otlp(shared);
    let result = tonic::transport::Server::builder()
        .add_service(
            LogsServiceServer::new(otlp.clone())
                .accept_compressed(Gzip)
                .send_compressed(Gzip)
                .max_decoding_message_size(limit),
        )
        .add_service(
            MetricsServiceServer::new(otlp.clone())
                .accept_compressed(Gzip)
                .send_compressed(Gzip)
                .max_decoding_message_size(limit),
        )
        .add_service(
            TraceServiceServer::new(otlp)
                .accept_compressed(Gzip)
                .send_compressed(Gzip)
                .max_decoding_message_size(limit),
        )
        .serve_with_incoming_shutdown(tonic::transport::server::TcpIncoming::from(listener), async move {
            let _ = stop.changed().await;
        })
        .await;
    if let Err(e) = result {
        eprintln!("usagecore: gRPC server stopped: {e}");
    }
}
