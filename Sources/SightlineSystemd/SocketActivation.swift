import CSystemd
#if canImport(Glibc)
import Glibc
#endif
import SightlineCore

/// A socket the service manager opened and passed to this process (socket activation,
/// sd_listen_fds(3)). The descriptor belongs to the process from then on; its name is the
/// socket unit's `FileDescriptorName=` (the unit's name by default).
public struct ListenedSocket: Sendable, Equatable {
    public let fileDescriptor: Int32
    public let name: String
}

public enum SocketActivation {
    /// The sockets passed to this process (`LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`),
    /// empty when none were. Each is marked close-on-exec.
    public static func listenedSockets() throws -> [ListenedSocket] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let count = CSystemd_listenFdsWithNames(&names)
        defer { CSystemd_freeNames(names) }
        guard count >= 0 else {
            throw SightlineError(.system, "cannot read the sockets passed by the service manager: \(String(cString: strerror(-count)))")
        }
        let start = CSystemd_listenFdsStart()
        return (0..<Int(count)).map { i in
            let fd = start + Int32(i)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            let name = names?[i].map { String(cString: $0) } ?? "unknown"
            return ListenedSocket(fileDescriptor: fd, name: name)
        }
    }

    /// The listening Unix stream socket that `sightlined.socket` passes, or nil when the
    /// process was not socket-activated (then the daemon binds its own).
    ///
    /// Throws when sockets were passed but are not exactly one listening Unix stream socket,
    /// because serving on something else would fail later in a less clear way.
    public static func unixStreamListener() throws -> ListenedSocket? {
        let sockets = try listenedSockets()
        guard let first = sockets.first else { return nil }
        guard sockets.count == 1 else {
            throw SightlineError(.invalidArgument, "the service manager passed \(sockets.count) sockets; sightlined serves exactly one Unix stream socket", context: ["names": sockets.map(\.name).joined(separator: ",")])
        }
        let check = CSystemd_isListeningUnixStream(first.fileDescriptor)
        guard check > 0 else {
            let reason = check < 0 ? String(cString: strerror(-check)) : "it is not a listening Unix stream socket (ListenStream= with a path)"
            throw SightlineError(.invalidArgument, "the socket passed by the service manager cannot be served: \(reason)", context: ["fd": "\(first.fileDescriptor)", "name": first.name])
        }
        return first
    }

    /// Whether systemd is the running service manager (sd_booted(3)): the condition for
    /// `systemctl` to work.
    public static var systemdIsRunning: Bool { CSystemd_booted() > 0 }
}
