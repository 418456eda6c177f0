import Foundation
import NIOCore
import NIOPosix
import SightlineClient
import SightlineCore
import SightlineDaemon
import SightlineProtocol
import SightlineTestSupport
import Testing

/// The real daemon process on a real socket, fed broken and hostile input.
@Suite(.serialized) struct SocketServerTests {
    @Test func greetsEachConnectionWithTheProtocolVersion() async throws {
        let daemon = try DaemonProcess()
        defer { daemon.cleanUp() }
        try await daemon.start()
        try await daemon.client { client in
            #expect(client.hello.protocolVersion == ProtocolLimits.version)
            #expect(client.hello.server == "sightlined")
            let status = try await client.request(.status)
            #expect(status["protocol"] == JSONValue(ProtocolLimits.version))
            #expect(status["model"]?["name"] == "tiny-gelu-p14" && status["model"]?["test_model"] == true)
            do {
                _ = try await client.request(.ground(GroundSpec(path: "/tmp/sightline-none/a.mp4", texts: ["a bike"])))
                Issue.record("grounding a missing file succeeded")
            } catch let error as SightlineError {
                #expect(error.code == .fileNotFound && error.message.contains("/tmp/sightline-none/a.mp4"))
            }
        }
        #expect(await daemon.stop() == 0)
    }

    @Test func answersHostileInputAndKeepsServing() async throws {
        let daemon = try DaemonProcess()
        defer { daemon.cleanUp() }
        try await daemon.start()
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        let cases: [([UInt8], String)] = [
            (Array("this is not json\n".utf8), "parse_error"),
            (Array("{\"id\":1,\"op\":\"status\"\n".utf8), "parse_error"),
            ([UInt8](repeating: UInt8(ascii: "x"), count: ProtocolLimits.maxLineBytes + 10) + [10], "line_too_long"),
            (Array("{\"id\":2,\"op\":\"status\",\"params\":\(deep)}\n".utf8), "nesting_too_deep"),
            (Array("{\"id\":3,\"op\":\"stream.add\",\"params\":{\"uri\":42}}\n".utf8), "invalid_params"),
            (Array("{\"id\":4,\"op\":[\"status\"]}\n".utf8), "invalid_request"),
            (Array("{\"id\":5,\"op\":\"self.destruct\"}\n".utf8), "unknown_op"),
            ([0xFF, 0xFE, 0x00, 0x01, 0x80, 0xC3, 0x28, 0x7B, 0x22, 0x0A], "parse_error"),
            (Array("\"just a string\"\n".utf8), "invalid_request"),
            (Array("{\"id\":6,\"op\":\"query.add\",\"params\":{\"text\":\"x\",\"threshold\":\"high\"}}\n".utf8), "invalid_params"),
        ]
        try await daemon.client { client in
            for (bytes, code) in cases {
                try await client.send(raw: bytes)
                let reply = try await client.nextReply()
                guard case .failure(let error) = reply.outcome else {
                    Issue.record("expected \(code), got success")
                    continue
                }
                #expect(error.code.rawValue == code, "\(error)")
                #expect(!error.message.isEmpty)
            }
            // Blank lines are not requests and get no reply; the connection still works.
            try await client.send(raw: Array("\n\r\n  \n".utf8))
            let reply = try await client.request(.status)
            #expect(reply["version"] != nil)
        }
        // Half a line, then hang up: nothing to answer, and nothing breaks.
        try await daemon.client { client in try await client.send(raw: Array("{\"id\":9,\"op\":\"stat".utf8)) }
        try await daemon.client { client in
            let reply = try await client.request(.streamList)
            #expect(reply["streams"] == [])
        }
        #expect(await daemon.stop() == 0)
    }

