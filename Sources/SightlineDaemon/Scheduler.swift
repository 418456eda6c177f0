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
    /// The standing queries changed (`queries` are all of them now): on every stream, end the
    /// tubes of the queries that no longer watch it or whose values changed.
    func update(queries: [QueryRecord]) -> [MatchEvent]
    /// A stream ended, failed, went away or the daemon stops: close its open tubes (their
    /// `match.end` events, with `reason`).
    func finish(stream: String, reason: MatchEndReason) -> [MatchEvent]
    /// A stream went away: forget its tubes and windows (`finish` has ended its tubes).
    func forget(stream: String)
    /// The streams with tubes or windows, for ending them all.
    var streams: [String] { get }
    /// Frames of the last `ground` call, per stream, whose result was carried from the
    /// stream's last encoded frame instead of encoded.
    var carriedInLastBatch: [String: Int] { get }
}

extension BatchGrounder {
    public var carriedInLastBatch: [String: Int] { [:] }
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
///
/// Every open tube ends with a `match.end`, whichever way its stream or query goes: a
/// stream's end, failure or removal (`finish`, `forget`), a change of the standing queries
/// (`update(queries:)`, applied at once, not at the stream's next frame, which may never
/// come) and the loop's own stop, which ends what is still open (reason `shutdown`). All of
/// them run on the engine thread, where each tube's end is told once.
public final class Scheduler: @unchecked Sendable {
    private struct Ending {
        var stream: String
        var reason: MatchEndReason
        var then: @Sendable () -> Void
    }

    private let queue: FrameQueue
    private let grounder: BatchGrounder
    private let bus: EventBus
    private let stats: RuntimeStats
    private var maxBatch: Int
    private let watchdog: @Sendable () -> Void
    private let watchdogInterval: Duration
    private let logger: Logger
    // Guards the members below it.
    private let queriesLock = NSLock()
    private var queries: [QueryRecord]
    private var queriesChanged = false
    private var forgotten: [Ending] = []
    private var finishing: [Ending] = []
    /// Set once the loop has ended what was open: later requests are answered at once.
    private var exited = false
    /// The loop is the one long job of this thread; the engine's call chains are deep, hence the stack.
    private let engine = WorkerThread(name: "sl-engine", stackSize: 16 << 20)

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

    /// The standing queries now. The tubes of queries removed or changed end at the engine's
    /// next turn.
    public func update(queries: [QueryRecord]) {
        queriesLock.withLock {
            self.queries = queries
            queriesChanged = true
        }
        queue.poke()
    }

    /// Batches taken from now on hold at most `maxBatch` frames.
    public func update(maxBatch: Int) {
        queriesLock.withLock { self.maxBatch = maxBatch }
    }

    /// The stream went away (removed, or restarted with new settings): its waiting frames are
    /// dropped, its open tubes end with `reason`, it is forgotten, then `then` runs (ingest
    /// publishes the stream's `ended` status there, after its matches).
    public func forget(stream: String, reason: MatchEndReason, then: @escaping @Sendable () -> Void = {}) {
        queue.remove(stream: stream)
        guard queriesLock.withLock({ () -> Bool in
            if !exited { forgotten.append(Ending(stream: stream, reason: reason, then: then)) }
            return !exited
        }) else { return then() }
        queue.poke()
    }

    /// Once the frames the stream has waiting are grounded, ends its open tubes with `reason`,
    /// publishes their events, then calls `then` (ingest publishes the stream's end there, so
    /// that every match event of a stream comes before its `ended` status).
    public func finish(stream: String, reason: MatchEndReason, then: @escaping @Sendable () -> Void = {}) {
        guard queriesLock.withLock({ () -> Bool in
            if !exited { finishing.append(Ending(stream: stream, reason: reason, then: then)) }
            return !exited
        }) else { return then() }
        queue.poke()
    }

    public func start() {
        engine.enqueue { [self] in loop() }
    }

    /// Stops after the batch in progress, once the open tubes are ended and their events
    /// published, and waits for the loop to end. The wait holds no thread of the cooperative
    /// pool: it is an empty job queued behind the loop on the engine's thread, which also
    /// makes it return at once when `start()` never ran, and when called again.
    public func stop() async {
        queue.close()
        _ = try? await engine.run {}
        engine.close()
    }

    private func publish(_ events: [MatchEvent], counted: Bool = true) {
        for event in events {
            if counted { stats.matched(event.stream, query: event.query) }
            bus.publish(.match(event), captureTime: event.time)
        }
    }

    private func end(_ entry: Ending, forgetting: Bool) {
        // A removed stream's statistics are gone already; its ends must not bring them back.
        publish(grounder.finish(stream: entry.stream, reason: entry.reason), counted: !forgetting)
        if forgetting { grounder.forget(stream: entry.stream) }
        entry.then()
    }

    private func finishStreamsThatAreDrained() {
        let ready = queriesLock.withLock { () -> [Ending] in
            let ready = finishing.filter { queue.pending(stream: $0.stream) == 0 }
            finishing.removeAll { entry in ready.contains { $0.stream == entry.stream } }
            return ready
        }
        for entry in ready { end(entry, forgetting: false) }
    }

    private func loop() {
        let interval = Double(watchdogInterval.components.seconds) + Double(watchdogInterval.components.attoseconds) / 1e18
        while true {
            watchdog()
            let limit = queriesLock.withLock { maxBatch }
            guard var batch = queue.takeBatch(limit: limit, deadline: Date().addingTimeInterval(interval)) else { break }
            let (current, changed, gone) = queriesLock.withLock { () -> ([QueryRecord], Bool, [Ending]) in
                defer {
                    forgotten = []
                    queriesChanged = false
                }
                return (queries, queriesChanged, forgotten)
            }
            for entry in gone { end(entry, forgetting: true) }
            // Frames taken just before their stream went: grounding them would start tubes
            // on a stream that is gone, which nothing would end.
            if !gone.isEmpty { batch.removeAll { frame in gone.contains { $0.stream == frame.stream } } }
            if changed { publish(grounder.update(queries: current)) }
            defer { finishStreamsThatAreDrained() }
            if batch.isEmpty { continue }
            let perFrame = batch.map { frame in current.filter { $0.watches(stream: frame.stream) } }
            do {
                let events = try grounder.ground(batch, queries: perFrame)
                let now = Date()
                for frame in batch { stats.processed(frame.stream, latency: now.timeIntervalSince(frame.captureTime)) }
                for (stream, count) in grounder.carriedInLastBatch { stats.carried(stream, count: count) }
                publish(events)
            } catch {
                logger.error("grounding failed for a batch; its frames are skipped", metadata: ["error": "\(error)", "frames": "\(batch.count)"])
                for frame in batch { stats.dropped(frame.stream) }
            }
        }
        // Shutting down: end what is open so that subscribers still connected hear of it,
        // before the socket server (stopped after the engine) closes their connections.
        let (gone, pendingEnds) = queriesLock.withLock { () -> ([Ending], [Ending]) in
            exited = true
            defer {
                forgotten = []
                finishing = []
            }
            return (forgotten, finishing)
        }
        for entry in gone { end(entry, forgetting: true) }
        for entry in pendingEnds { end(entry, forgetting: false) }
        for stream in grounder.streams { publish(grounder.finish(stream: stream, reason: .shutdown)) }
    }
}
