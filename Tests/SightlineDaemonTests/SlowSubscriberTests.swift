import Foundation
import NIOCore
import NIOPosix
import SightlineCore
import SightlineDaemon
import SightlineProtocol
import Testing

/// A subscriber that stops reading, against the real daemon with real events: it is
/// disconnected once its queue stays full, and a subscriber that keeps reading carries on.
@Suite(.serialized) struct SlowSubscriberTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    @Test(.timeLimit(.minutes(2))) func aSubscriberThatStopsReadingIsDisconnectedAndOthersCarryOn() async throws {
        let clip = Self.fixtures.appendingPathComponent("davis/bmx-trees-428x240.mp4").path
        let model = Self.fixtures.appendingPathComponent("clip/tiny-gelu-p14").path
        let directory = try DaemonProcess().directory
        let config = directory + "/sightlined.toml"
        try Data("[subscribers]\nqueue = 64\nstuck_after = 0.5\n".utf8).write(to: URL(fileURLWithPath: config))
        let daemon = try DaemonProcess(directory: directory, arguments: ["--model", model, "--config", config])
        defer { daemon.cleanUp() }
        try await daemon.start()

        // The stuck subscriber: subscribes, then never reads again. A tiny receive buffer makes
        // the socket fill quickly, so the daemon's queue for it fills too.
        let stuck = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.so_rcvbuf), value: 1024)
            .connect(unixDomainSocketPath: daemon.socket).get()
        try await stuck.setOption(.autoRead, value: false).get()
        let subscribe = Request(id: 1, operation: .subscribe(Subscription(detail: .rle)))
        try await stuck.writeAndFlush(ByteBuffer(bytes: JSONWriter.line(subscribe.json))).get()

        try await daemon.client { client in
            _ = try await client.request(.subscribe(Subscription(detail: .rle)))
            _ = try await client.request(.queryAdd(QuerySpec(text: "a person riding a bike", threshold: 0.05)))
            _ = try await client.request(.streamAdd(StreamSpec(id: "bmx", uri: clip, fps: 12, loop: true)))
            var events = 0
            var eventsAfterDisconnect = 0
            var disconnected = false
            while !disconnected || eventsAfterDisconnect < 20 {
                guard let event = try await client.nextEvent() else { break }
                if event["event"] == "lagged" { Issue.record("the reading subscriber lagged") }
                events += 1
                if disconnected { eventsAfterDisconnect += 1 }
                if !disconnected, events % 10 == 0 {
                    disconnected = daemon.log().contains("disconnecting a subscriber whose queue stayed full")
                }
            }
            #expect(disconnected)
            #expect(eventsAfterDisconnect >= 20)
        }
        // The stuck connection was closed by the daemon.
        // (Already closed is what is expected; reading lets the channel notice the close otherwise.)
        try? await stuck.setOption(.autoRead, value: true).get()
        try await stuck.closeFuture.get()
        #expect(await daemon.stop() == 0)
    }
}
