import Foundation
import SightlineCore

/// Hands frames from a GStreamer streaming thread to one async consumer with backpressure:
/// the streaming thread blocks while `capacity` frames wait (GStreamer's own way of slowing
/// a pipeline down), the consumer awaits without blocking any thread.
final class FrameHandoff: @unchecked Sendable {
    private let condition = NSCondition()
    private let capacity: Int
    private var queue: [Frame] = []
    /// Set once: nil error for the end of the stream.
    private var ending: (any Error)??
    /// The consumer went away; producers stop.
    private var closed = false
    private var waiter: CheckedContinuation<Frame?, any Error>?
    /// When the consumer began waiting for the frame it waits for now.
    private var waitingSince: ContinuousClock.Instant?

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    private var waiting: Int { queue.count }

    /// Producer side, on a streaming thread: blocks while the queue is full. Returns false
    /// once the consumer has gone.
    func put(_ frame: Frame) -> Bool {
        condition.lock()
        while waiting >= capacity && !closed { condition.wait() }
        guard !closed else {
            condition.unlock()
            return false
        }
        if let waiter = takeWaiter() {
            condition.unlock()
            waiter.resume(returning: frame)
            return true
        }
        queue.append(frame)
        condition.unlock()
        return true
    }

    /// No more frames will come: `error` nil for the end of the stream. The consumer gets
    /// the frames already queued first. Only the first call counts.
    func finish(_ error: (any Error)?) {
        condition.lock()
        if ending == nil { ending = .some(error) }
        let resume = waiting == 0 ? takeWaiter() : nil
        condition.unlock()
        resume.map { deliverEnding(to: $0, error) }
    }

    /// Ends the stream with `error` if the consumer has been waiting, with nothing arriving,
    /// for longer than `limit` since both the start of its wait and `progress` (the last sign
    /// of life from the pipeline). Decided under the lock, so a frame that arrives first wins.
    /// Returns whether it ended the stream.
    func expire(after limit: Duration, progress: ContinuousClock.Instant?, now: ContinuousClock.Instant = .now, _ error: () -> any Error) -> Bool {
        condition.lock()
        guard ending == nil, !closed, waiter != nil, let since = waitingSince else {
            condition.unlock()
            return false
        }
        let reference = progress.map { max($0, since) } ?? since
        guard reference.duration(to: now) > limit else {
            condition.unlock()
            return false
        }
        let error = error()
        ending = .some(nil)
        let resume = takeWaiter()
        condition.unlock()
        resume?.resume(throwing: error)
        return true
    }

    /// The consumer is gone: wakes a blocked producer and drops what is queued.
    func close() {
        condition.lock()
        closed = true
        queue.removeAll()
        let resume = takeWaiter()
        condition.broadcast()
        condition.unlock()
        resume?.resume(returning: nil)
    }

    /// The next frame, nil at the end; throws the pipeline's error after the frames that came
    /// before it.
    func next() async throws -> Frame? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Frame?, any Error>) in
                condition.lock()
                if waiting > 0 {
                    // The queue holds at most `capacity` frames, so removing from the front is
                    // cheap, and a consumed frame is not kept alive by the queue.
                    let frame = queue.removeFirst()
                    condition.signal()
                    condition.unlock()
                    continuation.resume(returning: frame)
                } else if closed {
                    condition.unlock()
                    continuation.resume(returning: nil)
                } else if let ending {
                    // Report an error once; afterwards the sequence is simply over.
                    self.ending = .some(nil)
                    condition.unlock()
                    deliverEnding(to: continuation, ending)
                } else {
                    waiter = continuation
                    waitingSince = .now
                    condition.unlock()
                }
            }
        } onCancel: {
            close()
        }
    }

    /// Call with the lock held.
    private func takeWaiter() -> CheckedContinuation<Frame?, any Error>? {
        let taken = waiter
        waiter = nil
        waitingSince = nil
        return taken
    }

    private func deliverEnding(to continuation: CheckedContinuation<Frame?, any Error>, _ error: (any Error)?) {
        if let error { continuation.resume(throwing: error) } else { continuation.resume(returning: nil) }
    }
}
