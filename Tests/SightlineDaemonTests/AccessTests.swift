import Foundation
import SightlineCore
import SightlineDaemon
import SightlineProtocol
import SightlineTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `SO_PEERCRED` and `SO_PEERGROUPS` checks with a second uid: the client runs as `nobody` through `setpriv`.
@Suite(.serialized) struct AccessTests {
    static func asNobody(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await ChildProcesses.run("/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", DaemonProcess.executable("sightline")] + arguments)
    }

    @Test func otherUsersCannotConnectToTheDefaultSocket() async throws {
        let daemon = try DaemonProcess()
        defer { daemon.cleanUp() }
        try await daemon.start()
        let attributes = try FileManager.default.attributesOfItem(atPath: daemon.socket)
        #expect((attributes[.posixPermissions] as? Int) == 0o660)
        let result = try await Self.asNobody(["status", "--socket", daemon.socket])
        #expect(result.status != 0)
        #expect(result.stderr.contains("permission denied on \(daemon.socket)"), "\(result.stderr)")
        #expect(await daemon.stop() == 0)
    }

    @Test func withReadAccessForAnyoneOthersMayReadButNotChange() async throws {
        let directory = try DaemonProcess().directory
        let config = directory + "/sightlined.toml"
        try Data("[socket]\nread_access = \"anyone\"\n".utf8).write(to: URL(fileURLWithPath: config))
        let daemon = try DaemonProcess(directory: directory, arguments: ["--config", config])
        defer { daemon.cleanUp() }
        try await daemon.start()
        let attributes = try FileManager.default.attributesOfItem(atPath: daemon.socket)
        #expect((attributes[.posixPermissions] as? Int) == 0o666)

        let status = try await Self.asNobody(["status", "--socket", daemon.socket, "--json"])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains("\"protocol\":1"))
        let add = try await Self.asNobody(["stream", "add", "rtsp://127.0.0.1:1/a", "--socket", daemon.socket])
        #expect(add.status == 1)
        #expect(add.stderr.contains("stream.add is not allowed for uid 65534"), "\(add.stderr)")
        let query = try await Self.asNobody(["query", "add", "a bike", "--socket", daemon.socket])
        #expect(query.stderr.contains("query.add is not allowed"))
        // Root (the daemon's own user here) still may.
        let own = try await ChildProcesses.run(DaemonProcess.executable("sightline"), ["stream", "add", "rtsp://127.0.0.1:1/a", "--id", "a", "--socket", daemon.socket])
        #expect(own.status == 0 && own.stdout == "a\n")
        #expect(await daemon.stop() == 0)
    }

    @Test func policyRules() {
        let policy = AccessPolicy(daemonUID: 990, socketGID: 991, readAccess: .group)
        let root = PeerCredentials(pid: 1, uid: 0, gid: 0, groups: [])
        let owner = PeerCredentials(pid: 1, uid: 990, gid: 990, groups: [])
        let member = PeerCredentials(pid: 1, uid: 1000, gid: 1000, groups: [27, 991])
        let stranger = PeerCredentials(pid: 1, uid: 1001, gid: 1001, groups: [27])
        for peer in [root, owner, member] { #expect(throws: Never.self) { try policy.check(.streamList, peer: peer) } }
        #expect { try policy.check(.streamList, peer: stranger) } throws: { ($0 as? SightlineError)?.code == .forbidden }
        let open = AccessPolicy(daemonUID: 990, socketGID: 991, readAccess: .anyone)
        #expect(throws: Never.self) { try open.check(.status, peer: stranger) }
        #expect { try open.check(.queryRemove(id: "q-1"), peer: stranger) } throws: { ($0 as? SightlineError)?.code == .forbidden }
    }

    /// A system account made once for these tests (the daemon runs as it, so that `/proc`
    /// hiding applies to it as it does under `ProtectProc=invisible`); its group is the
    /// socket's group.
    static let daemonAccount = "sightline-testd"

    static func ensureDaemonAccount() async throws -> UInt32 {
        if getpwnam(daemonAccount) == nil {
            let made = try await ChildProcesses.run("/usr/sbin/useradd", [
                "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", daemonAccount])
            try #require(made.status == 0 || getpwnam(daemonAccount) != nil, "useradd: \(made.stderr)")
        }
        let entry = try #require(getgrnam(daemonAccount))
        return entry.pointee.gr_gid
    }

    /// The daemon runs as another user in its own mount namespace, where `/proc` is mounted
    /// with `hidepid=invisible` (what `ProtectProc=invisible` does) or, for comparison, plainly.
    /// A client that belongs to the daemon's group only as a supplementary group may change
    /// things; one outside it may only read.
    @Test(arguments: [true, false])
    func supplementaryGroupMembersMayChangeThings(procHidden: Bool) async throws {
        let gid = try await Self.ensureDaemonAccount()
        let directory = try DaemonProcess().directory
        let config = directory + "/sightlined.toml"
        try Data("[socket]\nread_access = \"anyone\"\n".utf8).write(to: URL(fileURLWithPath: config))
        let account = Self.daemonAccount
        let mountProc = procHidden ? "mount -t proc -o hidepid=invisible proc /proc && " : ""
        let wrapper = directory + "/run-daemon"
        try Data("""
            #!/bin/sh
            exec /usr/bin/unshare --mount /bin/sh -c '\(mountProc)exec /usr/bin/setpriv --reuid=\(account) --regid=\(account) --clear-groups /usr/bin/env HOME=\(directory) XDG_CACHE_HOME=\(directory)/cache "$0" "$@"' \(DaemonProcess.executable("sightlined")) "$@"

            """.utf8).write(to: URL(fileURLWithPath: wrapper))
        chmod(wrapper, 0o755)
        chown(directory, getpwnam(account).pointee.pw_uid, gid)
        let daemon = try DaemonProcess(directory: directory, arguments: ["--config", config], executable: wrapper)
        defer { daemon.cleanUp() }
        try await daemon.start()
        let pid = try #require(daemon.process?.processIdentifier)
        let mounts = try String(contentsOfFile: "/proc/\(pid)/mountinfo", encoding: .utf8)
        #expect(mounts.contains("hidepid=invisible") == procHidden, "\(mounts)")
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        #expect(status.contains("Uid:\t\(getpwnam(account).pointee.pw_uid)"), "\(status)")

        let sightline = DaemonProcess.executable("sightline")
        let member = try await ChildProcesses.run("/usr/bin/setpriv", [
            "--reuid=nobody", "--regid=nogroup", "--groups=\(gid)", sightline, "stream", "add", "rtsp://127.0.0.1:1/a", "--id", "a", "--socket", daemon.socket])
        #expect(member.status == 0 && member.stdout == "a\n", "\(member.stderr)\n\(daemon.log())")
        let removed = try await ChildProcesses.run("/usr/bin/setpriv", [
            "--reuid=nobody", "--regid=nogroup", "--groups=27,\(gid)", sightline, "stream", "rm", "a", "--socket", daemon.socket])
        #expect(removed.status == 0, "\(removed.stderr)")
        let stranger = try await ChildProcesses.run("/usr/bin/setpriv", [
            "--reuid=nobody", "--regid=nogroup", "--groups=27", sightline, "stream", "add", "rtsp://127.0.0.1:1/a", "--socket", daemon.socket])
        #expect(stranger.status == 1)
        #expect(stranger.stderr.contains("stream.add is not allowed for uid 65534"), "\(stranger.stderr)")
        let reader = try await Self.asNobody(["status", "--socket", daemon.socket, "--json"])
        #expect(reader.status == 0, "\(reader.stderr)")
        #expect(await daemon.stop() == 0)
        // The account is the machine's, not the test's: it goes once the daemon has stopped
        // (a test that fails earlier leaves it for the next run to reuse). --force: the
        // kernel may not have reaped the daemon yet, and userdel refuses a user with a process.
        let deleted = try await ChildProcesses.run("/usr/sbin/userdel", ["--force", account])
        #expect(deleted.status == 0, "userdel: \(deleted.stderr)")
    }

    /// Root's group, supplementary and alone, is reported as such and not lost as padding.
    @Test func rootGroupAloneIsSeen() async throws {
        let daemon = try DaemonProcess()
        defer { daemon.cleanUp() }
        try await daemon.start()
        let result = try await ChildProcesses.run("/usr/bin/setpriv", [
            "--reuid=nobody", "--regid=nogroup", "--groups=0", DaemonProcess.executable("sightline"), "stream", "add", "rtsp://127.0.0.1:1/a", "--id", "z", "--socket", daemon.socket])
        // The socket is 0660 root:root, so reaching it at all already needs group 0; the
        // daemon's policy (root's group) then allows the change.
        #expect(result.status == 0 && result.stdout == "z\n", "\(result.stderr)")
        #expect(await daemon.stop() == 0)
    }
}
