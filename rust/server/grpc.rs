//! OTLP/gRPC: the three collector services on the same decode and spool path
//! as HTTP. tonic decodes the protobuf (gzip accepted); the request is
//! re-encoded for the spool, which the drain decodes like an HTTP body.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tonic::{Request, Response, Status};

use super::spool::{Part, Refused};
use super::Shared;
use crate::otlp::convert::rejections;
use crate::otlp::proto::collector::logs::v1::logs_service_server::LogsService;
use crate::otlp::proto::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use crate::otlp::proto::collector::metrics::v1::metrics_service_server::MetricsService;
use crate::otlp::proto::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use crate::otlp::proto::collector::trace::v1::trace_service_server::TraceService;
use crate::otlp::proto::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use crate::otlp::{Encoding, Request as OtlpRequest};

#[derive(Clone)]
pub struct Otlp(pub Arc<Shared>);

impl Otlp {
    /// Authenticate, spool, wait until durable: (rejected, message).
    async fn accept<T>(
        &self,
        request: Request<T>,
        wrap: fn(T) -> OtlpRequest,
    ) -> Result<(i64, String), Status> {
        let authorization = request.metadata().get("authorization").and_then(|v| v.to_str().ok());
        let account_id = self.0.auth.check(authorization).map_err(Status::unauthenticated)?;
        let request = wrap(request.into_inner());
        let (rejected, why) = rejections(&request);
        let body = request.encode_to_vec();
        if body.len() > self.0.limits.max_decompressed_bytes {
            return Err(Status::resource_exhausted("request too large"));
        }
        let part = Part {
            path: request.signal().path(),
            content_type: Encoding::Protobuf.content_type(),
            account_id,
            received_at_ns: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64),
            body,
        };
        // UNAVAILABLE is the retryable code OTLP/gRPC clients back off on.
        let durable = self.0.spool.submit(part).map_err(|refused| match refused {
            Refused::QueueFull => Status::unavailable("too many requests at once"),
            Refused::Backlog => Status::unavailable("the spool is full; the store is behind"),
            Refused::Closed => Status::unavailable("shutting down"),
        })?;
        match durable.await {
            Ok(Ok(())) => Ok((rejected, why.unwrap_or_default())),
            Ok(Err(message)) => Err(Status::unavailable(message)),
            Err(_) => Err(Status::unavailable("shutting down")),
        }
    }
}

#[tonic::async_trait]
impl LogsService for Otlp {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let (rejected, message) = self.accept(request, OtlpRequest::Logs).await?;
        let partial = rejected > 0 || !message.is_empty();
        Ok(Response::new(ExportLogsServiceResponse {
            partial_success: partial.then_some(ExportLogsPartialSuccess {
                rejected_log_records: rejected,
                error_message: message,
            }),
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Otlp {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let (rejected, message) = self.accept(request, OtlpRequest::Metrics).await?;
        let partial = rejected > 0 || !message.is_empty();
        Ok(Response::new(ExportMetricsServiceResponse {
            partial_success: partial.then_some(ExportMetricsPartialSuccess {
                rejected_data_points: rejected,
                error_message: message,
            }),
        }))
    }
}

#[tonic::async_trait]
impl TraceService for Otlp {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let (rejected, message) = self.accept(request, OtlpRequest::Traces).await?;
        let partial = rejected > 0 || !message.is_empty();
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: partial
                .then_some(ExportTracePartialSuccess { rejected_spans: rejected, error_message: message }),
        }))
    }
}
