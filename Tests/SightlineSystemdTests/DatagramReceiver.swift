#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import SightlineCore

/// The service manager's end of `NOTIFY_SOCKET` for tests: a datagram socket bound to a path
/// (or an abstract name starting with `@`), read on a thread of its own.
final class DatagramReceiver: @unchecked Sendable {
    let address: String
    private let fd: Int32
    private let queue = DispatchQueue(label: "test.notify-receiver")

    init(address: String) throws {
        self.address = address
        fd = try UnixSocketAddress(address, abstractNames: true).bind(type: Int32(SOCK_DGRAM.rawValue))
    }

    /// A receiver on a fresh path in the temporary directory.
    static func temporary() throws -> DatagramReceiver {
        try DatagramReceiver(address: FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString.prefix(8))").path)
    }

    deinit {
        close(fd)
        if !address.hasPrefix("@") { unlink(address) }
    }

    /// The next datagram, or nil when none arrives within `timeout`.
    func next(timeout: Duration = .seconds(10)) async -> String? {
        await nextStamped(timeout: timeout)?.message
    }

    /// The next datagram with the moment it was read, taken on the reading thread so that a
    /// busy cooperative pool in the test process does not skew it.
    func nextStamped(timeout: Duration = .seconds(10)) async -> (message: String, at: ContinuousClock.Instant)? {
        let ms = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        return await withCheckedContinuation { continuation in
            queue.async { [fd] in
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&pfd, 1, ms) == 1 else { return continuation.resume(returning: nil) }
                var buffer = [UInt8](repeating: 0, count: 4096)
                let n = recv(fd, &buffer, buffer.count, 0)
                let at = ContinuousClock.now
                continuation.resume(returning: n < 0 ? nil : (String(decoding: buffer[0..<n], as: UTF8.self), at))
            }
        }
    }

    /// Every datagram that arrives within `window`.
    func collect(for window: Duration) async -> [String] {
        let end = ContinuousClock.now + window
        var all: [String] = []
        while ContinuousClock.now < end {
            if let message = await next(timeout: end - ContinuousClock.now) { all.append(message) }
        }
        return all
    }
}
