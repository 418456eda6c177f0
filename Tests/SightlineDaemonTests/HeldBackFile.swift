import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A video file that stops answering part-way, as one on a network mount that hangs: a
/// named pipe whose writer hands over the first part of a clip and then keeps the pipe open
/// without writing, so that the reader gets frames and then waits. A file source on it
/// stalls after its stall timeout and then fails. `release()` (or deinit) lets the reader go.
final class HeldBackFile: @unchecked Sendable {
    let path: String
    // Guarded by `lock`.
    private let lock = NSLock()
    private var writer: Int32 = -1

    /// `contents` are written from a thread of their own: a pipe holds 64 KiB, and the writes
    /// wait for the reader.
    init(path: String, contents: Data) throws {
        self.path = path
        guard mkfifo(path, 0o600) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        // Read and write: opening does not wait for a reader, and the pipe stays open.
        let fd = open(path, O_RDWR)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        writer = fd
        let thread = Thread {
            contents.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if n <= 0 { return }
                    offset += n
                }
            }
        }
        thread.name = "held-back-file"
        thread.start()
    }

    func release() {
        let fd = lock.withLock {
            defer { writer = -1 }
            return writer
        }
        if fd >= 0 { close(fd) }
    }

    deinit {
        release()
        unlink(path)
    }
}
