import Foundation
import Logging
import SightlineCore
import SightlineDaemon
import SightlineGrounding
import SightlineProtocol
import Testing

/// The scheduler's own rules: fairness, batching across streams, oldest-first drops, and
/// ingest never waiting on the engine. The grounder here records what it is given: these
/// tests are about scheduling, not about grounding (the end-to-end test runs the real model).
@Suite struct SchedulerTests {
    static func frame(_ stream: String, _ seq: UInt64) -> Frame {
        Frame(stream: stream, seq: seq, pts: Double(seq) / 2, captureTime: Date(), image: RGBImage(width: 2, height: 2))
    }

    @Test func dropsTheOldestFramesOfAStreamThatIsBehindAndCountsThem() {
        let drops = AcknowledgedIDs()
        let queue = FrameQueue(framesPerStream: 4) { drops.add("\($0)-\(UUID())") }
        for seq in 0..<10 { queue.offer(Self.frame("a", UInt64(seq))) }
        #expect(drops.count == 6)
        let batch = queue.takeBatch(limit: 10, deadline: Date())
        #expect(batch?.map(\.seq) == [6, 7, 8, 9])
    }

    @Test func servesStreamsInTurnSoThatABusyOneCannotStarveAQuietOne() {
        let queue = FrameQueue(framesPerStream: 8) { _ in }
        for seq in 0..<8 { queue.offer(Self.frame("busy", UInt64(seq))) }
        queue.offer(Self.frame("quiet", 0))
        queue.offer(Self.frame("other", 0))
        let first = queue.takeBatch(limit: 2, deadline: Date())!
        let second = queue.takeBatch(limit: 2, deadline: Date())!
        let served = (first + second).map(\.stream)
        #expect(Set(served) == ["busy", "quiet", "other"])
        // One frame per stream per round: the quiet streams did not wait behind eight busy frames.
        #expect(served.filter { $0 == "busy" }.count <= 2)
    }

    @Test func batchesFramesOfSeveralStreamsIntoOneCall() {
        let queue = FrameQueue(framesPerStream: 4) { _ in }
        for stream in ["a", "b", "c"] { queue.offer(Self.frame(stream, 0)) }
        let batch = queue.takeBatch(limit: 8, deadline: Date())!
        #expect(batch.map(\.stream).sorted() == ["a", "b", "c"])
    }

    @Test func anEmptyQueueWaitsUntilTheDeadlineAndAClosedOneEnds() {
        let queue = FrameQueue(framesPerStream: 4) { _ in }
        #expect(queue.takeBatch(limit: 4, deadline: Date().addingTimeInterval(0.05))?.isEmpty == true)
        queue.close()
        #expect(queue.takeBatch(limit: 4, deadline: Date().addingTimeInterval(10)).map(\.count) == nil)
    }

    @Test(.timeLimit(.minutes(1))) func ingestNeverWaitsForABusyEngine() async throws {
        let grounder = RecordingGrounder(blocked: true)
        let stats = RuntimeStats()
        let bus = EventBus(logger: Logger(label: "test"))
        let queue = FrameQueue(framesPerStream: 4) { stats.dropped($0) }
        let watchdog = AcknowledgedIDs()
        let query = QueryRecord(id: "q-1", text: "a bike", streams: [], threshold: 0.5, minDuration: 0, created: Date())
        let scheduler = Scheduler(queue: queue, grounder: grounder, bus: bus, stats: stats, queries: [query], maxBatch: 4,
                                  watchdog: { watchdog.add(UUID().uuidString) }, watchdogInterval: .milliseconds(20), logger: Logger(label: "test"))
        let events = SubscriberQueue(capacity: 100, stuckAfter: .seconds(60))
        _ = bus.subscribe(Subscription(), queue: events) {}
        scheduler.start()
        queue.offer(Self.frame("a", 0))
        // The engine now holds frame 0 and is stuck in the grounder. Offering a thousand
        // frames finishes anyway: the queue keeps the newest four and counts the rest.
        while grounder.calls == 0 { try await Task.sleep(for: .milliseconds(5)) }
        for seq in 1...1000 { queue.offer(Self.frame("a", UInt64(seq))) }
        #expect(grounder.calls == 1)
        #expect(stats.snapshot("a").dropped == 996)
        grounder.release()
        let line = await events.next()
        #expect(try JSONParser().parse(line!.bytes)["event"] == "match.start")
        while stats.snapshot("a").processed < 5 { try await Task.sleep(for: .milliseconds(5)) }
        await scheduler.stop()
        #expect(grounder.batches.flatMap { $0 }.map(\.seq) == [0, 997, 998, 999, 1000])
        #expect(grounder.threadNames == ["sl-engine"])
        #expect(grounder.queriesSeen.allSatisfy { $0 == ["q-1"] })
        #expect(watchdog.count >= 1)
    }

