import Foundation
import Logging
import SightlineCore
@testable import SightlineMedia
import Testing

/// Live sources against an RTSP server that each test starts on 127.0.0.1. Timeouts and
/// backoff are shortened by the tests' options, not by the code under test.
@Suite struct RTSPSourceTests {
    static func options(_ uri: String, transport: SourceOptions.RTSPTransport = .tcp, stallTimeout: Double = 3) throws -> SourceOptions {
        SourceOptions(
            uri: uri, sampleRate: 5, shortSide: 120, rtspTransport: transport, latency: 0.1,
            stallTimeout: stallTimeout, reconnect: try Backoff(initial: 0.2, maximum: 1, resetAfter: 60), bufferedFrames: 256
        )
    }

    static func isReconnecting(_ state: SourceState) -> Bool {
        if case .reconnecting = state { true } else { false }
    }

    @Test(arguments: [SourceOptions.RTSPTransport.tcp, .udp])
    func framesArrive(transport: SourceOptions.RTSPTransport) async throws {
        let server = try await RTSPTestServer.start()
        let run = try SourceRun("cam", Self.options(server.uri(), transport: transport))
        #expect(await run.wait(timeout: 60) { await $0.frames.count >= 5 })
        await run.stop()
        await server.stop()
        let frames = await run.frames
        #expect(await run.states.prefix(2) == [.starting, .online])
        #expect(await run.states.last == .ended)
        #expect(frames.allSatisfy { $0.image.width == 160 && $0.image.height == 120 })
        #expect(frames.map(\.seq) == (0..<UInt64(frames.count)).map { $0 })
    }

    @Test func wrongMountReconnectsWithBackoffAndNeverShowsTheCredentials() async throws {
        let server = try await RTSPTestServer.start()
        let (logger, lines) = RecordingLogHandler.logger("test.mount")
        let uri = server.uri("no-such-mount", credentials: "viewer:hunter2")
        let source = try VideoSource(id: "mount", options: Self.options(uri), logger: logger)
        let run = SourceRun(source)
        #expect(await run.wait(timeout: 60) { await $0.states.contains(.reconnecting(attempt: 3)) })
        await run.stop()
        await server.stop()
        let statuses = await run.statuses
        let reconnects = statuses.filter { Self.isReconnecting($0.state) }
        // 0.2 s doubling, capped at 1 s.
        #expect(reconnects.prefix(3).map(\.retryIn) == [0.2, 0.4, 0.8])
        #expect(reconnects.allSatisfy { $0.error?.localizedCaseInsensitiveContains("not found") == true })
        #expect(await run.frames.isEmpty)
        let everything = statuses.map { "\($0) \($0.error ?? "")" } + lines.all
        #expect(everything.allSatisfy { !$0.contains("hunter2") && !$0.contains("viewer") })
        #expect(lines.all.contains { $0.contains("rtsp://***@127.0.0.1") })
    }

    @Test func serverDownThenUp() async throws {
        let port = try unusedPort()
        let run = try SourceRun("late", Self.options("rtsp://127.0.0.1:\(port)/live"))
        #expect(await run.wait(timeout: 60) { await $0.states.contains(.reconnecting(attempt: 2)) })
        let server = try await RTSPTestServer.start(port: port)
        #expect(await run.wait(timeout: 60) { await $0.frames.count >= 3 })
        await run.stop()
        await server.stop()
        let states = await run.states
        #expect(states.first == .starting)
        #expect(states.contains(.online))
        #expect(await run.statuses.first { Self.isReconnecting($0.state) }?.error?.isEmpty == false)
    }

    @Test func killedServerIsReconnectedAndFramesResume() async throws {
        let server = try await RTSPTestServer.start()
        let port = server.port
        let run = try SourceRun("phoenix", Self.options(server.uri()))
        #expect(await run.wait(timeout: 60) { await $0.frames.count >= 3 })
        await server.kill()
        #expect(await run.wait(timeout: 60) { await $0.states.contains { Self.isReconnecting($0) } })
        let before = await run.frames.count
        let restarted = try await RTSPTestServer.start(port: port)
        #expect(await run.wait(timeout: 90) { await $0.frames.count >= before + 3 })
        await run.stop()
        await restarted.stop()
        let states = await run.states
        let firstOnline = states.firstIndex(of: .online) ?? states.endIndex
        let reconnecting = states.firstIndex { Self.isReconnecting($0) } ?? states.endIndex
        #expect(firstOnline < reconnecting)
        #expect(states[reconnecting...].contains(.online))
        // Sequence numbers carry on across the reconnect.
        let frames = await run.frames
        #expect(frames.map(\.seq) == (0..<UInt64(frames.count)).map { $0 })
        #expect(run.source.statistics.pipelinesStarted >= 2)
        // The pipelines of the failed attempts were freed too.
        #expect(await run.allPipelinesReleased(timeout: 10), "\(run.source.statistics)")
    }

    @Test func severalStreamsAtOnce() async throws {
        let server = try await RTSPTestServer.start(mounts: ["a", "b", "c"])
        let runs = try ["a", "b", "c"].map { try SourceRun($0, Self.options(server.uri($0))) }
        for run in runs { #expect(await run.wait(timeout: 90) { await $0.frames.count >= 5 }) }
        for run in runs { await run.stop() }
        await server.stop()
        for (run, id) in zip(runs, ["a", "b", "c"]) {
            #expect(await run.frames.allSatisfy { $0.stream == id })
            #expect(await run.states.contains(.online))
        }
    }

    @Test func stalledSenderIsDetectedAndRestarted() async throws {
        let server = try await RTSPTestServer.start()
        let run = try SourceRun("hung", Self.options(server.uri(), stallTimeout: 1.5))
        #expect(await run.wait(timeout: 60) { await $0.frames.count >= 3 })
        try server.stall()
        #expect(await run.wait(timeout: 60) { await $0.states.contains(.stalled) })
        let stalled = await run.statuses.first { $0.state == .stalled }
        #expect(stalled?.error?.contains("no frame for") == true)
        #expect(await run.wait(timeout: 60) { await $0.states.contains { Self.isReconnecting($0) } })
        try server.resume()
        let before = await run.frames.count
        #expect(await run.wait(timeout: 90) { await $0.frames.count >= before + 3 })
        await run.stop()
        await server.stop()
        let states = await run.states
        let stall = states.firstIndex(of: .stalled)!
        #expect(states[stall...].contains(.online))
    }
}
