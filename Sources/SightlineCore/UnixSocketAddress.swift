#if canImport(Glibc)
import Glibc
#endif

/// A Unix socket address (`sockaddr_un`) made in one place, for the daemon's listener, the
/// check for another daemon on the path, `NOTIFY_SOCKET` and the tests' clients alike. A path
/// that does not fit is an error naming it; the kernel would otherwise cut it short and bind
/// or reach another socket.
public struct UnixSocketAddress: Sendable, Equatable {
    /// The path as given, or `@name` for the abstract namespace (as `NOTIFY_SOCKET` writes it).
    public let path: String
    private let bytes: [UInt8]
    private let abstract: Bool

    /// Bytes `sun_path` holds, its terminating NUL included (108 on Linux).
    public static let capacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)

    /// `abstractNames`: a leading `@` names the abstract namespace, as in `NOTIFY_SOCKET`.
    /// Off for the daemon's own socket, which is always a file (NIO binds `@x` as a file named
    /// so), so that a path is read the same way by every part that uses it.
    public init(_ path: String, abstractNames: Bool = false) throws(SightlineError) {
        var bytes = Array(path.utf8)
        guard !bytes.isEmpty else { throw SightlineError(.invalidArgument, "a Unix socket path must not be empty") }
        guard !bytes.contains(0) else {
            throw SightlineError(.invalidArgument, "a Unix socket path must not hold a NUL byte", context: ["socket": path])
        }
        let abstract = abstractNames && bytes[0] == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }
        // A path needs room for its NUL; an abstract name is exactly as long as given.
        let limit = abstract ? Self.capacity : Self.capacity - 1
        guard bytes.count <= limit else {
            throw SightlineError(.invalidArgument, "socket path is \(bytes.count) bytes; Unix sockets allow at most \(limit)",
                                 context: ["socket": path])
        }
        self.path = path
        self.bytes = bytes
        self.abstract = abstract
    }

    /// Calls `body` with the address and its length, as `bind`, `connect` and `sendto` take them.
    public func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) rethrows -> R {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            if !abstract { raw[bytes.count] = 0 }
        }
        let offset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
        let length = socklen_t(offset + bytes.count + (abstract ? 0 : 1))
        return try withUnsafePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, length) }
        }
    }

    /// A new socket of `type` (`SOCK_STREAM`, `SOCK_DGRAM`) connected to this address; the
    /// caller closes the descriptor.
    public func connect(type: Int32 = Int32(SOCK_STREAM.rawValue)) throws(SightlineError) -> Int32 {
        let fd = socket(AF_UNIX, type | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SightlineError.failedCall("cannot create a Unix socket", path: path, key: "socket") }
        let result = withSockaddr { Glibc.connect(fd, $0, $1) }
        guard result == 0 else {
            let error = SightlineError.failedCall("cannot connect to", path: path, key: "socket")
            close(fd)
            throw error
        }
        return fd
    }

    /// A new socket of `type` bound to this address (and listening, for a stream socket).
    public func bind(type: Int32 = Int32(SOCK_STREAM.rawValue), backlog: Int32 = 128) throws(SightlineError) -> Int32 {
        let fd = socket(AF_UNIX, type | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SightlineError.failedCall("cannot create a Unix socket", path: path, key: "socket") }
        guard withSockaddr({ Glibc.bind(fd, $0, $1) }) == 0 else {
            let error = SightlineError.failedCall("cannot bind", path: path, key: "socket")
            close(fd)
            throw error
        }
        if type == Int32(SOCK_STREAM.rawValue), listen(fd, backlog) != 0 {
            let error = SightlineError.failedCall("cannot listen on", path: path, key: "socket")
            close(fd)
            throw error
        }
        return fd
    }
}
