import Foundation

/// A dedicated thread for the GStreamer calls that block: state changes (stopping a pipeline
/// joins its streaming threads; an RTSP teardown waits on the network) and seeks. Tasks
/// hand work to it and await the result, so the cooperative pool never blocks.
final class ControlThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var closing = false

    init(name: String) {
        let thread = Thread { [self] in loop() }
        thread.name = name
        thread.start()
    }

    /// Runs `body` on the thread and returns its result.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            enqueue { continuation.resume(with: Result { try body() }) }
        }
    }

    func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            enqueue { continuation.resume(returning: body()) }
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
