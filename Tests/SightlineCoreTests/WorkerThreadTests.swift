import Foundation
import SightlineCore
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The one way blocking work leaves the cooperative pool.
@Suite struct WorkerThreadTests {
    @Test(.timeLimit(.minutes(1))) func runsJobsInTheOrderQueuedOnItsNamedThread() async throws {
        let worker = WorkerThread(name: "sl-test-order")
        defer { worker.close() }
        let seen = Mutex<[Int]>([])
        let names = Mutex<Set<String>>([])
        for i in 0..<100 {
            worker.enqueue {
                seen.withLock { $0.append(i) }
                names.withLock { _ = $0.insert(currentThreadName()) }
            }
        }
        // FIFO on one thread: this job runs after the hundred before it.
        let count = try await worker.run { seen.withLock { $0.count } }
        #expect(count == 100)
        #expect(seen.withLock { $0 } == Array(0..<100))
        #expect(names.withLock { $0 } == ["sl-test-order"])
        #expect(worker.threadCount == 1)
    }

    @Test(.timeLimit(.minutes(1))) func runReturnsTheJobsResultOrRethrowsItsError() async throws {
        let worker = WorkerThread(name: "sl-test-result")
        defer { worker.close() }
        #expect(try await worker.run { 6 * 7 } == 42)
        await #expect(throws: SightlineError(.invalidArgument, "no")) {
            try await worker.run { () throws -> Int in throw SightlineError(.invalidArgument, "no") }
        }
    }

    @Test(.timeLimit(.minutes(1))) func aDeadlineGivesUpOnAStuckJobAndTheThreadServesAgainAfterIt() async {
        let worker = WorkerThread(name: "sl-test-late")
        defer { worker.close() }
        let gate = DispatchSemaphore(value: 0)
        let stuck = await worker.run(timeout: .milliseconds(200)) { gate.wait(); return 1 }
        #expect(stuck == nil)
        gate.signal()
        #expect(await worker.run(timeout: .seconds(30)) { 2 } == 2)
    }

    @Test(.timeLimit(.minutes(1))) func aClosedWorkerFinishesWhatWasQueuedAndRefusesTheRest() async throws {
        let worker = WorkerThread(name: "sl-test-close")
        let gate = DispatchSemaphore(value: 0)
        let ran = Mutex<[String]>([])
        worker.enqueue { gate.wait(); ran.withLock { $0.append("first") } }
        worker.enqueue { ran.withLock { $0.append("queued") } }
        worker.close()
        #expect(!worker.enqueue { ran.withLock { $0.append("late") } })
        await #expect(throws: SightlineError.self) { try await worker.run { 1 } }
        #expect(await worker.run(timeout: .seconds(30)) { 1 } == nil)
        gate.signal()
        let deadline = ContinuousClock.now + .seconds(30)
        while ran.withLock({ $0.count }) < 2, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        try await Task.sleep(for: .milliseconds(50))
        #expect(ran.withLock { $0 } == ["first", "queued"])
    }

    /// Three jobs that each wait for the other two can only finish when three threads run
    /// them at once.
    @Test(.timeLimit(.minutes(1))) func aWorkerOfSeveralThreadsRunsJobsAtOnce() async throws {
        let worker = WorkerThread(name: "sl-test-pool", threads: 3)
        defer { worker.close() }
        final class Counter: Sendable { let value = Mutex(0) }
        let count = Counter()
        let results = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<3 {
                group.addTask {
                    try await worker.run {
                        count.value.withLock { $0 += 1 }
                        let deadline = Date().addingTimeInterval(30)
                        while count.value.withLock({ $0 }) < 3 {
                            if Date() > deadline { return false }
                            usleep(1000)
                        }
                        return true
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results == [true, true, true])
        #expect(worker.threadCount == 3)
    }

    /// Jobs that block hold the worker's threads, never the cooperative pool's: with more
    /// blocked jobs than the pool has threads (two on a 2-core machine), tasks still run.
    @Test(.timeLimit(.minutes(1))) func blockedJobsLeaveTheCooperativePoolFree() async throws {
        let gate = DispatchSemaphore(value: 0)
        let blocked = ProcessInfo.processInfo.activeProcessorCount + 2
        let waiting = (0..<blocked).map { _ in Task { try await WorkerThread.shared.run { gate.wait() } } }
        while WorkerThread.shared.queued > 0 { try await Task.sleep(for: .milliseconds(5)) }
        // A task that needs a pool thread: it could not run if the blocked jobs held them all.
        let answer = await Task.detached { (1...10).reduce(0, +) }.value
        #expect(answer == 55)
        for _ in 0..<blocked { gate.signal() }
        for task in waiting { try await task.value }
    }
}
