import SightlineCore

#if canImport(Glibc)
import Glibc
#endif

/// A connected Unix stream socket, written for clients that link nothing but the protocol:
/// plain POSIX calls instead of an event-loop library.
///
/// Each call first tries without waiting (`MSG_DONTWAIT`), which is how most reads of a
/// reply and every small write complete. Only a call that has to wait (a subscriber waiting
/// for the next event, a full send buffer) moves to this connection's own worker thread
/// (SightlineCore's one way off the pool), so a read that waits for hours holds a thread of
/// its own and never one of the cooperative pool (as many threads as cores) nor one another
/// connection needs. The thread starts with the first call that waits.
final class UnixConnection: Sendable {
    let path: String
    private let fd: Int32
    private let worker: WorkerThread

    /// Connects to the socket at `path`, or throws an error that says why a person cannot.
    static func connect(path: String) async throws(SightlineError) -> UnixConnection {
        let address = try UnixSocketAddress(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            throw SightlineError(.system, "cannot create a socket: \(Self.describe(errno))", context: ["socket": path])
        }
        let connection = UnixConnection(path: path, fd: fd)
        // A listener whose accept backlog is full makes a blocking connect wait: off the pool.
        let failure: Int32 = await connection.offPool {
            address.withSockaddr { Glibc.connect(fd, $0, $1) } == 0 ? 0 : errno
        }
        if failure != 0 { throw Self.connectFailure(failure, path: path) }
        return connection
    }

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
        // recv and send only: a small stack is plenty.
        self.worker = WorkerThread(name: "sl-client", threads: 1, stackSize: 256 << 10)
    }

    // The descriptor is closed only here, when nothing can use it any more, so that a
    // cancellation handler or a late call can never reach a number the process has reused.
    deinit {
        worker.close()
        Glibc.close(fd)
    }

    /// Ends the connection both ways; a read waiting on the worker returns at once.
    func shutdown() {
        _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
    }

    static func connectFailure(_ code: Int32, path: String) -> SightlineError {
        switch code {
        case ENOENT, ECONNREFUSED:
            SightlineError(.unavailable, "no sightlined is listening on \(path) (start it with `sightlined`, or pass --socket PATH)",
                           context: ["socket": path])
        case EACCES, EPERM:
            SightlineError(.forbidden, "permission denied on \(path): this user may not connect to the daemon (the socket's group may)",
                           context: ["socket": path])
        default:
            SightlineError(.unavailable, "cannot connect to \(path): \(describe(code))", context: ["socket": path])
        }
    }

    /// Up to `limit` bytes, as soon as any arrive; `nil` once the peer has closed its side.
    func read(limit: Int = 64 << 10) async throws -> [UInt8]? {
        switch receive(limit: limit, flags: Int32(MSG_DONTWAIT)) {
        case .bytes(let bytes): return bytes
        case .end: return nil
        case .failed(let code): throw failure(code, "read from")
        case .wouldBlock: break
        }
        try Task.checkCancellation()
        let outcome = await withTaskCancellationHandler {
            await offPool { self.receive(limit: limit, flags: 0) }
        } onCancel: {
            shutdown()
        }
        try Task.checkCancellation()
        switch outcome {
        case .bytes(let bytes): return bytes
        case .end, .wouldBlock: return nil
        case .failed(let code): throw failure(code, "read from")
        }
    }

    /// All of `bytes`, waiting off the pool while the send buffer is full.
    func write(_ bytes: [UInt8]) async throws {
        var sent = 0
        switch send(bytes, from: &sent, flags: Int32(MSG_DONTWAIT)) {
        case .failed(let code): throw failure(code, "write to")
        case .bytes, .end: return
        case .wouldBlock: break
        }
        try Task.checkCancellation()
        let start = sent
        let outcome = await withTaskCancellationHandler {
            await offPool {
                var offset = start
                return self.send(bytes, from: &offset, flags: 0)
            }
        } onCancel: {
            shutdown()
        }
        try Task.checkCancellation()
        if case .failed(let code) = outcome { throw failure(code, "write to") }
    }

    private enum Outcome: Sendable {
        case bytes([UInt8])
        case end
        case wouldBlock
        case failed(Int32)
    }

    private func receive(limit: Int, flags: Int32) -> Outcome {
        while true {
            var received = 0
            let bytes = [UInt8](unsafeUninitializedCapacity: limit) { buffer, count in
                received = recv(fd, buffer.baseAddress, limit, flags)
                count = max(received, 0)
            }
            if received > 0 { return .bytes(bytes) }
            if received == 0 { return .end }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            // The peer reset the connection: for a reader that is the end of it.
            case ECONNRESET: return .end
            case let code: return .failed(code)
            }
        }
    }

    /// Sends from `offset` on, advancing it; `.end` once everything is sent.
    private func send(_ bytes: [UInt8], from offset: inout Int, flags: Int32) -> Outcome {
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                // MSG_NOSIGNAL: a daemon that went away is an error here, not a SIGPIPE that kills the client.
                Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, flags | Int32(MSG_NOSIGNAL))
            }
            if n >= 0 {
                offset += n
                continue
            }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            case let code: return .failed(code)
            }
        }
        return .end
    }

    private func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            // The worker closes only in deinit, when no call can be made any more.
            let queued = worker.enqueue { continuation.resume(returning: work()) }
            precondition(queued, "the connection's worker closed while the connection was in use")
        }
    }

    private func failure(_ code: Int32, _ verb: String) -> SightlineError {
        switch code {
        case EPIPE, ECONNRESET, ENOTCONN:
            SightlineError(.unavailable, "the daemon closed the connection", context: ["socket": path])
        default:
            SightlineError(.unavailable, "cannot \(verb) \(path): \(Self.describe(code))", context: ["socket": path])
        }
    }

    private static func describe(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
