// An application instrumented with the OpenTelemetry JS SDK, exporting to
// $OTLP_ENDPOINT: a delta counter of tokens and three GenAI log records with
// usage, response id and reported cost. The values are fixed so that a test
// knows the totals (record k: input 1000k+11 of which 1000k+1 cached, output
// 10k+7 of which 5k reasoning, cost k/1000 USD).
// usage: NODE_PATH=<otel-js>/node_modules node client.cjs json|proto none|gzip SERVICE
const { MeterProvider, PeriodicExportingMetricReader, AggregationTemporality } = require("@opentelemetry/sdk-metrics");
const { LoggerProvider, BatchLogRecordProcessor } = require("@opentelemetry/sdk-logs");
const { resourceFromAttributes } = require("@opentelemetry/resources");

async function main() {
  const [proto, compression, service] = process.argv.slice(2);
  const base = process.env.OTLP_ENDPOINT;
  const suffix = proto === "json" ? "http" : "proto";
  const { OTLPMetricExporter } = require(`@opentelemetry/exporter-metrics-otlp-${suffix}`);
  const { OTLPLogExporter } = require(`@opentelemetry/exporter-logs-otlp-${suffix}`);
  const options = (path) => ({ url: `${base}${path}`, compression: compression === "gzip" ? "gzip" : "none" });
  const resource = resourceFromAttributes({ "service.name": service });

  const reader = new PeriodicExportingMetricReader({
    exporter: new OTLPMetricExporter({ ...options("/v1/metrics"), temporalityPreference: AggregationTemporality.DELTA }),
    exportIntervalMillis: 3600000,
  });
  const meters = new MeterProvider({ resource, readers: [reader] });
  const counter = meters.getMeter("usagecore.test").createCounter("app.token.usage", { unit: "tokens" });
  const logs = new LoggerProvider({ resource, processors: [new BatchLogRecordProcessor({ exporter: new OTLPLogExporter(options("/v1/logs")) })] });
  const logger = logs.getLogger("usagecore.test");
  for (let k = 1; k <= 3; k++) {
    counter.add(1000 * k + 11, { type: "input", model: "mock-model" });
    counter.add(10 * k + 7, { type: "output", model: "mock-model" });
    logger.emit({
      eventName: "gen_ai.client.inference.operation.details",
      timestamp: Date.UTC(2026, 0, 1, 0, 0, k),
      attributes: {
        "gen_ai.request.model": "mock-model",
        "gen_ai.response.id": `resp-${service}-${k}`,
        "gen_ai.usage.input_tokens": 1000 * k + 11,
        "gen_ai.usage.cache_read.input_tokens": 1000 * k + 1,
        "gen_ai.usage.output_tokens": 10 * k + 7,
        "gen_ai.usage.reasoning.output_tokens": 5 * k,
        "cost_usd": k / 1000,
      },
    });
  }
  await meters.shutdown();
  await logs.shutdown();
}
main().catch((e) => { console.error(e); process.exit(1); });
