import Foundation
import Logging
import SightlineCore
import SightlineGrounding
import SightlineProtocol

/// What the scheduler runs on the engine thread: one encoder call for a batch of frames
/// (from several streams), then each frame's grounding against its stream's queries.
/// Implementations are used from the engine thread only.
public protocol BatchGrounder: AnyObject {
    /// `queries[i]` are the standing queries that watch `frames[i].stream`. Returns the match
    /// events the batch produced, in order.
    func ground(_ frames: [Frame], queries: [[QueryRecord]]) throws -> [MatchEvent]
    /// A stream ended: close its open tubes (their `match.end` events).
    func finish(stream: String) -> [MatchEvent]
    /// A stream went away: forget its tubes and windows.
    func forget(stream: String)
}

/// Frames waiting for the engine: a bounded FIFO per stream, filled by ingest without ever
/// blocking (when a stream's FIFO is full its oldest frame is dropped and counted), and
/// emptied by the engine thread in round-robin order across streams, so that a fast stream
/// cannot starve a slow one.
public final class FrameQueue: @unchecked Sendable {
    // All state is guarded by `condition`.
    private let condition = NSCondition()
    private var waiting: [String: RingBuffer<Frame>] = [:]
    private var order: [String] = []
    private var nextStream = 0
    private var closed = false
    private var poked = false
    public let framesPerStream: Int
    private let onDrop: @Sendable (String) -> Void

    public init(framesPerStream: Int, onDrop: @escaping @Sendable (String) -> Void) {
        self.framesPerStream = framesPerStream
        self.onDrop = onDrop
    }

    public func offer(_ frame: Frame) {
        var dropped = false
        condition.lock()
        if !closed {
            if waiting[frame.stream] == nil {
                waiting[frame.stream] = RingBuffer(capacity: framesPerStream)
                order.append(frame.stream)
            }
            if waiting[frame.stream]!.count == framesPerStream {
                _ = waiting[frame.stream]!.popFirst()
                dropped = true
            }
            waiting[frame.stream]!.append(frame)
            condition.signal()
        }
        condition.unlock()
        if dropped { onDrop(frame.stream) }
    }

    /// Drops what a stream had waiting.
    public func remove(stream: String) {
        condition.lock()
        waiting[stream] = nil
        order.removeAll { $0 == stream }
        condition.unlock()
    }

    /// Frames a stream has waiting.
    public func pending(stream: String) -> Int {
        condition.lock()
        defer { condition.unlock() }
        return waiting[stream]?.count ?? 0
    }

    /// Wakes a waiting `takeBatch` (with an empty batch) so the engine loop looks at its
    /// other work.
    public func poke() {
        condition.lock()
        poked = true
        condition.signal()
        condition.unlock()
    }

    public func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// Up to `limit` frames, one per stream per round starting after the stream served first
    /// last time. Waits until at least one frame is there, `deadline` passes (empty result)
    /// or the queue is closed (`nil`). Blocks: call from the engine thread only.
    public func takeBatch(limit: Int, deadline: Date) -> [Frame]? {
        condition.lock()
        defer { condition.unlock() }
        while !closed, order.allSatisfy({ waiting[$0]!.count == 0 }) {
            if poked {
                poked = false
                return []
            }
            if !condition.wait(until: deadline) { return [] }
        }
        if closed { return nil }
        var batch: [Frame] = []
        let start = nextStream % max(order.count, 1)
        var progress = true
        while batch.count < limit, progress {
            progress = false
            for k in 0..<order.count where batch.count < limit {
                let stream = order[(start + k) % order.count]
                if let frame = waiting[stream]!.popFirst() {
                    batch.append(frame)
                    progress = true
                }
            }
        }
        nextStream = start + 1
        return batch
    }
}

/// The engine loop on its own thread (not the cooperative pool: encoding is long, blocking
/// CPU work). Takes batches from the `FrameQueue`, grounds them, publishes the events, and
/// calls the watchdog hook on every turn, busy or idle.
public final class Scheduler: @unchecked Sendable {
    private let queue: FrameQueue
    private let grounder: BatchGrounder
    private let bus: EventBus
    private let stats: RuntimeStats
    private var maxBatch: Int
    private let watchdog: @Sendable () -> Void
    private let watchdogInterval: Duration
    private let logger: Logger
    private let queriesLock = NSLock()
    private var queries: [QueryRecord]
    private var forgotten: [String] = []
    private var finishing: [(stream: String, then: @Sendable () -> Void)] = []
    private let finished = NSCondition()
    private var running = true

