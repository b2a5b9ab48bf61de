//! OTLP/HTTP (FORMATS.md §F): POST /v1/logs, /v1/metrics, /v1/traces in
//! protobuf or JSON, gzip or deflate, chunked or not, answered in the
//! request's encoding with the status table of the OTLP spec. A request is
//! acknowledged only once it is durable in the spool.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, ALLOW, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE,
};
use hyper::{Method, Request, Response, StatusCode};
use prost::Message;

use super::spool::{Part, Refused};
use super::Shared;
use crate::otlp::body::{decompress, BodyError, Compression};
use crate::otlp::convert::rejections;
use crate::otlp::proto::collector::logs::v1::{ExportLogsPartialSuccess, ExportLogsServiceResponse};
use crate::otlp::proto::collector::metrics::v1::{ExportMetricsPartialSuccess, ExportMetricsServiceResponse};
use crate::otlp::proto::collector::trace::v1::{ExportTracePartialSuccess, ExportTraceServiceResponse};
use crate::otlp::{decode, Encoding, Signal};

/// `google.rpc.Status`, the body of every OTLP error response.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, encoding: Encoding, body: Vec<u8>) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(encoding.content_type()));
    response
}

/// An error in the request's encoding (JSON when it has none we know).
fn error(status: StatusCode, encoding: Encoding, message: impl Into<String>) -> Reply {
    // gRPC codes for the body, as the OTLP spec's examples do.
    let code = match status {
        StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => 3,
        StatusCode::UNAUTHORIZED => 16,
        StatusCode::TOO_MANY_REQUESTS => 8,
        StatusCode::SERVICE_UNAVAILABLE => 14,
        StatusCode::NOT_FOUND => 5,
        _ => 2,
    };
    let status_body = RpcStatus { code, message: message.into() };
    let body = match encoding {
        Encoding::Protobuf => status_body.encode_to_vec(),
        Encoding::Json => {
            serde_json::json!({"code": code, "message": status_body.message}).to_string().into_bytes()
        }
    };
    reply(status, encoding, body)
}

