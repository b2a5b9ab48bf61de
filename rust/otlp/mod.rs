//! OpenTelemetry (OTLP) input: one codec interface with two implementations
//! (protobuf through the generated types in `proto`, OTLP/JSON in `json`),
//! chosen once from the content type; decompression happens before decoding
//! (`body`); conversion into usagecore's rows is separate (`convert`).

pub mod arrow;
pub mod body;
pub mod convert;
pub mod json;
pub mod proto;

use prost::Message;

use proto::collector::logs::v1::ExportLogsServiceRequest;
use proto::collector::metrics::v1::ExportMetricsServiceRequest;
use proto::collector::trace::v1::ExportTraceServiceRequest;

/// The three OTLP signals usagecore receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    Logs,
    Metrics,
    Traces,
}

impl Signal {
    /// From the request path (`/v1/logs`...).
    pub fn from_path(path: &str) -> Option<Signal> {
        match path.trim_end_matches('/') {
            "/v1/logs" => Some(Signal::Logs),
            "/v1/metrics" => Some(Signal::Metrics),
            "/v1/traces" => Some(Signal::Traces),
            _ => None,
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Signal::Logs => "/v1/logs",
            Signal::Metrics => "/v1/metrics",
            Signal::Traces => "/v1/traces",
        }
    }
}

/// The two encodings OTLP allows over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// From a `Content-Type` header; parameters (`; charset=utf-8`) are ignored.
    pub fn from_content_type(value: &str) -> Option<Encoding> {
        let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match essence.as_str() {
            "application/x-protobuf" | "application/protobuf" => Some(Encoding::Protobuf),
            "application/json" => Some(Encoding::Json),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// Why a body could not be decoded (an HTTP 400 / gRPC INVALID_ARGUMENT).
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not a valid protobuf {signal:?} request: {source}")]
    Protobuf { signal: Signal, source: prost::DecodeError },
    #[error("not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("OTLP/JSON {path}: {message}")]
    Shape { path: String, message: String },
}

/// A decoded export request of any signal.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Logs(ExportLogsServiceRequest),
    Metrics(ExportMetricsServiceRequest),
    Traces(ExportTraceServiceRequest),
}

impl Request {
    pub fn signal(&self) -> Signal {
        match self {
            Request::Logs(_) => Signal::Logs,
            Request::Metrics(_) => Signal::Metrics,
            Request::Traces(_) => Signal::Traces,
        }
    }

    /// The request as protobuf bytes.
    pub fn encode_to_vec(&self) -> Vec<u8> {
        match self {
            Request::Logs(r) => r.encode_to_vec(),
            Request::Metrics(r) => r.encode_to_vec(),
            Request::Traces(r) => r.encode_to_vec(),
        }
    }
}

/// Decode an (already decompressed) export request.
pub fn decode(signal: Signal, encoding: Encoding, body: &[u8]) -> Result<Request, DecodeError> {
    let protobuf = |source| DecodeError::Protobuf { signal, source };
    match (encoding, signal) {
        (Encoding::Protobuf, Signal::Logs) => {
            ExportLogsServiceRequest::decode(body).map(Request::Logs).map_err(protobuf)
        }
        (Encoding::Protobuf, Signal::Metrics) => {
            ExportMetricsServiceRequest::decode(body).map(Request::Metrics).map_err(protobuf)
        }
        (Encoding::Protobuf, Signal::Traces) => {
            ExportTraceServiceRequest::decode(body).map(Request::Traces).map_err(protobuf)
        }
        (Encoding::Json, _) => json::decode(signal, body),
    }
}

#[cfg(test)]
mod tests;
