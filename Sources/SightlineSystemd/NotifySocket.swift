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
    let address: String

    init(address: String) throws {
        guard address.hasPrefix("/") || address.hasPrefix("@") else {
            throw SightlineError(.invalidArgument, "NOTIFY_SOCKET must be an absolute path or an abstract name starting with @", context: ["NOTIFY_SOCKET": address])
        }
        guard address.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else {
            throw SightlineError(.invalidArgument, "NOTIFY_SOCKET is longer than a Unix socket address can hold", context: ["NOTIFY_SOCKET": address])
        }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            throw SightlineError(.system, "cannot create the notification socket: \(String(cString: strerror(errno)))")
        }
        self.fd = fd
        self.address = address
    }

    deinit { close(fd) }

    /// Sends one datagram without waiting: when the receiver's queue is full (a manager that
    /// does not read), the notification fails instead of stalling the loop that sent it.
    func send(_ message: String) throws {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var path = Array(address.utf8)
        let abstract = path.first == UInt8(ascii: "@")
        if abstract { path[0] = 0 }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: path)
        }
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
        // Abstract names are exactly as long as given; paths carry their terminating NUL.
        let length = socklen_t(pathOffset + path.count + (abstract ? 0 : 1))
        let bytes = Array(message.utf8)
        let sent = withUnsafePointer(to: &addr) { ptr in
            ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bytes.withUnsafeBytes { buf in
                    sendto(fd, buf.baseAddress, buf.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT), sa, length)
                }
            }
        }
        guard sent == bytes.count else {
            let reason = sent < 0 ? String(cString: strerror(errno)) : "short write"
            throw SightlineError(.system, "cannot notify the service manager: \(reason)", context: ["NOTIFY_SOCKET": address])
        }
    }
}
