import Foundation
import SightlineCore
import SightlineDaemon
import SightlineProtocol
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `socket.max_connections`: connections over the limit get one error line and are closed,
/// however many a peer opens, and the daemon serves others again as soon as a slot is free.
@Suite(.serialized) struct ConnectionLimitTests {
    /// A plain blocking Unix socket connection, so that the test holds connections open
    /// without a client library in between.
    final class RawConnection {
        let fd: Int32

        init(path: String) throws {
            fd = try UnixSocketAddress(path).connect()
            var timeout = timeval(tv_sec: 20, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        /// Everything up to the first newline, or nil when the daemon closed first.
        func firstLine() -> String? {
            var bytes: [UInt8] = []
            var byte: UInt8 = 0
            while read(fd, &byte, 1) == 1 {
                if byte == 10 { return String(decoding: bytes, as: UTF8.self) }
                bytes.append(byte)
            }
            return nil
        }

        /// Whether the daemon closed its end (read returns 0 once the line is consumed).
        func closedByDaemon() -> Bool {
            var byte: UInt8 = 0
            return read(fd, &byte, 1) == 0
        }

        deinit { close(fd) }
    }

    @Test func connectionsOverTheLimitAreRefusedAndOthersAreServedAgain() async throws {
        let limit = 4
        let directory = try DaemonProcess().directory
        let config = directory + "/sightlined.toml"
        try Data("[socket]\nmax_connections = \(limit)\n".utf8).write(to: URL(fileURLWithPath: config))
        let daemon = try DaemonProcess(directory: directory, arguments: ["--config", config])
        defer { daemon.cleanUp() }
        try await daemon.start()

        var held: [RawConnection] = []
        for _ in 0..<limit {
            let connection = try RawConnection(path: daemon.socket)
            let line = try #require(connection.firstLine())
            #expect(line.contains("\"event\":\"hello\""), "\(line)")
            held.append(connection)
        }
        // A peer opening connections in a loop: each gets the error and is closed.
        var refused = 0
        for _ in 0..<1_000 {
            let extra = try RawConnection(path: daemon.socket)
            let line = try #require(extra.firstLine())
            let reply = try Reply(json: try JSONParser().parse(Array(line.utf8)))
            if case .failure(let error) = reply.outcome, error.code == .tooManyConnections,
               error.message.contains("\(limit) connections"), extra.closedByDaemon() {
                refused += 1
            } else {
                Issue.record("an extra connection was not refused: \(line)")
            }
        }
        #expect(refused == 1_000)
        // A client library reports the refusal as the daemon's error.
        do {
            _ = try await daemon.client { _ in Issue.record("a connection over the limit was served") }
        } catch let error as SightlineError {
            #expect(error.code == .tooManyConnections, "\(error)")
        }
        // The connections held open still work.
        let request = Array("{\"id\":1,\"op\":\"status\"}\n".utf8)
        #expect(write(held[0].fd, request, request.count) == request.count)
        #expect(held[0].firstLine()?.contains("\"ok\":true") == true)

        // One slot frees: a normal client is served again.
        held.removeLast()
        #expect(try await Self.servedAgain(daemon))
        held.removeAll()
        #expect(await daemon.stop() == 0)
    }

    /// One user's connections in a loop fill that user's share only: another user (`nobody`,
    /// through setpriv) is still greeted, and the user is served again once one closes.
    @Test func oneUserCannotTakeEverySlot() async throws {
        let perUser = 3
        let directory = try DaemonProcess().directory
        let config = directory + "/sightlined.toml"
        try Data("[socket]\nmax_connections = 16\nmax_connections_per_user = \(perUser)\nread_access = \"anyone\"\n".utf8)
            .write(to: URL(fileURLWithPath: config))
        let daemon = try DaemonProcess(directory: directory, arguments: ["--config", config])
        defer { daemon.cleanUp() }
        try await daemon.start()

        var held: [RawConnection] = []
        for _ in 0..<perUser {
            let connection = try RawConnection(path: daemon.socket)
            #expect(try #require(connection.firstLine()).contains("\"event\":\"hello\""))
            held.append(connection)
        }
        for _ in 0..<20 {
            let extra = try RawConnection(path: daemon.socket)
            let line = try #require(extra.firstLine())
            let reply = try Reply(json: try JSONParser().parse(Array(line.utf8)))
            guard case .failure(let error) = reply.outcome else {
                Issue.record("a connection over the user's share was served: \(line)")
                continue
            }
            #expect(error.code == .tooManyConnections && error.message.contains("max_connections_per_user"), "\(error)")
            #expect(error.context["uid"] == String(getuid()))
            #expect(extra.closedByDaemon())
        }
        // Another user is not locked out.
        let other = try await AccessTests.asNobody(["status", "--socket", daemon.socket, "--json"])
        #expect(other.status == 0, "\(other.stderr)")
        #expect(other.stdout.contains("\"protocol\":1"), "\(other.stdout)")

        held.removeLast()
        #expect(try await Self.servedAgain(daemon))
        held.removeAll()
        #expect(await daemon.stop() == 0)
    }

    /// Whether a client is served once a slot has freed: the daemon notices the hang-up
    /// asynchronously, so it may take a few tries.
    static func servedAgain(_ daemon: DaemonProcess) async throws -> Bool {
        for _ in 0..<200 {
            do {
                let status = try await daemon.client { try await $0.request(.status) }
                return status["protocol"] == JSONValue(ProtocolLimits.version)
            } catch let error as SightlineError where error.code == .tooManyConnections {
                try await Task.sleep(for: .milliseconds(25))
            }
        }
        return false
    }

    @Test(arguments: ["max_connections", "max_connections_per_user"], ["0", "65537", "\"many\""])
    func theLimitsAreValidated(setting: String, value: String) throws {
        let file = try ConfigFile(parsing: "[socket]\n\(setting) = \(value)\n", name: "test.toml")
        var configuration = DaemonConfiguration(defaultsFor: RunEnvironment(variables: [:], uid: 1000, home: "/tmp"))
        #expect { try configuration.apply(file) } throws: { ($0 as? SightlineError)?.message.contains("socket.\(setting)") == true }
    }
}
