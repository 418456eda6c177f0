import Foundation
import SightlineCore
import Synchronization
import Testing

/// The engine's lock hands itself out in the order it was asked for.
@Suite struct FairLockTests {
    /// Waiters are made to arrive one after another (each queues before the next starts),
    /// so the order they are served in does not depend on the machine's speed.
    @Test(.timeLimit(.minutes(1))) func servesWaitersInTheOrderTheyArrived() async throws {
        let lock = FairLock<[Int]>([])
        let workers = (0...5).map { WorkerThread(name: "sl-fair-\($0)") }
        defer { for w in workers { w.close() } }
        let gate = DispatchSemaphore(value: 0)
        let holding = DispatchSemaphore(value: 0)
        workers[0].enqueue {
            lock.withLock { _ in
                holding.signal()
                gate.wait()
            }
        }
        holding.wait()
        for i in 1...5 {
            workers[i].enqueue { lock.withLock { $0.append(i) } }
            while lock.waiting < i { try await Task.sleep(for: .milliseconds(1)) }
        }
        gate.signal()
        for w in workers { _ = try await w.run {} }
        #expect(lock.withLock { $0 } == [1, 2, 3, 4, 5])
        #expect(lock.waiting == 0)
    }

    /// The live scheduler's pattern: let go and ask again at once. A waiter that queued while
    /// the holder had the lock comes next, before the holder's next turn, every time (an
    /// ordinary mutex lets the holder take it back first, most of the time).
    @Test(.timeLimit(.minutes(1))) func aHolderThatAsksAgainAtOnceDoesNotStarveAWaiter() async throws {
        let lock = FairLock<[String]>([])
        let busy = WorkerThread(name: "sl-fair-busy")
        let other = WorkerThread(name: "sl-fair-other")
        defer {
            busy.close()
            other.close()
        }
        let turns = 60
        let arrivals = Set(stride(from: 10, to: turns, by: 10))
        let done = try await busy.run { () -> Bool in
            for i in 0..<turns {
                lock.withLock { log in
                    log.append("busy-\(i)")
                    guard arrivals.contains(i) else { return }
                    other.enqueue { lock.withLock { $0.append("other-\(i)") } }
                    // Still holding: wait until the other thread is queued behind us.
                    let deadline = Date().addingTimeInterval(30)
                    while lock.waiting < 1, Date() < deadline { usleep(1000) }
                }
            }
            return true
        }
        #expect(done)
        _ = try await other.run {}
        var expected: [String] = []
        for i in 0..<turns {
            expected.append("busy-\(i)")
            if arrivals.contains(i) { expected.append("other-\(i)") }
        }
        #expect(lock.withLock { $0 } == expected)
    }
}
