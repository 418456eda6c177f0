import Foundation
import Prometheus

/// Prometheus metrics: per-stream frame, drop and match counters, latency histograms, and
/// gauges read from `RuntimeStats` when scraped. Only made when `metrics.address` is set.
public final class DaemonMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    static let latencyBuckets: [Double] = [0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 1.5, 2.5, 5, 10]

    public init() {}

    func arrived(_ stream: String) {
        registry.makeCounter(name: "sightline_frames_total", labels: [("stream", stream)], help: "Frames that reached the scheduler").increment()
    }

    func dropped(_ stream: String, count: Int) {
        registry.makeCounter(name: "sightline_frames_dropped_total", labels: [("stream", stream)],
                             help: "Frames dropped before the engine, oldest first").increment(by: Int64(count))
    }

    func processed(_ stream: String, latency: Double) {
        registry.makeCounter(name: "sightline_frames_processed_total", labels: [("stream", stream)], help: "Frames grounded").increment()
        registry.makeValueHistogram(name: "sightline_grounding_latency_seconds", labels: [("stream", stream)], buckets: Self.latencyBuckets,
                                    help: "Seconds from frame capture to grounded").record(latency)
    }

    func matched(_ stream: String, query: String) {
        registry.makeCounter(name: "sightline_matches_total", labels: [("stream", stream), ("query", query)], help: "Match events").increment()
    }

    func delivered(_ stream: String, latency: Double) {
        registry.makeValueHistogram(name: "sightline_delivery_latency_seconds", labels: [("stream", stream)], buckets: Self.latencyBuckets,
                                    help: "Seconds from frame capture to event written on a subscriber's socket").record(latency)
    }

    /// The text exposition, with gauges brought up to date first.
    func exposition(stats: RuntimeStats, subscribers: Int) -> [UInt8] {
        registry.makeGauge(name: "sightline_uptime_seconds", help: "Seconds since the daemon started").set(Date().timeIntervalSince(stats.started))
        registry.makeGauge(name: "sightline_subscribers", help: "Subscribed connections").set(Double(subscribers))
        for (stream, s) in stats.snapshot() {
            registry.makeGauge(name: "sightline_stream_sampled_fps", labels: [("stream", stream)], help: "Frames per second arriving").set(s.sampledFPS)
        }
        return registry.emitToBuffer()
    }
}
