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
    /// What each of `frames` would cost if they were the next batch, in this order: the
    /// scheduler fills batches by it. Asked on the engine thread, between batches.
    func costs(of frames: [Frame]) -> [FrameCost]
}

/// What grounding a frame costs the engine.
public enum FrameCost: Sendable, Equatable {
    /// Nothing changed since its stream's last encoded frame: that frame's result is carried,
    /// so it costs grounding only, no encoder time.
    case carried
    /// It must be encoded: something moved, or it is its stream's first frame (or first at a
    /// new size), or carrying is off.
    case changed
    /// It must be encoded only because its stream's refresh interval has passed.
    case refresh
}

extension BatchGrounder {
    public var carriedInLastBatch: [String: Int] { [:] }
    public func costs(of frames: [Frame]) -> [FrameCost] { frames.map { _ in .changed } }
}

/// How the engine loop fills one batch (`FrameQueue.takeBatch`).
public struct BatchPlan {
    /// Most frames that need the encoder.
    public var encoded: Int
    /// Most frames in all, carried ones included (they cost grounding time only).
    public var total: Int
    /// A waiting frame older than this (seconds since capture) is skipped when a newer frame
    /// of its stream waits too: grounded, it would come too late to matter. nil: none is.
    public var staleAfter: Double?
    /// `BatchGrounder.costs(of:)`.
    public var costs: ([Frame]) -> [FrameCost]

    public init(encoded: Int, total: Int? = nil, staleAfter: Double? = nil, costs: @escaping ([Frame]) -> [FrameCost] = { $0.map { _ in .changed } }) {
        self.encoded = encoded
        self.total = total ?? encoded
        self.staleAfter = staleAfter
        self.costs = costs
    }
}

/// Frames waiting for the engine: a bounded FIFO per stream, filled by ingest without ever
/// blocking (when a stream's FIFO is full its oldest frame is dropped and counted), and
/// emptied by the engine thread in round-robin order across streams, so that a fast stream
/// cannot starve a slow one.
///
/// When the engine cannot keep up it degrades evenly (`takeBatch` with a `BatchPlan`):
/// frames whose result is carried cost no encoder time and go with every batch; of the frames
/// that need the encoder, each round gives every stream one, streams where something moved
/// before streams that are only due for their refresh; and a frame too old to matter is
/// skipped, oldest first, when its stream has a newer one waiting, so every stream's rate
/// drops alike and its newest frame is always grounded.
public final class FrameQueue: @unchecked Sendable {
    // All state is guarded by `condition`.
    private let condition = NSCondition()
    private var waiting: [String: RingBuffer<Frame>] = [:]
    private var order: [String] = []
    private var nextStream = 0
    private var closed = false
    private var poked = false
    /// Streams whose refresh was put off in the last batch for streams with motion: the next
    /// batch serves them first, so a refresh waits one batch at most.
    private var passedOver: Set<String> = []
    public let framesPerStream: Int
    private let onDrop: @Sendable (String) -> Void
    private let onStale: @Sendable (String) -> Void

    /// `onDrop(stream)`: a frame was dropped because its stream's FIFO was full;
    /// `onStale(stream)`: one was skipped for its age.
    public init(framesPerStream: Int, onDrop: @escaping @Sendable (String) -> Void, onStale: @escaping @Sendable (String) -> Void = { _ in }) {
        self.framesPerStream = framesPerStream
        self.onDrop = onDrop
        self.onStale = onStale
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
        takeBatch(BatchPlan(encoded: limit), deadline: deadline)
    }

    /// A batch filled by `plan` (see the type's comment). Waits as `takeBatch(limit:deadline:)`.
    public func takeBatch(_ plan: BatchPlan, deadline: Date) -> [Frame]? {
        var stale: [String] = []
        defer { for stream in stale { onStale(stream) } }
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
        if let staleAfter = plan.staleAfter {
            let now = Date()
            for stream in order {
                while waiting[stream]!.count > 1, let first = waiting[stream]!.first, now.timeIntervalSince(first.captureTime) > staleAfter {
                    _ = waiting[stream]!.popFirst()
                    stale.append(stream)
                }
            }
        }
        let start = nextStream % max(order.count, 1)
        let rotated = (0..<order.count).map { order[(start + $0) % order.count] }
        nextStream = start + 1
        var batch: [Frame] = []
        var taken: [String: [Frame]] = [:]
        var encoded = 0
        // What the next frame of `stream` would cost after what the batch holds of it.
        func nextCost(_ stream: String) -> FrameCost? {
            guard let frame = waiting[stream]!.first else { return nil }
            return plan.costs((taken[stream] ?? []) + [frame]).last
        }
        func take(_ stream: String) {
            let frame = waiting[stream]!.popFirst()!
            batch.append(frame)
            taken[stream, default: []].append(frame)
        }
        // Which round serves a stream's next frame: where something moved (or a refresh put off
        // last time) first, then where only a refresh is due.
        func urgent(_ stream: String, _ cost: FrameCost) -> Bool {
            cost == .changed || (cost == .refresh && passedOver.contains(stream))
        }
        var progress = true
        while progress, batch.count < plan.total {
            progress = false
            // Carried frames first (they are nearly free), then per round one encoded frame per
            // stream, the urgent ones before the others.
            for wantUrgent in [true, false] {
                for stream in rotated where batch.count < plan.total {
                    while batch.count < plan.total, nextCost(stream) == .carried {
                        take(stream)
                        progress = true
                    }
                    if encoded < plan.encoded, batch.count < plan.total, let cost = nextCost(stream), cost != .carried,
                       urgent(stream, cost) == wantUrgent {
                        take(stream)
                        encoded += 1
                        progress = true
                    }
                }
            }
        }
        passedOver = Set(order.filter { nextCost($0) == .refresh })
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
    /// `scheduler.max_latency`: seconds from capture to event that batches are sized for and
    /// frames skipped by; 0 sets no bound.
    private var maxLatency: Double
    /// Engine thread only.
    private var cost = EngineCost()
    /// Most carried frames in one batch: they are cheap, not free.
    static let maxCarried = 32
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
                maxLatency: Double = 0, watchdog: @escaping @Sendable () -> Void, watchdogInterval: Duration, logger: Logger) {
        self.maxLatency = maxLatency
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

    /// Batches taken from now on are sized for `maxLatency` (seconds; 0: no bound).
    public func update(maxLatency: Double) {
        queriesLock.withLock { self.maxLatency = maxLatency }
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
            let (limit, bound) = queriesLock.withLock { (maxBatch, maxLatency) }
            let sizes = cost.plan(maxBatch: limit, maxCarried: Self.maxCarried, maxLatency: bound)
            stats.engine(cost, encodedPerBatch: sizes.encoded)
            let plan = BatchPlan(encoded: sizes.encoded, total: sizes.total, staleAfter: sizes.staleAfter) { [grounder] in grounder.costs(of: $0) }
            guard var batch = queue.takeBatch(plan, deadline: Date().addingTimeInterval(interval)) else { break }
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
                let began = Date()
                let events = try grounder.ground(batch, queries: perFrame)
                let now = Date()
                let carried = grounder.carriedInLastBatch
                let carriedCount = carried.values.reduce(0, +)
                cost.record(encoded: batch.count - carriedCount, carried: carriedCount, seconds: now.timeIntervalSince(began))
                for frame in batch { stats.processed(frame.stream, latency: now.timeIntervalSince(frame.captureTime)) }
                for (stream, count) in carried { stats.carried(stream, count: count) }
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
