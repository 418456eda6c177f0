import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Named POSIX threads of our own that serve one FIFO queue of jobs: the one way blocking
/// work (the engine, GStreamer state changes, fsync, reading files) leaves the cooperative
/// pool. That pool has as many threads as cores, two on the machines we run on, so a single
/// blocking call there halves the daemon; here it holds only a thread made for it.
///
/// With `threads: 1` jobs run one after another in the order they were queued (the engine
/// loop, a pipeline's control thread); with more, several run at once, started in order.
/// Threads start when the first job needs them and stay until `close()`.
public final class WorkerThread: Sendable {
    public let name: String
    public let maxThreads: Int
    public let stackSize: Int
    private let shared: Shared

    /// For one-off blocking work that has no worker of its own (a file read, an fsync, a
    /// configuration load, a ground request's engine calls). A job may block for long (a
    /// mount that stopped answering): it holds one of these threads, and up to 16 such jobs
    /// leave the rest of the daemon running. Engine calls run here too (a `ground` request's),
    /// whose deep call chains want the engine thread's stack; it is reserved, not used.
    public static let shared = WorkerThread(name: "sl-blocking", threads: 16, stackSize: 16 << 20)

    /// `name` is what `top -H` and `currentThreadName()` show (Linux keeps 15 bytes). The
    /// stack defaults to the size Linux gives its main thread; it is reserved, not used.
    public init(name: String, threads: Int = 1, stackSize: Int = 8 << 20) {
        self.name = name
        self.maxThreads = max(1, threads)
        self.stackSize = stackSize
        self.shared = Shared()
    }

    /// Queues `job` without waiting for it; false (and `job` never runs) once `close()` was called.
    @discardableResult
    public func enqueue(_ job: @escaping @Sendable () -> Void) -> Bool {
        let start = shared.withState { state -> (queued: Bool, newThread: Int?) in
            guard !state.closing else { return (false, nil) }
            state.jobs.append(job)
            // A new thread only when no idle one will take the job.
            if state.idle >= state.jobs.count || state.threads >= maxThreads { return (true, nil) }
            state.threads += 1
            return (true, state.threads)
        }
        if let index = start.newThread { startThread(index: index) }
        return start.queued
    }

    /// Runs `body` on a thread of this worker and returns its result or error. The waiting
    /// task holds no thread. A cancelled task still waits for `body`, which cannot be stopped.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let queued = enqueue { continuation.resume(with: Result { try body() }) }
            if !queued { continuation.resume(throwing: closedError) }
        }
    }

    /// Runs `body` and returns its result, or nil when it has not finished within `timeout`
    /// (it still runs to its end, holding its thread) or the worker is closed. For calls that
    /// may never return, such as a GStreamer state change on a source that stopped answering.
    public func run<T: Sendable>(timeout: Duration, _ body: @escaping @Sendable () -> T) async -> T? {
        await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
            let once = ResumeOnce(continuation)
            let timer = Task {
                try? await Task.sleep(for: timeout)
                once.resume(nil)
            }
            let queued = enqueue {
                let result = body()
                // Resume before cancelling the timer: a cancelled timer resumes with nil at
                // once, and would otherwise report a job that finished as timed out.
                once.resume(result)
                timer.cancel()
            }
            if !queued {
                once.resume(nil)
                timer.cancel()
            }
        }
    }

    /// The threads finish the jobs already queued, then exit; later jobs are refused.
    public func close() {
        shared.withState { $0.closing = true }
        shared.condition.broadcast()
    }

    /// Jobs queued and not yet started.
    public var queued: Int { shared.withState { $0.jobs.count } }

    /// Threads started so far.
    public var threadCount: Int { shared.withState { $0.threads } }

    private var closedError: SightlineError {
        SightlineError(.system, "the worker thread \(name) is closed", context: ["thread": name])
    }

    private func startThread(index: Int) {
        let shared = shared
        let threadName = maxThreads == 1 ? name : "\(name)-\(index)"
        startDetachedThread(name: threadName, stackSize: stackSize) { shared.loop() }
    }

    private final class Shared: @unchecked Sendable {
        struct State {
            var jobs: [@Sendable () -> Void] = []
            var threads = 0
            var idle = 0
            var closing = false
        }

        // `state` is guarded by `condition`.
        let condition = NSCondition()
        private var state = State()

        func withState<R>(_ body: (inout State) -> R) -> R {
            condition.lock()
            defer { condition.unlock() }
            let result = body(&state)
            condition.signal()
            return result
        }

        func loop() {
            condition.lock()
            while true {
                if !state.jobs.isEmpty {
                    let job = state.jobs.removeFirst()
                    condition.unlock()
                    job()
                    condition.lock()
                    continue
                }
                if state.closing { break }
                state.idle += 1
                condition.wait()
                state.idle -= 1
            }
            condition.unlock()
            // Closing: wake the other threads so they exit too.
            condition.broadcast()
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
}

private final class ThreadStart {
    let name: String
    let body: () -> Void
    init(name: String, body: @escaping () -> Void) {
        self.name = name
        self.body = body
    }
}

/// A detached pthread with the stack size asked for (Foundation's `Thread` gives no say on
/// Linux before it starts, and the engine's deep call chains want more than the default).
private func startDetachedThread(name: String, stackSize: Int, _ body: @escaping () -> Void) {
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setstacksize(&attributes, max(stackSize, 64 << 10))
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    let start = Unmanaged.passRetained(ThreadStart(name: name, body: body)).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(&thread, &attributes, { raw in
        let start = Unmanaged<ThreadStart>.fromOpaque(raw!).takeRetainedValue()
        setCurrentThreadName(start.name)
        start.body()
        return nil
    }, start)
    precondition(result == 0, "cannot start thread \(name): error \(result)")
}

// pthread_setname_np is not exported to Swift; the kernel's own file does the same.
private func setCurrentThreadName(_ name: String) {
    let fd = open("/proc/thread-self/comm", O_WRONLY)
    guard fd >= 0 else { return }
    defer { close(fd) }
    let bytes = Array(name.utf8.prefix(15))
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
}

/// The calling thread's name as the kernel knows it (tests check where work runs).
public func currentThreadName() -> String {
    let fd = open("/proc/thread-self/comm", O_RDONLY)
    guard fd >= 0 else { return "" }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 32)
    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard n > 0 else { return "" }
    return String(decoding: buffer.prefix(n), as: UTF8.self).trimmingCharacters(in: .newlines)
}
