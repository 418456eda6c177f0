import Foundation
import Synchronization

/// A dedicated thread for the GStreamer calls that block: state changes (stopping a pipeline
/// joins its streaming threads; an RTSP teardown waits on the network; opening a file on a
/// mount that stopped answering never returns) and seeks. Tasks hand work to it and await the
/// result with a deadline, so neither the cooperative pool nor the task waits forever.
final class ControlThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var closing = false

    init(name: String) {
        let thread = Thread { [self] in loop() }
        thread.name = name
        thread.start()
    }

    /// Runs `body` on the thread and returns its result, or nil if it has not finished within
    /// `timeout` seconds (it still runs to its end; the thread is then stuck in it).
    func run<T: Sendable>(timeout: Double, _ body: @escaping @Sendable () -> T) async -> T? {
        await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
            let once = ResumeOnce(continuation)
            let timer = Task {
                try? await Task.sleep(for: .seconds(timeout))
                once.resume(nil)
            }
            enqueue {
                let result = body()
                // Resume before cancelling the timer: a cancelled timer resumes with nil at
                // once, and would otherwise report a job that finished as timed out.
                once.resume(result)
                timer.cancel()
            }
        }
    }

    /// Whichever of the job and the deadline comes first resumes the waiting task.
    private final class ResumeOnce<T: Sendable>: Sendable {
        private let continuation: Mutex<CheckedContinuation<T?, Never>?>
        init(_ continuation: CheckedContinuation<T?, Never>) { self.continuation = Mutex(continuation) }
        func resume(_ value: T?) {
            let taken = continuation.withLock { current in
                defer { current = nil }
                return current
            }
            taken?.resume(returning: value)
        }
    }

    /// Queues `body` without waiting for it.
    func enqueue(_ body: @escaping @Sendable () -> Void) {
        condition.lock()
        jobs.append(body)
        condition.signal()
        condition.unlock()
    }

    /// The thread finishes the jobs already queued, then exits.
    func close() {
        condition.lock()
        closing = true
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty && !closing { condition.wait() }
            if jobs.isEmpty && closing {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }
}
