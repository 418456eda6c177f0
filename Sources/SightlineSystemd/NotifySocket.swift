#if canImport(Glibc)
import Glibc
#endif
import SightlineCore

/// The datagram socket that carries notifications to the service manager, owned and closed
/// in `deinit`. The address is a filesystem path or, with a leading `@`, a name in the
/// abstract namespace, exactly as `NOTIFY_SOCKET` gives it.
final class NotifySocket: @unchecked Sendable {
    // Only touched on the notifier's serial queue after init.
    private let fd: Int32
    private let socketAddress: UnixSocketAddress
    var address: String { socketAddress.path }

    init(address: String) throws {
        guard address.hasPrefix("/") || address.hasPrefix("@") else {
            throw SightlineError(.invalidArgument, "NOTIFY_SOCKET must be an absolute path or an abstract name starting with @", context: ["NOTIFY_SOCKET": address])
        }
        let socketAddress: UnixSocketAddress
        do {
            socketAddress = try UnixSocketAddress(address, abstractNames: true)
        } catch {
            throw SightlineError(.invalidArgument, "NOTIFY_SOCKET is not a Unix socket address: \(error.message)", context: ["NOTIFY_SOCKET": address])
        }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            throw SightlineError(.system, "cannot create the notification socket: \(String(cString: strerror(errno)))")
        }
        self.fd = fd
        self.socketAddress = socketAddress
    }

    deinit { close(fd) }

    /// Sends one datagram without waiting: when the receiver's queue is full (a manager that
    /// does not read), the notification fails instead of stalling the loop that sent it.
    func send(_ message: String) throws {
        let bytes = Array(message.utf8)
        let sent = socketAddress.withSockaddr { address, length in
            bytes.withUnsafeBytes { buf in
                sendto(fd, buf.baseAddress, buf.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT), address, length)
            }
        }
        guard sent == bytes.count else {
            let reason = sent < 0 ? String(cString: strerror(errno)) : "short write"
            throw SightlineError(.system, "cannot notify the service manager: \(reason)", context: ["NOTIFY_SOCKET": address])
        }
    }
}
