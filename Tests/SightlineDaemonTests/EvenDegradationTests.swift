import Foundation
import SightlineClient
import SightlineProtocol
import SightlineTestSupport
import Testing

/// The real daemon with more streams than its engine can ground, in the worst case for
/// carrying (`motion.carry = false`: every frame needs the encoder): no stream starves, each
/// is grounded at about the same rate, and the frames that could not be grounded in time were
/// skipped as stale rather than grounded late.
@Suite struct EvenDegradationTests {
    static let bikes = DaemonProcess.fixtures.appendingPathComponent("media/bikes.mp4").path

    @Test(.timeLimit(.minutes(3))) func streamsTooManyForTheEngineAreAllGroundedAlike() async throws {
        let daemon = try DaemonProcess()
        defer { daemon.cleanUp() }
        let config = daemon.directory + "/sightlined.toml"
        try "[motion]\ncarry = false\n".write(toFile: config, atomically: true, encoding: .utf8)
        let loaded = try DaemonProcess(directory: daemon.directory, arguments: ["--config", config], environment: ["SIGHTLINE_MAX_LATENCY": "1.0"])
        try await loaded.start()
        let streams = (0..<4).map { "cam\($0)" }
        let counts = try await loaded.client { client -> (first: [String: Int], second: [String: Int], drops: Int, stale: Int) in
            _ = try await client.request(.queryAdd(QuerySpec(text: "a person riding a bike")))
            for id in streams { _ = try await client.request(.streamAdd(StreamSpec(id: id, uri: Self.bikes, fps: 3, loop: true))) }
            func snapshot() async throws -> (processed: [String: Int], drops: Int, stale: Int) {
                let all = try await client.request(.status)["streams"]?.arrayValue ?? []
                var processed: [String: Int] = [:]
                for s in all { processed[s["id"]?.stringValue ?? ""] = s["processed"]?.intValue ?? 0 }
                return (processed, all.reduce(0) { $0 + ($1["drops"]?.intValue ?? 0) }, all.reduce(0) { $0 + ($1["stale"]?.intValue ?? 0) })
            }
            // Past the start, when every stream's first frame is grounded.
            try await Task.sleep(for: .seconds(8))
            let first = try await snapshot()
            try await Task.sleep(for: .seconds(15))
            let second = try await snapshot()
            return (first.processed, second.processed, second.drops, second.stale)
        }
        let grounded = streams.map { (counts.second[$0] ?? 0) - (counts.first[$0] ?? 0) }
        // Twelve frames a second offered: more than the debug build grounds.
        try #require(counts.drops > 0, "the engine kept up with 4 streams, so nothing degraded: \(grounded)\n\(loaded.log())")
        #expect(grounded.allSatisfy { $0 > 0 }, "a stream starved: \(grounded)")
        #expect(grounded.min()! * 2 >= grounded.max()!, "rates uneven: \(grounded)")
        #expect(counts.stale > 0, "no frame skipped for its age among \(counts.drops) drops")
        #expect(await loaded.stop() == 0)
    }
}
