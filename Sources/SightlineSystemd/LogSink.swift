#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Where log lines go: a file descriptor written with write(2), one whole line per call under
/// a lock so that lines from different threads never interleave.
public final class LogSink: Sendable {
    public let fileDescriptor: Int32
    private let lock = Mutex<Void>(())

    public init(fileDescriptor: Int32) {
        self.fileDescriptor = fileDescriptor
    }

    /// Standard error, where both journald and a terminal expect a daemon's log.
    public static let standardError = LogSink(fileDescriptor: 2)

    func write(_ text: String) {
        var bytes = Array(text.utf8)
        lock.withLock { _ in
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeMutableBytes { buf in
                    Glibc.write(fileDescriptor, buf.baseAddress! + offset, buf.count - offset)
                }
                if n < 0 && errno == EINTR { continue }
                // A log that cannot be written has nowhere to report that: drop the rest.
                if n <= 0 { return }
                offset += n
            }
        }
        bytes.removeAll()
    }
}