    /// A daemon that fails between building the scheduler and starting it still stops it:
    /// that must return, and promptly (it used to wait forever for a loop that never ran).
    /// The effective rate counts frames by capture time: 9 frames captured 0.5 s apart and
    /// grounded (whenever that was) are 2 per second, whatever their latency.
    @Test func theGroundedRateFollowsCaptureTimes() {
        let stats = RuntimeStats()
        #expect(stats.snapshot("cam").groundedFPS == 0)
        let now = Date().timeIntervalSince1970
        for i in 0..<9 {
            // Captured at now - 4 s + 0.5 s * i, grounded now.
            stats.processed("cam", latency: 4 - 0.5 * Double(i) + (now - Date().timeIntervalSince1970))
        }
        #expect(abs(stats.snapshot("cam").groundedFPS - 2) < 0.05, "\(stats.snapshot("cam").groundedFPS)")
        #expect(stats.snapshot("cam").processed == 9)
    }

    @Test(.timeLimit(.minutes(1))) func stopWithoutStartReturnsPromptly() async throws {
        let scheduler = Scheduler(queue: FrameQueue(framesPerStream: 4) { _ in }, grounder: RecordingGrounder(blocked: false),
                                  bus: EventBus(logger: Logger(label: "t")), stats: RuntimeStats(), queries: [], maxBatch: 4,
                                  watchdog: {}, watchdogInterval: .seconds(5), logger: Logger(label: "t"))
        let stopped = AcknowledgedIDs()
        Task.detached {
            await scheduler.stop()
            stopped.add("stopped")
        }
        // Generous for a loaded machine, far below the one-minute limit that would catch a hang.
        let deadline = ContinuousClock.now + .seconds(20)
        while stopped.count == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(stopped.count == 1, "stop() without start() did not return within 20 s")
    }

    @Test(.timeLimit(.minutes(1))) func theWatchdogTicksWhileIdle() async throws {
        let watchdog = AcknowledgedIDs()
        let queue = FrameQueue(framesPerStream: 4) { _ in }
        let grounder = RecordingGrounder(blocked: false)
        let scheduler = Scheduler(queue: queue, grounder: grounder, bus: EventBus(logger: Logger(label: "t")),
                                  stats: RuntimeStats(), queries: [], maxBatch: 4, watchdog: { watchdog.add(UUID().uuidString) },
                                  watchdogInterval: .milliseconds(10), logger: Logger(label: "t"))
        scheduler.start()
        // No frame ever arrives, so every tick comes from the idle scheduler.
        let deadline = ContinuousClock.now + .seconds(30)
        while watchdog.count < 5, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        await scheduler.stop()
        #expect(watchdog.count >= 5, "the idle scheduler ticked the watchdog \(watchdog.count) times in 30 s (every 10 ms expected)")
        #expect(grounder.calls == 0)
    }
}

/// Records batches; optionally holds the first call until released.
final class RecordingGrounder: BatchGrounder, @unchecked Sendable {
    private let lock = NSCondition()
    private var held: Bool
    private(set) var batches: [[Frame]] = []
    private(set) var threadNames: Set<String> = []
    private(set) var queriesSeen: [[String]] = []
    var calls: Int { lock.withLock { batches.count } }

    init(blocked: Bool) { held = blocked }

    func release() {
        lock.withLock {
            held = false
            lock.broadcast()
        }
    }

    func ground(_ frames: [Frame], queries: [[QueryRecord]]) throws -> [MatchEvent] {
        lock.lock()
        batches.append(frames)
        threadNames.insert(currentThreadName())
        queriesSeen += queries.map { $0.map(\.id) }
        while held { lock.wait() }
        lock.unlock()
        return frames.prefix(1).map { f in
            MatchEvent(kind: .start, stream: f.stream, query: "q-1", text: "a bike", track: 1, time: f.captureTime, pts: f.pts, frames: [])
        }
    }

    func update(queries: [QueryRecord]) -> [MatchEvent] { [] }

    func forget(stream: String) {}

    func finish(stream: String, reason: MatchEndReason) -> [MatchEvent] { [] }

    var streams: [String] { [] }
}
