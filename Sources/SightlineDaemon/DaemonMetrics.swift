import Foundation
import Prometheus

/// Prometheus metrics: per-stream frame, drop and match counters, latency histograms, and
/// gauges read from `RuntimeStats` when scraped. Only made when `metrics.address` is set.
/// `Docs/operations.md` lists the names; each is `sightline_<name>_<unit>`.
public final class DaemonMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    static let latencyBuckets: [Double] = [0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 1.5, 2.5, 5, 10]

    /// `sightline_<name>_<unit>`; a metric without a unit (a count of things now) passes "".
    static func name(_ name: String, unit: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "sightline", metricName: name, unitName: unit, helpText: help)
    }

    public init() {}

    func arrived(_ stream: String) {
        registry.makeCounter(descriptor: Self.name("frames", unit: "total", help: "Frames that reached the scheduler"),
                             labels: [("stream", stream)]).increment()
    }

    func dropped(_ stream: String, count: Int) {
        registry.makeCounter(descriptor: Self.name("frames_dropped", unit: "total", help: "Frames dropped before the engine, oldest first"),
                             labels: [("stream", stream)]).increment(by: Int64(count))
    }

    func processed(_ stream: String, latency: Double) {
        registry.makeCounter(descriptor: Self.name("frames_processed", unit: "total", help: "Frames grounded"),
                             labels: [("stream", stream)]).increment()
        registry.makeValueHistogram(descriptor: Self.name("grounding_latency", unit: "seconds", help: "Seconds from frame capture to grounded"),
                                    labels: [("stream", stream)], buckets: Self.latencyBuckets).record(latency)
    }

    func matched(_ stream: String, query: String) {
        registry.makeCounter(descriptor: Self.name("matches", unit: "total", help: "Match events"),
                             labels: [("stream", stream), ("query", query)]).increment()
    }

    func delivered(_ stream: String, latency: Double) {
        registry.makeValueHistogram(
            descriptor: Self.name("delivery_latency", unit: "seconds", help: "Seconds from frame capture to event written on a subscriber's socket"),
            labels: [("stream", stream)], buckets: Self.latencyBuckets).record(latency)
    }

    /// The text exposition, with gauges brought up to date first.
    func exposition(stats: RuntimeStats, subscribers: Int) -> [UInt8] {
        registry.makeGauge(descriptor: Self.name("uptime", unit: "seconds", help: "Seconds since the daemon started"))
            .set(Date().timeIntervalSince(stats.started))
        registry.makeGauge(descriptor: Self.name("subscribers", unit: "", help: "Subscribed connections")).set(Double(subscribers))
        for (stream, s) in stats.snapshot() {
            registry.makeGauge(descriptor: Self.name("stream_sampled_fps", unit: "", help: "Frames per second arriving"),
                               labels: [("stream", stream)]).set(s.sampledFPS)
        }
        return registry.emitToBuffer()
    }
}
