import Foundation
import Logging
import SightlineCore
@testable import SightlineDaemon
import SightlineGrounding
import SightlineProtocol
import Synchronization
import Testing

@Suite struct EventBusTests {
    func line(_ n: Int) -> QueuedLine { QueuedLine(bytes: Array("e\(n)\n".utf8)) }

    @Test func aFullQueueDropsAndThenSaysHowMany() async throws {
        let queue = SubscriberQueue(capacity: 3, stuckAfter: .seconds(60))
        for i in 0..<3 { #expect(queue.offer(line(i)) == .queued) }
        for i in 3..<8 { #expect(queue.offer(line(i)) == .dropped) }
        #expect(queue.droppedTotal == 5)
        var got: [String] = []
        for _ in 0..<4 { got.append(String(decoding: await queue.next()!.bytes, as: UTF8.self)) }
        #expect(got == ["e0\n", "e1\n", "e2\n", "{\"event\":\"lagged\",\"dropped\":5}\n"])
        #expect(queue.offer(line(9)) == .queued)
        #expect(await queue.next()?.bytes == Array("e9\n".utf8))
    }

    @Test func theLaggedNoticeComesBeforeTheNextEventThatFits() async throws {
        let queue = SubscriberQueue(capacity: 2, stuckAfter: .seconds(60))
        _ = queue.offer(line(0)); _ = queue.offer(line(1)); _ = queue.offer(line(2))
        _ = await queue.next()
        #expect(queue.offer(line(3)) == .queued)
        var got: [String] = []
        for _ in 0..<3 { got.append(String(decoding: await queue.next()!.bytes, as: UTF8.self)) }
        #expect(got == ["e1\n", "{\"event\":\"lagged\",\"dropped\":1}\n", "e3\n"])
    }

    @Test func aQueueThatStaysFullIsStuck() {
        let queue = SubscriberQueue(capacity: 1, stuckAfter: .seconds(2))
        let start = ContinuousClock.now
        #expect(queue.offer(line(0), now: start) == .queued)
        #expect(queue.offer(line(1), now: start) == .dropped)
        #expect(queue.offer(line(2), now: start + .seconds(1)) == .dropped)
        #expect(queue.offer(line(3), now: start + .seconds(2)) == .stuck)
        #expect(queue.isStuck)
        #expect(queue.offer(line(4), now: start + .seconds(3)) == .closed)
    }

    @Test func closeWakesAWaitingConsumer() async throws {
        let queue = SubscriberQueue(capacity: 4, stuckAfter: .seconds(60))
        let consumer = Task { await queue.next() }
        // Close only once the consumer is suspended in next(), so that it is the waking that is tested.
        let waitingBy = ContinuousClock.now + .seconds(30)
        while !queue.hasWaitingConsumer {
            try #require(ContinuousClock.now < waitingBy, "the consumer never started waiting")
            try await Task.sleep(for: .milliseconds(5))
        }
        queue.close()
        // next() cannot be cancelled, so the consumer is raced against a deadline rather than
        // awaited: a close that does not wake it fails here instead of hanging the run.
        switch await Self.first(within: .seconds(30), { await consumer.value }) {
        case .timedOut: Issue.record("close() did not wake the consumer waiting in next() within 30 s")
        case .finished(let line): #expect(line == nil, "the consumer got a line instead of the end of the queue")
        }
    }

    enum Race<T: Sendable>: Sendable {
        case finished(T)
        case timedOut
    }

    /// The result of `body`, or `.timedOut` when `limit` passes first (`body` is then left running).
    static func first<T: Sendable>(within limit: Duration, _ body: @escaping @Sendable () async -> T) async -> Race<T> {
        await withCheckedContinuation { (c: CheckedContinuation<Race<T>, Never>) in
            let once = ResumeOnce(c)
            Task { once.resume(.finished(await body())) }
            Task { try? await Task.sleep(for: limit); once.resume(.timedOut) }
        }
    }

    @Test func theBusFiltersAndStripsDetailPerSubscriber() async throws {
        let bus = EventBus(logger: Logger(label: "test"))
        let all = SubscriberQueue(capacity: 10, stuckAfter: .seconds(60))
        let boxes = SubscriberQueue(capacity: 10, stuckAfter: .seconds(60))
        let other = SubscriberQueue(capacity: 10, stuckAfter: .seconds(60))
        let quiet = SubscriberQueue(capacity: 10, stuckAfter: .seconds(60))
        _ = bus.subscribe(Subscription(), queue: all) {}
        _ = bus.subscribe(Subscription(streams: ["cam1"], detail: .box), queue: boxes) {}
        _ = bus.subscribe(Subscription(queries: ["q-2"]), queue: other) {}
        _ = bus.subscribe(Subscription(status: false), queue: quiet) {}
        let mask = try RLEMask(height: 2, width: 2, counts: [1, 2, 1])
        let match = MatchEvent(kind: .start, stream: "cam1", query: "q-1", text: "a bike", track: 1, time: Date(), pts: 0,
                               frames: [MatchFrame(pts: 0, score: 0.9, box: mask.boundingBox, point: PixelPoint(x: 0, y: 1), mask: mask)])
        bus.publish(.match(match))
        bus.publish(.streamStatus(StreamStatusEvent(SourceStatus(stream: "cam2", state: .online))))
        func parsed(_ q: SubscriberQueue) async throws -> JSONValue { try JSONParser().parse(await q.next()!.bytes) }
        #expect(try await parsed(all)["frames"]?.arrayValue?.first?["mask"] != nil)
        #expect(try await parsed(all)["event"] == "stream.status")
        let boxed = try await parsed(boxes)
        #expect(boxed["frames"]?.arrayValue?.first?["mask"] == nil && boxed["frames"]?.arrayValue?.first?["box"] != nil)
        #expect(try await parsed(quiet)["event"] == "match.start")
        // Status events are about streams, not queries: a query filter lets them through.
        #expect(try await parsed(other)["event"] == "stream.status")
        // What was not for them never arrived.
        for q in [boxes, other, quiet] { #expect(q.offer(line(0)) == .queued) }
        #expect(await String(decoding: other.next()!.bytes, as: UTF8.self) == "e0\n")
        #expect(await String(decoding: boxes.next()!.bytes, as: UTF8.self) == "e0\n")
        #expect(await String(decoding: quiet.next()!.bytes, as: UTF8.self) == "e0\n")
    }

    @Test func aStuckSubscriberIsDisconnectedAndTheOthersCarryOn() async throws {
        let bus = EventBus(logger: Logger(label: "test"))
        let stuck = SubscriberQueue(capacity: 1, stuckAfter: .milliseconds(1))
        let healthy = SubscriberQueue(capacity: 100, stuckAfter: .seconds(60))
        let disconnected = AcknowledgedIDs()
        _ = bus.subscribe(Subscription(), queue: stuck) { disconnected.add("stuck") }
        _ = bus.subscribe(Subscription(), queue: healthy) { disconnected.add("healthy") }
        for i in 0..<50 {
            bus.publish(.streamStatus(StreamStatusEvent(SourceStatus(stream: "s\(i)", state: .online))))
            try await Task.sleep(for: .milliseconds(1))
        }
        #expect(disconnected.all == ["stuck"])
        #expect(bus.subscriberCount == 1 && bus.stuckDisconnects == 1)
        for i in 0..<50 { #expect(try JSONParser().parse(await healthy.next()!.bytes)["stream"] == .string("s\(i)")) }
    }
}

/// A continuation that the first of several racers resumes; the others do nothing.
private final class ResumeOnce<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T, Never>?>
    init(_ c: CheckedContinuation<T, Never>) { continuation = Mutex(c) }
    func resume(_ value: T) { continuation.withLock { c in c?.resume(returning: value); c = nil } }
}
