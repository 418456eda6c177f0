import Foundation
import Prometheus
import Synchronization

/// Prometheus metrics: per-stream frame, drop and match counters, latency histograms, and
/// gauges read from `RuntimeStats` when scraped. Only made when `metrics.address` is set.
/// `Docs/operations.md` lists the names; each is `sightline_<name>_<unit>`. A removed stream's
/// or query's series are removed with it.
public final class DaemonMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    static let latencyBuckets: [Double] = [0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 1.5, 2.5, 5, 10]

    /// `sightline_<name>_<unit>`; a metric without a unit (a count of things now) passes "".
    static func name(_ name: String, unit: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "sightline", metricName: name, unitName: unit, helpText: help)
    }

    /// Which label values have series, and which belong to removed streams and queries.
    /// Updates check and create their series under this lock, and removals unregister under
    /// it, so that a frame still in flight for a removed stream cannot bring its series back.
    private let series = Mutex(Series())

    struct Series {
        var queries: Set<String> = []
        var retiredStreams: Set<String> = []
        var retiredQueries: Set<String> = []
        /// (stream, query) pairs that have a `matches` counter.
        var matchPairs: Set<[String]> = []
    }

    public init() {}

    /// The series of a removed stream or query are unregistered, not left at their last value.
    func registryChanged(_ change: RegistryChange) {
        series.withLock { s in
            switch change {
            case .streamAdded(let record):
                s.retiredStreams.remove(record.id)
            case .streamRemoved(let record):
                s.retiredStreams.insert(record.id)
                unregister(stream: record.id, &s)
            case .streamChanged(let old, let new) where old.id != new.id:
                s.retiredStreams.insert(old.id)
                unregister(stream: old.id, &s)
                s.retiredStreams.remove(new.id)
            case .streamChanged:
                break
            case .queriesChanged(let queries):
                let ids = Set(queries.map(\.id))
                for gone in s.queries.subtracting(ids) {
                    s.retiredQueries.insert(gone)
                    for pair in s.matchPairs where pair[1] == gone {
                        registry.unregisterCounter(matchesCounter(stream: pair[0], query: gone))
                        s.matchPairs.remove(pair)
                    }
                }
                s.retiredQueries.subtract(ids)
                s.queries = ids
            }
        }
    }

    /// The queries there are when the daemon starts.
    func track(queries: [String]) {
        series.withLock { $0.queries = Set(queries) }
    }

    private func unregister(stream: String, _ s: inout Series) {
        let labels = [("stream", stream)]
        registry.unregisterCounter(registry.makeCounter(descriptor: Self.frames, labels: labels))
        registry.unregisterCounter(registry.makeCounter(descriptor: Self.framesDropped, labels: labels))
        registry.unregisterCounter(registry.makeCounter(descriptor: Self.framesProcessed, labels: labels))
        registry.unregisterValueHistogram(registry.makeValueHistogram(descriptor: Self.groundingLatency, labels: labels, buckets: Self.latencyBuckets))
        registry.unregisterValueHistogram(registry.makeValueHistogram(descriptor: Self.deliveryLatency, labels: labels, buckets: Self.latencyBuckets))
        registry.unregisterGauge(registry.makeGauge(descriptor: Self.sampledFPS, labels: labels))
        for pair in s.matchPairs where pair[0] == stream {
            registry.unregisterCounter(matchesCounter(stream: stream, query: pair[1]))
            s.matchPairs.remove(pair)
        }
    }

    private func matchesCounter(stream: String, query: String) -> Counter {
        registry.makeCounter(descriptor: Self.matches, labels: [("stream", stream), ("query", query)])
    }

    /// Runs `update` unless the stream (or the query) was removed.
    private func ifLive(_ stream: String, query: String? = nil, _ update: (inout Series) -> Void) {
        series.withLock { s in
            guard !s.retiredStreams.contains(stream), !(query.map(s.retiredQueries.contains) ?? false) else { return }
            update(&s)
        }
    }

    static var frames: MetricNameDescriptor { name("frames", unit: "total", help: "Frames that reached the scheduler") }
    static var framesDropped: MetricNameDescriptor { name("frames_dropped", unit: "total", help: "Frames dropped before the engine, oldest first") }
    static var framesProcessed: MetricNameDescriptor { name("frames_processed", unit: "total", help: "Frames grounded") }
    static var groundingLatency: MetricNameDescriptor { name("grounding_latency", unit: "seconds", help: "Seconds from frame capture to grounded") }
    static var matches: MetricNameDescriptor { name("matches", unit: "total", help: "Match events") }
    static var deliveryLatency: MetricNameDescriptor { name("delivery_latency", unit: "seconds", help: "Seconds from frame capture to event written on a subscriber's socket") }
    static var sampledFPS: MetricNameDescriptor { name("stream_sampled_fps", unit: "", help: "Frames per second arriving") }

    func arrived(_ stream: String) {
        ifLive(stream) { _ in registry.makeCounter(descriptor: Self.frames, labels: [("stream", stream)]).increment() }
    }

    func dropped(_ stream: String, count: Int) {
        ifLive(stream) { _ in registry.makeCounter(descriptor: Self.framesDropped, labels: [("stream", stream)]).increment(by: Int64(count)) }
    }

    func processed(_ stream: String, latency: Double) {
        ifLive(stream) { _ in
            registry.makeCounter(descriptor: Self.framesProcessed, labels: [("stream", stream)]).increment()
            registry.makeValueHistogram(descriptor: Self.groundingLatency, labels: [("stream", stream)], buckets: Self.latencyBuckets).record(latency)
        }
    }

    func matched(_ stream: String, query: String) {
        ifLive(stream, query: query) { s in
            s.matchPairs.insert([stream, query])
            matchesCounter(stream: stream, query: query).increment()
        }
    }

    func delivered(_ stream: String, latency: Double) {
        ifLive(stream) { _ in
            registry.makeValueHistogram(descriptor: Self.deliveryLatency, labels: [("stream", stream)], buckets: Self.latencyBuckets).record(latency)
        }
    }

    /// The text exposition, with gauges brought up to date first.
    func exposition(stats: RuntimeStats, subscribers: Int) -> [UInt8] {
        registry.makeGauge(descriptor: Self.name("uptime", unit: "seconds", help: "Seconds since the daemon started"))
            .set(Date().timeIntervalSince(stats.started))
        registry.makeGauge(descriptor: Self.name("subscribers", unit: "", help: "Subscribed connections")).set(Double(subscribers))
        for (stream, s) in stats.snapshot() {
            ifLive(stream) { _ in registry.makeGauge(descriptor: Self.sampledFPS, labels: [("stream", stream)]).set(s.sampledFPS) }
        }
        return registry.emitToBuffer()
    }
}