fn retry_later(status: StatusCode, encoding: Encoding, message: &str) -> Reply {
    let mut response = error(status, encoding, message);
    response.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// The success body, with `partialSuccess` when records were rejected.
fn success(signal: Signal, encoding: Encoding, rejected: i64, message: Option<String>) -> Reply {
    let message = message.unwrap_or_default();
    let partial = rejected > 0 || !message.is_empty();
    let body = match encoding {
        Encoding::Json if !partial => b"{}".to_vec(),
        Encoding::Json => {
            let key = match signal {
                Signal::Logs => "rejectedLogRecords",
                Signal::Metrics => "rejectedDataPoints",
                Signal::Traces => "rejectedSpans",
            };
            serde_json::json!({"partialSuccess": {key: rejected.to_string(), "errorMessage": message}})
                .to_string()
                .into_bytes()
        }
        Encoding::Protobuf => match signal {
            Signal::Logs => ExportLogsServiceResponse {
                partial_success: partial.then_some(ExportLogsPartialSuccess {
                    rejected_log_records: rejected,
                    error_message: message,
                }),
            }
            .encode_to_vec(),
            Signal::Metrics => ExportMetricsServiceResponse {
                partial_success: partial.then_some(ExportMetricsPartialSuccess {
                    rejected_data_points: rejected,
                    error_message: message,
                }),
            }
            .encode_to_vec(),
            Signal::Traces => ExportTraceServiceResponse {
                partial_success: partial.then_some(ExportTracePartialSuccess {
                    rejected_spans: rejected,
                    error_message: message,
                }),
            }
            .encode_to_vec(),
        },
    };
    reply(StatusCode::OK, encoding, body)
}

/// Bodies up to this size, uncompressed, are decoded on the serving thread
/// (a Claude Code export is a few KiB; decoding one takes microseconds).
const INLINE_BODY_BYTES: usize = 64 << 10;

/// A body ready to spool: decompressed, decoded, its rejected records counted.
struct Unpacked {
    body: Vec<u8>,
    rejected: i64,
    why: Option<String>,
}

/// Decompress and decode a body, or say the status and message of the error
/// response.
fn unpack(
    signal: Signal,
    encoding: Encoding,
    compression: Compression,
    body: Bytes,
    limit: usize,
) -> Result<Unpacked, (StatusCode, String)> {
    let decoded_body = match decompress(compression, Vec::from(body), limit) {
        Ok(bytes) => bytes,
        Err(e @ BodyError::TooLarge { .. }) => return Err((StatusCode::PAYLOAD_TOO_LARGE, e.to_string())),
        Err(e) => return Err((StatusCode::BAD_REQUEST, e.to_string())),
    };
    match decode(signal, encoding, &decoded_body) {
        Ok(request) => {
            let (rejected, why) = rejections(&request);
            Ok(Unpacked { body: decoded_body, rejected, why })
        }
        Err(e) => Err((StatusCode::BAD_REQUEST, e.to_string())),
    }
}

fn header(request: &Request<Incoming>, name: hyper::header::HeaderName) -> Option<&str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

pub async fn handle(request: Request<Incoming>, shared: Arc<Shared>) -> Result<Reply, Infallible> {
    Ok(answer(request, &shared).await)
}

async fn answer(request: Request<Incoming>, shared: &Shared) -> Reply {
    let encoding_hint =
        header(&request, CONTENT_TYPE).and_then(Encoding::from_content_type).unwrap_or(Encoding::Json);
    let Some(signal) = Signal::from_path(request.uri().path()) else {
        return error(
            StatusCode::NOT_FOUND,
            encoding_hint,
            format!("no OTLP endpoint at {}", request.uri().path()),
        );
    };
    if request.method() != Method::POST {
        let mut response = error(StatusCode::METHOD_NOT_ALLOWED, encoding_hint, "only POST is allowed");
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let Some(encoding) = header(&request, CONTENT_TYPE).and_then(Encoding::from_content_type) else {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Encoding::Json,
            "Content-Type must be application/x-protobuf or application/json",
        );
    };
    let Some(compression) = Compression::from_header(header(&request, CONTENT_ENCODING)) else {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            encoding,
            "Content-Encoding must be gzip, deflate or none",
        );
    };
    let account_id = match shared.auth.check(header(&request, hyper::header::AUTHORIZATION)) {
        Ok(account) => account,
        Err(message) => {
            let mut response = error(StatusCode::UNAUTHORIZED, encoding, message);
            response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    };
    if shared.spool.pending_files() >= shared.limits.max_pending_files {
        return retry_later(
            StatusCode::SERVICE_UNAVAILABLE,
            encoding,
            "the spool is full; the store is behind",
        );
    }
    let declared = header(&request, CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > shared.limits.max_body_bytes as u64) {
        return error(StatusCode::PAYLOAD_TOO_LARGE, encoding, "body too large");
    }
    let limited = Limited::new(request.into_body(), shared.limits.max_body_bytes);
    let body = match tokio::time::timeout(shared.limits.body_timeout, limited.collect()).await {
        Err(_) => return error(StatusCode::REQUEST_TIMEOUT, encoding, "body not received in time"),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return error(StatusCode::PAYLOAD_TOO_LARGE, encoding, "body too large")
        }
        Ok(Err(e)) => {
            return error(StatusCode::BAD_REQUEST, encoding, format!("body could not be read: {e}"))
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    let received_at_ns = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let limit = shared.limits.max_decompressed_bytes;
    let inline = compression == Compression::None && body.len() <= INLINE_BODY_BYTES;
    let unpacked = if inline {
        unpack(signal, encoding, compression, body, limit)
    } else {
        // One thread serves every connection (mod.rs): a large body, or a
        // compressed one (up to `limit` once inflated), is decoded beside it.
        match tokio::task::spawn_blocking(move || unpack(signal, encoding, compression, body, limit)).await {
            Ok(unpacked) => unpacked,
            Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, encoding, "decoding failed"),
        }
    };
    let Unpacked { body: decoded_body, rejected, why } = match unpacked {
        Ok(unpacked) => unpacked,
        Err((status, message)) => return error(status, encoding, message),
    };
    let part = Part {
        path: signal.path(),
        content_type: encoding.content_type(),
        account_id,
        received_at_ns,
        body: decoded_body,
    };
    let durable = match shared.spool.submit(part) {
        Ok(durable) => durable,
        Err(Refused::QueueFull) => {
            return retry_later(StatusCode::TOO_MANY_REQUESTS, encoding, "too many requests at once")
        }
        Err(Refused::Backlog) => {
            return retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                encoding,
                "the spool is full; the store is behind",
            )
        }
        Err(Refused::Closed) => {
            return retry_later(StatusCode::SERVICE_UNAVAILABLE, encoding, "shutting down")
        }
    };
    match durable.await {
        Ok(Ok(())) => success(signal, encoding, rejected, why),
        Ok(Err(message)) => retry_later(StatusCode::SERVICE_UNAVAILABLE, encoding, &message),
        Err(_) => retry_later(StatusCode::SERVICE_UNAVAILABLE, encoding, "shutting down"),
    }
}