    @Test func survivesABurstOfAThousandDroppedConnections() async throws {
        let daemon = try DaemonProcess()
        defer { daemon.cleanUp() }
        try await daemon.start()
        let socket = daemon.socket
        let group = MultiThreadedEventLoopGroup.singleton
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for worker in 0..<20 {
                tasks.addTask {
                    for i in 0..<50 {
                        let channel = try await Self.connectRetryingWhileTheBacklogIsFull(socket, group: group)
                        if (worker + i) % 3 == 0 {
                            // Some send a partial request before vanishing.
                            try await channel.writeAndFlush(ByteBuffer(string: "{\"id\":1,\"op\":\"sta")).get()
                        }
                        try await channel.close()
                    }
                }
            }
            try await tasks.waitForAll()
        }
        try await daemon.client { client in
            let reply = try await client.request(.status)
            #expect(reply["subscribers"] == 0)
        }
        #expect(await daemon.stop() == 0)
    }

    /// A full accept backlog makes a Unix socket `connect` fail with EAGAIN (on a loaded
    /// machine the burst can outrun the accepting thread); a client then tries again.
    static func connectRetryingWhileTheBacklogIsFull(_ socket: String, group: any EventLoopGroup) async throws -> any Channel {
        for _ in 0..<200 {
            do {
                return try await ClientBootstrap(group: group).connect(unixDomainSocketPath: socket).get()
            } catch let error as IOError where error.errnoCode == EAGAIN {
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        throw SightlineError(.unavailable, "the accept backlog stayed full")
    }

    @Test(.timeLimit(.minutes(1))) func servesFiftySubscribersAtOnce() async throws {
        let daemon = try DaemonProcess()
        defer { daemon.cleanUp() }
        try await daemon.start()
        let socket = daemon.socket
        let (ready, readyContinuation) = AsyncStream.makeStream(of: Void.self)
        let (release, releaseContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .unbounded)
        try await withThrowingTaskGroup(of: Int.self) { tasks in
            for _ in 0..<50 {
                tasks.addTask {
                    try await DaemonClient.withConnection(socketPath: socket) { client in
                        _ = try await client.request(.subscribe(Subscription(detail: .none)))
                        readyContinuation.yield()
                        var statuses = 0
                        // Each subscriber must see the status events of the stream added below.
                        while statuses < 1, let event = try await client.nextEvent() {
                            if event["event"] == "stream.status", event["stream"] == "missing" { statuses += 1 }
                        }
                        for await _ in release { break }
                        return statuses
                    }
                }
            }
            var count = 0
            for await _ in ready {
                count += 1
                if count == 50 { break }
            }
            try await daemon.client { client in
                let reply = try await client.request(.status)
                #expect(reply["subscribers"] == 50)
                _ = try await client.request(.streamAdd(StreamSpec(id: "missing", uri: "/nonexistent/clip.mp4")))
            }
            for _ in 0..<50 { releaseContinuation.yield() }
            var total = 0
            for try await statuses in tasks { total += statuses }
            #expect(total == 50)
        }
        #expect(await daemon.stop() == 0)
    }

    @Test func refusesASecondDaemonOnTheSameSocketOrState() async throws {
        let daemon = try DaemonProcess()
        defer { daemon.cleanUp() }
        try await daemon.start()
        let second = try await ChildProcesses.run(DaemonProcess.executable("sightlined"), ["--socket", daemon.socket, "--state-dir", daemon.directory + "/other", "--model", DaemonProcess.tinyModel])
        #expect(second.status != 0)
        #expect(second.stderr.contains("another sightlined is listening on \(daemon.socket)"))
        let third = try await ChildProcesses.run(DaemonProcess.executable("sightlined"), ["--socket", daemon.directory + "/b.sock", "--state-dir", daemon.stateDirectory, "--model", DaemonProcess.tinyModel])
        #expect(third.status != 0)
        #expect(third.stderr.contains("another sightlined is using the state directory"))
        // The first one is untouched.
        try await daemon.client { client in
            let reply = try await client.request(.status)
            #expect(reply["version"] != nil)
        }
        #expect(await daemon.stop() == 0)
    }

    @Test func theClientSaysWhenNoDaemonListens() async throws {
        let result = try await ChildProcesses.run(DaemonProcess.executable("sightline"), ["status", "--socket", "/tmp/sightline-none/absent.sock"])
        #expect(result.status == 69)
        #expect(result.stderr.contains("no sightlined is listening on /tmp/sightline-none/absent.sock"))
    }
}
