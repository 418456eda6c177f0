import Foundation
import SightlineCore
@testable import SightlineDaemon
import Testing

/// How the scheduler degrades when the engine cannot keep up: carried frames ride along
/// free, streams where something moved are served before streams only due for a refresh,
/// every stream's rate falls alike, frames too old to matter are skipped (never a stream's
/// newest), and batches are sized for the latency bound from what frames have cost.
@Suite struct DegradationTests {
    static func frame(_ stream: String, _ seq: UInt64, age: Double = 0, changed: Bool = true) -> Frame {
        var f = Frame(stream: stream, seq: seq, pts: Double(seq) / 2, captureTime: Date().addingTimeInterval(-age),
                      image: RGBImage(width: 2, height: 2))
        f.changed = changed
        return f
    }

    /// Costs as a carrying grounder gives them: unchanged frames of a stream whose name says
    /// "refresh" are due for a refresh, other unchanged frames are carried.
    static func costs(_ frames: [Frame]) -> [FrameCost] {
        frames.map { $0.changed ? .changed : ($0.stream.hasPrefix("refresh") ? .refresh : .carried) }
    }

    @Test func carriedFramesRideAlongWithoutTakingEncoderPlaces() {
        let queue = FrameQueue(framesPerStream: 8) { _ in }
        for seq in 0..<4 { queue.offer(Self.frame("idle", UInt64(seq), changed: false)) }
        for seq in 0..<4 { queue.offer(Self.frame("busy", UInt64(seq))) }
        let batch = queue.takeBatch(BatchPlan(encoded: 1, total: 16, costs: Self.costs), deadline: Date())!
        #expect(batch.filter { $0.stream == "idle" }.count == 4)
        #expect(batch.filter { $0.stream == "busy" }.map(\.seq) == [0])
    }

    @Test func motionIsServedBeforeARefreshButARefreshIsNotLostForIt() {
        let queue = FrameQueue(framesPerStream: 8) { _ in }
        // The refresh stream comes first in turn, and still waits behind the moving ones.
        queue.offer(Self.frame("refresh", 0, changed: false))
        queue.offer(Self.frame("moving-a", 0))
        queue.offer(Self.frame("moving-b", 0))
        let plan = BatchPlan(encoded: 2, total: 8, costs: Self.costs)
        let first = queue.takeBatch(plan, deadline: Date())!
        #expect(Set(first.map(\.stream)) == ["moving-a", "moving-b"])
        let second = queue.takeBatch(plan, deadline: Date())!
        #expect(second.map(\.stream) == ["refresh"])
    }

    @Test func aRefreshPutOffForMotionWaitsOneBatchAtMost() {
        let queue = FrameQueue(framesPerStream: 8) { _ in }
        let plan = BatchPlan(encoded: 2, total: 8, costs: Self.costs)
        var refreshed: [Int] = []
        // Two streams with motion would take both places of every batch.
        for turn in 0..<4 {
            queue.offer(Self.frame("moving-a", UInt64(turn)))
            queue.offer(Self.frame("moving-b", UInt64(turn)))
            if turn == 0 { queue.offer(Self.frame("refresh", 0, changed: false)) }
            if queue.takeBatch(plan, deadline: Date())!.contains(where: { $0.stream == "refresh" }) { refreshed.append(turn) }
        }
        #expect(refreshed == [1])
    }

    @Test func everyStreamsRateFallsAlike() {
        let queue = FrameQueue(framesPerStream: 4) { _ in }
        var served: [String: Int] = [:]
        // Five streams with motion offer a frame per turn; the engine encodes two per batch.
        for turn in 0..<50 {
            for s in 0..<5 { queue.offer(Self.frame("cam\(s)", UInt64(turn))) }
            for f in queue.takeBatch(BatchPlan(encoded: 2, total: 8, costs: Self.costs), deadline: Date())! { served[f.stream, default: 0] += 1 }
        }
        #expect(served.count == 5)
        #expect(served.values.max()! - served.values.min()! <= 1, "\(served)")
    }

    @Test func staleFramesAreSkippedOldestFirstButNeverAStreamsNewest() {
        let stale = AcknowledgedIDs()
        let queue = FrameQueue(framesPerStream: 8, onDrop: { _ in }, onStale: { stale.add("\($0)-\(UUID())") })
        for (seq, age) in [(0, 3.0), (1, 2.5), (2, 0.2)] { queue.offer(Self.frame("a", UInt64(seq), age: age)) }
        // A stream whose only frame is old still has it grounded: late beats never.
        queue.offer(Self.frame("lonely", 0, age: 5))
        let batch = queue.takeBatch(BatchPlan(encoded: 8, staleAfter: 1, costs: Self.costs), deadline: Date())!
        #expect(batch.filter { $0.stream == "a" }.map(\.seq) == [2])
        #expect(batch.filter { $0.stream == "lonely" }.map(\.seq) == [0])
        #expect(stale.count == 2)
    }

    @Test func batchesAreSizedForTheLatencyBound() {
        var cost = EngineCost()
        // Nothing measured yet: the configured batch.
        #expect(cost.plan(maxBatch: 8, maxCarried: 32, maxLatency: 1.5).encoded == 8)
        // 0.4 s per encoded frame: one frame fits in half of 1.5 s, and one waits behind it.
        cost.record(encoded: 4, carried: 0, seconds: 1.6)
        var plan = cost.plan(maxBatch: 8, maxCarried: 32, maxLatency: 1.5)
        #expect(plan.encoded == 1)
        #expect(abs(plan.staleAfter! - 1.1) < 1e-9)
        // Carried frames at 10 ms each: up to 32, the carried limit.
        cost.record(encoded: 0, carried: 10, seconds: 0.1)
        plan = cost.plan(maxBatch: 8, maxCarried: 32, maxLatency: 1.5)
        #expect(plan.total == 1 + 32)
        // A fast engine fills the configured batch; no bound means no skipping.
        var fast = EngineCost()
        fast.record(encoded: 8, carried: 0, seconds: 0.08)
        #expect(fast.plan(maxBatch: 8, maxCarried: 32, maxLatency: 1.5).encoded == 8)
        let unbounded = fast.plan(maxBatch: 8, maxCarried: 32, maxLatency: 0)
        #expect(unbounded.staleAfter == nil && unbounded.encoded == 8 && unbounded.total == 8)
        // An engine slower than the bound itself still grounds one frame at a time.
        var slow = EngineCost()
        slow.record(encoded: 1, carried: 0, seconds: 5)
        #expect(slow.plan(maxBatch: 8, maxCarried: 32, maxLatency: 1.5).encoded == 1)
        #expect(slow.plan(maxBatch: 8, maxCarried: 32, maxLatency: 1.5).staleAfter == 0)
    }
}
