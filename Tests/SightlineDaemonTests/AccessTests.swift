import Foundation
import SightlineCore
import SightlineDaemon
import SightlineProtocol
import SightlineTestSupport
import Testing

/// `SO_PEERCRED` checks with a second uid: the client runs as `nobody` through `setpriv`.
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
        let add = try await Self.asNobody(["stream", "add", "/videos/a.mp4", "--socket", daemon.socket])
        #expect(add.status == 1)
        #expect(add.stderr.contains("stream.add is not allowed for uid 65534"), "\(add.stderr)")
        let query = try await Self.asNobody(["query", "add", "a bike", "--socket", daemon.socket])
        #expect(query.stderr.contains("query.add is not allowed"))
        // Root (the daemon's own user here) still may.
        let own = try await ChildProcesses.run(DaemonProcess.executable("sightline"), ["stream", "add", "/videos/a.mp4", "--id", "a", "--socket", daemon.socket])
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
}
