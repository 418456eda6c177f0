import Foundation
import SightlineCore
import SightlineGrounding
import SightlineProtocol
import Synchronization

/// Per-stream counters for `status` and metrics. Updated from ingest, the scheduler and the
/// subscriber writers; every update is a short critical section.
public final class RuntimeStats: Sendable {
    public struct Stream: Sendable, Equatable {
        public var state: String = "starting"
        public var error: String?
        /// Frames that reached the scheduler.
        public var received = 0
        /// Frames the engine processed.
        public var processed = 0
        /// Of those, frames whose result was carried from the stream's last encoded frame.
        public var carried = 0
        /// Frames dropped before the engine, oldest first (by ingest or the scheduler).
        public var dropped = 0
        /// Of those, frames the scheduler skipped as too old to matter (`scheduler.max_latency`).
        public var stale = 0
        /// Match events produced.
        public var matches = 0
        /// Width and height of the last frame that arrived: the analysis size.
        public var frameSize: PixelSize?
        /// The change detector's verdict on the last frame that arrived.
        public var motion: MotionDetector.Result?
        /// Capture time of the last frame in which something changed.
        public var lastChange: Date?
        var arrivals = RecentValues(capacity: 32)
        /// Capture times of the last frames grounded, for the effective rate.
        var grounded = RecentValues(capacity: 32)
        var groundingLatency = RecentValues(capacity: 512)
        var deliveryLatency = RecentValues(capacity: 512)

        /// Sampled frames per second over the last arrivals.
        public var sampledFPS: Double {
            guard arrivals.count >= 2, let first = arrivals.oldest, let last = arrivals.newest, last > first else { return 0 }
            return Double(arrivals.count - 1) / (last - first)
        }
        /// Frames grounded per second over the last ones grounded (by capture time): the rate
        /// the engine keeps up with, below `sampledFPS` when it falls behind and drops.
        public var groundedFPS: Double {
            guard grounded.count >= 2, let first = grounded.oldest, let last = grounded.newest, last > first else { return 0 }
            return Double(grounded.count - 1) / (last - first)
        }
        /// Seconds from capture to grounded, over the last frames.
        public func groundingPercentile(_ p: Double) -> Double? { groundingLatency.percentile(p) }
        /// Seconds from capture to event line written, over the last events.
        public func deliveryPercentile(_ p: Double) -> Double? { deliveryLatency.percentile(p) }
    }

    /// What the engine's frames cost and how many go in a batch, as the scheduler last planned.
    public struct Engine: Sendable, Equatable {
        public var encodeSeconds: Double?
        public var carrySeconds: Double?
        public var encodedPerBatch = 0
    }

    private let streams = Mutex<[String: Stream]>([:])
    private let engineState = Mutex(Engine())
    public let started = Date()
    let metrics: DaemonMetrics?

    public init(metrics: DaemonMetrics? = nil) {
        self.metrics = metrics
    }

    public func snapshot() -> [String: Stream] { streams.withLock { $0 } }
    public func snapshot(_ id: String) -> Stream { streams.withLock { $0[id] } ?? Stream() }

    private func update(_ id: String, _ body: (inout Stream) -> Void) {
        streams.withLock { body(&$0[id, default: Stream()]) }
    }

    public func status(_ status: SourceStatus) {
        update(status.stream) {
            $0.state = status.state.name
            if case .failed(let message) = status.state { $0.error = message } else { $0.error = status.error }
        }
    }

    public func arrived(_ id: String, at time: Date, width: Int, height: Int) {
        update(id) {
            $0.received += 1
            $0.arrivals.add(time.timeIntervalSince1970)
            $0.frameSize = PixelSize(width: width, height: height)
        }
        metrics?.arrived(id)
    }

    public func moved(_ id: String, _ result: MotionDetector.Result, at time: Date) {
        update(id) {
            $0.motion = result
            if result.changed { $0.lastChange = time }
        }
    }

    public func carried(_ id: String, count: Int) {
        update(id) { $0.carried += count }
    }

    public var engine: Engine { engineState.withLock { $0 } }

    func engine(_ cost: EngineCost, encodedPerBatch: Int) {
        engineState.withLock { $0 = Engine(encodeSeconds: cost.encoded, carrySeconds: cost.carried, encodedPerBatch: encodedPerBatch) }
    }

    /// A frame skipped for its age: dropped, and counted as stale.
    public func stale(_ id: String) {
        update(id) {
            $0.dropped += 1
            $0.stale += 1
        }
        metrics?.dropped(id, count: 1)
    }

    public func dropped(_ id: String, count: Int = 1) {
        update(id) { $0.dropped += count }
        metrics?.dropped(id, count: count)
    }

    public func processed(_ id: String, latency: Double) {
        // The frame's capture time: now less the time it took from capture to grounded.
        let captured = Date().timeIntervalSince1970 - latency
        update(id) {
            $0.processed += 1
            $0.groundingLatency.add(latency)
            $0.grounded.add(captured)
        }
        metrics?.processed(id, latency: latency)
    }

    public func matched(_ id: String, query: String) {
        update(id) { $0.matches += 1 }
        metrics?.matched(id, query: query)
    }

    public func delivered(_ id: String, latency: Double) {
        update(id) { $0.deliveryLatency.add(latency) }
        metrics?.delivered(id, latency: latency)
    }
    public func remove(_ id: String) { _ = streams.withLock { $0.removeValue(forKey: id) } }
}

/// The last `capacity` values, for rates and percentiles that follow recent behaviour.
struct RecentValues: Sendable, Equatable {
    private var values: [Double] = []
    private var next = 0
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    var count: Int { values.count }

    mutating func add(_ value: Double) {
        if values.count < capacity {
            values.append(value)
        } else {
            values[next] = value
        }
        next = (next + 1) % capacity
    }

    var newest: Double? { values.isEmpty ? nil : values[(next - 1 + values.count) % values.count] }
    var oldest: Double? { values.isEmpty ? nil : (values.count < capacity ? values[0] : values[next]) }

    /// Nearest-rank percentile, `p` in 0...100.
    func percentile(_ p: Double) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[max(0, min(sorted.count - 1, rank - 1))]
    }
}