    public init(queue: FrameQueue, grounder: BatchGrounder, bus: EventBus, stats: RuntimeStats, queries: [QueryRecord], maxBatch: Int,
                watchdog: @escaping @Sendable () -> Void, watchdogInterval: Duration, logger: Logger) {
        self.queue = queue
        self.grounder = grounder
        self.bus = bus
        self.stats = stats
        self.queries = queries
        self.maxBatch = maxBatch
        self.watchdog = watchdog
        self.watchdogInterval = watchdogInterval
        self.logger = logger
    }

    public func update(queries: [QueryRecord]) {
        queriesLock.withLock { self.queries = queries }
    }

    /// Batches taken from now on hold at most `maxBatch` frames.
    public func update(maxBatch: Int) {
        queriesLock.withLock { self.maxBatch = maxBatch }
    }

    public func forget(stream: String) {
        queue.remove(stream: stream)
        queriesLock.withLock { forgotten.append(stream) }
    }

    /// Once the frames the stream has waiting are grounded, ends its open tubes, publishes
    /// their events, then calls `then` (ingest publishes the stream's end there, so that every
    /// match event of a stream comes before its `ended` status).
    public func finish(stream: String, then: @escaping @Sendable () -> Void) {
        queriesLock.withLock { finishing.append((stream, then)) }
        queue.poke()
    }

    public func start() {
        DedicatedThread.start(name: "sl-engine") { [self] in loop() }
    }

    /// Stops after the batch in progress and waits for the thread to finish.
    public func stop() {
        queue.close()
        finished.lock()
        while running { finished.wait() }
        finished.unlock()
    }

    private func finishStreamsThatAreDrained() {
        let ready = queriesLock.withLock { () -> [(stream: String, then: @Sendable () -> Void)] in
            let ready = finishing.filter { queue.pending(stream: $0.stream) == 0 }
            finishing.removeAll { entry in ready.contains { $0.stream == entry.stream } }
            return ready
        }
        for entry in ready {
            for event in grounder.finish(stream: entry.stream) {
                stats.matched(event.stream, query: event.query)
                bus.publish(.match(event), captureTime: event.time)
            }
            entry.then()
        }
    }

    private func loop() {
        let interval = Double(watchdogInterval.components.seconds) + Double(watchdogInterval.components.attoseconds) / 1e18
        while true {
            watchdog()
            let limit = queriesLock.withLock { maxBatch }
            guard let batch = queue.takeBatch(limit: limit, deadline: Date().addingTimeInterval(interval)) else { break }
            let (current, gone) = queriesLock.withLock { () -> ([QueryRecord], [String]) in
                defer { forgotten = [] }
                return (queries, forgotten)
            }
            for stream in gone { grounder.forget(stream: stream) }
            defer { finishStreamsThatAreDrained() }
            if batch.isEmpty { continue }
            let perFrame = batch.map { frame in current.filter { $0.watches(stream: frame.stream) } }
            do {
                let events = try grounder.ground(batch, queries: perFrame)
                let now = Date()
                for frame in batch { stats.processed(frame.stream, latency: now.timeIntervalSince(frame.captureTime)) }
                for event in events {
                    stats.matched(event.stream, query: event.query)
                    bus.publish(.match(event), captureTime: event.time)
                }
            } catch {
                logger.error("grounding failed for a batch; its frames are skipped", metadata: ["error": "\(error)", "frames": "\(batch.count)"])
                for frame in batch { stats.dropped(frame.stream) }
            }
        }
        // Shutting down: end what is open so that subscribers still connected hear of it.
        let pendingEnds = queriesLock.withLock { () -> [(stream: String, then: @Sendable () -> Void)] in
            defer { finishing = [] }
            return finishing
        }
        for entry in pendingEnds { entry.then() }
        finished.lock()
        running = false
        finished.broadcast()
        finished.unlock()
    }
}
