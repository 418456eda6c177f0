import Foundation
import NIOCore
import SightlineCore
import SightlineProtocol

#if canImport(Glibc)
import Glibc
#endif

/// Who is at the other end of a Unix socket connection, as the kernel reports it
/// (`SO_PEERCRED`, which cannot be forged by the peer).
public struct PeerCredentials: Sendable, Equatable, CustomStringConvertible {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32
    /// Supplementary groups, read from `/proc/<pid>/status`; empty when the process is gone.
    public var groups: [UInt32]

    public init(pid: Int32, uid: UInt32, gid: UInt32, groups: [UInt32]) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
        self.groups = groups
    }

    public var description: String { "pid \(pid) uid \(uid) gid \(gid)" }

    /// Reads the credentials of a connected Unix socket channel.
    public static func of(_ channel: any Channel) async throws -> PeerCredentials {
        guard let provider = channel as? any SocketOptionProvider else {
            throw SightlineError(.system, "the connection does not expose socket options")
        }
        let cred: KernelPeerCredentials = try await provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED)).get()
        return PeerCredentials(pid: cred.pid, uid: cred.uid, gid: cred.gid, groups: supplementaryGroups(pid: cred.pid))
    }

    /// `struct ucred` from `<sys/socket.h>`, which Glibc's Swift module does not export.
    struct KernelPeerCredentials: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    static func supplementaryGroups(pid: Int32) -> [UInt32] {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return [] }
        for line in text.split(separator: "\n") where line.hasPrefix("Groups:") {
            return line.dropFirst("Groups:".count).split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { UInt32($0) }
        }
        return []
    }
}

/// Who may do what: mutating operations for root, the daemon's user and members of the
/// socket's group; read-only operations for the same peers, or for anyone when configured.
public struct AccessPolicy: Sendable {
    public var daemonUID: UInt32
    public var socketGID: UInt32
    public var readAccess: DaemonConfiguration.ReadAccess

    public init(daemonUID: UInt32, socketGID: UInt32, readAccess: DaemonConfiguration.ReadAccess) {
        self.daemonUID = daemonUID
        self.socketGID = socketGID
        self.readAccess = readAccess
    }

    public func isPrivileged(_ peer: PeerCredentials) -> Bool {
        peer.uid == 0 || peer.uid == daemonUID || peer.gid == socketGID || peer.groups.contains(socketGID)
    }

    public func check(_ operation: RequestOperation, peer: PeerCredentials) throws(SightlineError) {
        if isPrivileged(peer) { return }
        if !operation.isMutating, readAccess == .anyone { return }
        throw SightlineError(
            .forbidden,
            "\(operation.name) is not allowed for uid \(peer.uid): \(operation.isMutating ? "changes need" : "this daemon allows reading to") root, uid \(daemonUID) or group \(socketGID)",
            context: ["uid": String(peer.uid)])
    }
}
