import Foundation
import NIOCore
import SightlineCore
import SightlineProtocol

#if canImport(Glibc)
import Glibc
#endif

/// Who is at the other end of a Unix socket connection, as the kernel recorded it when the
/// peer connected (`SO_PEERCRED` and `SO_PEERGROUPS`, which the peer cannot forge). Nothing
/// is read from `/proc`: under `ProtectProc=invisible` other users' entries are hidden, and
/// a peer's process may be gone (or its pid reused) by the time it is looked at.
public struct PeerCredentials: Sendable, Equatable, CustomStringConvertible {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32
    /// Supplementary groups at connect time (`SO_PEERGROUPS`).
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
        return PeerCredentials(pid: cred.pid, uid: cred.uid, gid: cred.gid, groups: try await supplementaryGroups(provider))
    }

    /// `struct ucred` from `<sys/socket.h>`, which Glibc's Swift module does not export.
    struct KernelPeerCredentials: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    /// `SO_PEERGROUPS` from `<asm-generic/socket.h>`, which Glibc's Swift module does not export.
    static let peerGroupsOption = SocketOptionName(59)

    /// An empty buffer: `SO_PEERGROUPS` into it succeeds only when the peer has no groups.
    struct NoGroups: Sendable {}
    /// Room for as many groups as any ordinary account has.
    struct SomeGroups: Sendable { var gids: InlineArray<256, UInt32> }
    /// Room for `NGROUPS_MAX` groups.
    struct AllGroups: Sendable { var gids: InlineArray<65536, UInt32> }

    /// The peer's supplementary groups. NIO's socket-option reader zero-fills its buffer and
    /// does not say how many bytes the kernel wrote, so the count is worked out: the kernel
    /// keeps a process's groups sorted ascending, hence a 0 can only be the first entry and
    /// any later 0 is padding; and whether there is a first entry at all is told apart by
    /// asking into an empty buffer, which fails with `ERANGE` unless there are no groups.
    static func supplementaryGroups(_ provider: any SocketOptionProvider) async throws -> [UInt32] {
        let level = SocketOptionLevel(SOL_SOCKET)
        do {
            let _: NoGroups = try await provider.unsafeGetSocketOption(level: level, name: peerGroupsOption).get()
            return []
        } catch let error as IOError where error.errnoCode == ERANGE {}
        do {
            let some: SomeGroups = try await provider.unsafeGetSocketOption(level: level, name: peerGroupsOption).get()
            return counted(some.gids)
        } catch let error as IOError where error.errnoCode == ERANGE {}
        let all: AllGroups = try await provider.unsafeGetSocketOption(level: level, name: peerGroupsOption).get()
        return counted(all.gids)
    }

    /// The groups in a zero-padded buffer known to hold at least one.
    static func counted<let n: Int>(_ gids: InlineArray<n, UInt32>) -> [UInt32] {
        var groups: [UInt32] = []
        for index in gids.indices {
            if index > 0 && gids[index] == 0 { break }
            groups.append(gids[index])
        }
        return groups
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
