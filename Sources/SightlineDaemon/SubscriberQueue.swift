import Foundation
import SightlineProtocol
import Synchronization

/// One encoded event line waiting for a subscriber, with the capture time of the frame it
/// came from (for latency, measured when the line has been written).
public struct QueuedLine: Sendable {
    public var bytes: [UInt8]
    public var captureTime: Date?
    public var stream: String?

    public init(bytes: [UInt8], captureTime: Date? = nil, stream: String? = nil) {
        self.bytes = bytes
        self.captureTime = captureTime
        self.stream = stream
    }
}

/// A subscriber's bounded queue. The publisher never waits: when the queue is full the event
/// is dropped and counted, and the count is delivered as one `lagged` line before the next
/// event that fits. A queue that stays full for `stuckAfter` is reported stuck so that its
/// connection is closed.
public final class SubscriberQueue: Sendable {
    public enum OfferResult: Sendable, Equatable {
        case queued
        case dropped
        /// Full for longer than allowed; the queue is closed.
        case stuck
        case closed
    }

    private struct State {
        var lines: RingBuffer<QueuedLine>
        var dropped = 0
        var droppedTotal = 0
        var fullSince: ContinuousClock.Instant?
        var waiter: CheckedContinuation<QueuedLine?, Never>?
        var closed = false
        var stuck = false
    }

    public let capacity: Int
    private let stuckAfter: Duration
    private let state: Mutex<State>

    public init(capacity: Int, stuckAfter: Duration) {
        precondition(capacity > 0)
        self.capacity = capacity
        self.stuckAfter = stuckAfter
        state = Mutex(State(lines: RingBuffer(capacity: capacity + 1)))
    }

    /// Events dropped for this subscriber since it connected.
    public var droppedTotal: Int { state.withLock { $0.droppedTotal } }
    public var isStuck: Bool { state.withLock { $0.stuck } }
    /// Whether a consumer is suspended in `next()` (for tests that need it to be waiting).
    var hasWaitingConsumer: Bool { state.withLock { $0.waiter != nil } }

    public func offer(_ line: QueuedLine, now: ContinuousClock.Instant = .now) -> OfferResult {
        let (result, resume) = state.withLock { s -> (OfferResult, (CheckedContinuation<QueuedLine?, Never>, QueuedLine?)?) in
            if s.closed { return (.closed, nil) }
            if let waiter = s.waiter {
                // The consumer is waiting, so the queue is empty: hand the line over directly.
                s.waiter = nil
                return (.queued, (waiter, line))
            }
            if s.lines.count >= capacity {
                s.dropped += 1
                s.droppedTotal += 1
                let since = s.fullSince ?? now
                s.fullSince = since
                if now - since >= stuckAfter {
                    s.closed = true
                    s.stuck = true
                    s.lines.removeAll()
                    return (.stuck, nil)
                }
                return (.dropped, nil)
            }
            if s.dropped > 0 {
                // The lagged notice takes the place of the lost events, before what follows.
                s.lines.append(QueuedLine(bytes: lagged(s.dropped)))
                s.dropped = 0
            }
            s.lines.append(line)
            return (.queued, nil)
        }
        if let (waiter, line) = resume { waiter.resume(returning: line) }
        return result
    }

    /// The next line, waiting for one; `nil` once the queue is closed.
    public func next() async -> QueuedLine? {
        await withCheckedContinuation { (continuation: CheckedContinuation<QueuedLine?, Never>) in
            let immediate: QueuedLine?? = state.withLock { s in
                if let line = s.lines.popFirst() {
                    s.fullSince = nil
                    return .some(line)
                }
                if s.dropped > 0 {
                    let n = s.dropped
                    s.dropped = 0
                    s.fullSince = nil
                    return .some(QueuedLine(bytes: lagged(n)))
                }
                if s.closed { return .some(nil) }
                precondition(s.waiter == nil, "one consumer per queue")
                s.waiter = continuation
                return .none
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
    }

    /// Ends the queue: the consumer gets `nil` and further offers are refused.
    public func close() {
        let waiter = state.withLock { s -> CheckedContinuation<QueuedLine?, Never>? in
            s.closed = true
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: nil)
    }
}

private func lagged(_ n: Int) -> [UInt8] {
    Event.lagged(dropped: n).line()
}

/// A fixed-capacity FIFO.
struct RingBuffer<Element> {
    private var storage: [Element?]
    private var head = 0
    private(set) var count = 0

    init(capacity: Int) { storage = Array(repeating: nil, count: capacity) }

    mutating func append(_ element: Element) {
        precondition(count < storage.count, "ring buffer full")
        storage[(head + count) % storage.count] = element
        count += 1
    }

    var first: Element? { count > 0 ? storage[head] : nil }

    mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[head]
        storage[head] = nil
        head = (head + 1) % storage.count
        count -= 1
        return element
    }

    mutating func removeAll() {
        while popFirst() != nil {}
    }
}

extension RingBuffer: Sendable where Element: Sendable {}
