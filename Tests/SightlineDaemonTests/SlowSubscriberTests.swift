import Foundation
import NIOCore
import NIOPosix
import SightlineCore
import SightlineDaemon
import SightlineProtocol
import Synchronization
import Testing

/// A subscriber that stops reading, against the real daemon with real events: it is
/// disconnected once its queue stays full, and a subscriber that keeps reading carries on.
///
/// The events are stream status events from streams added and removed as fast as the daemon
/// answers (each removal publishes `ended`, each start of a missing file `failed`), so how
/// soon the stuck subscriber's socket and queue fill does not depend on how fast the machine
/// grounds frames.
@Suite(.serialized) struct SlowSubscriberTests {
    /// Set when the reading subscriber has seen what it waits for, or gave up.
    final class Finished: Sendable {
        private let value = Mutex(false)
        var isSet: Bool { value.withLock { $0 } }
        func set() { value.withLock { $0 = true } }
    }

    @Test(.timeLimit(.minutes(2))) func aSubscriberThatStopsReadingIsDisconnectedAndOthersCarryOn() async throws {
        let directory = try DaemonProcess().directory
        let config = directory + "/sightlined.toml"
        // A small queue and the shortest patience the configuration allows; the reading
        // subscriber has the same queue, room for bursts of churn on a busy machine.
        try Data("[subscribers]\nqueue = 64\nstuck_after = 0.1\n".utf8).write(to: URL(fileURLWithPath: config))
        let daemon = try DaemonProcess(directory: directory, arguments: ["--config", config])
        defer { daemon.cleanUp() }
        try await daemon.start()

        // The stuck subscriber: subscribes, then never reads again.
        let stuck = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.so_rcvbuf), value: 1024)
            .connect(unixDomainSocketPath: daemon.socket).get()
        try await stuck.setOption(.autoRead, value: false).get()
        let subscribe = Request(id: 1, operation: .subscribe(Subscription(detail: .rle)))
        try await stuck.writeAndFlush(ByteBuffer(bytes: JSONWriter.line(subscribe.json))).get()

        // A missing file with a long name (about 3.6 KB, within PATH_MAX): its `failed` status
        // carries the name, so each event is large and the stuck socket's buffers fill after a
        // few dozen of them, which a loaded machine churns out well within the deadline.
        let longName = (0..<30).map { _ in String(repeating: "m", count: 120) }.joined(separator: "/")
        let missing = directory + "/missing/" + longName + ".mp4"
        let finished = Finished()
        let deadline = ContinuousClock.now + .seconds(60)

        try await daemon.client { reader in
            _ = try await reader.request(.subscribe(Subscription(detail: .rle)))
            // Four churners, each on its own connection, add and remove streams until the reader
            // is done (it stops at the deadline), so that it always has events coming and never
            // waits for one that does not come. Four, because on a loaded machine each round
            // trip waits its turn for the daemon's threads: together they keep it busy.
            let churn = Task {
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for churner in 0..<4 {
                        group.addTask {
                            try await daemon.client { client in
                                var n = 0
                                while !finished.isSet {
                                    let id = "churn-\(churner)-\(n)"
                                    _ = try await client.request(.streamAdd(StreamSpec(id: id, uri: missing, fps: 1, loop: false)))
                                    _ = try await client.request(.streamRemove(id: id))
                                    n += 1
                                }
                                return n
                            }
                        }
                    }
                    return try await group.reduce(0, +)
                }
            }
            defer { finished.set() }
            var events = 0
            var eventsAfterDisconnect = 0
            var disconnected = false
            while !disconnected || eventsAfterDisconnect < 20 {
                if ContinuousClock.now >= deadline {
                    Issue.record("after 60 s: disconnected \(disconnected), \(events) events, \(eventsAfterDisconnect) after the disconnect")
                    break
                }
                guard let event = try await reader.nextEvent() else {
                    Issue.record("the daemon closed the reading subscriber's connection")
                    break
                }
                if event["event"] == "lagged" { Issue.record("the reading subscriber lagged") }
                events += 1
                if disconnected { eventsAfterDisconnect += 1 }
                if !disconnected, events % 10 == 0 {
                    disconnected = daemon.log().contains("disconnecting a subscriber whose queue stayed full")
                }
            }
            finished.set()
            let rounds = try await churn.value
            #expect(disconnected)
            #expect(eventsAfterDisconnect >= 20)
            print("slow subscriber: disconnected \(disconnected) after \(events - eventsAfterDisconnect) events, \(rounds) streams added and removed")
        }
        // The stuck connection was closed by the daemon. (Already closed is what is expected;
        // reading lets the channel notice the close otherwise.) Closed here after 10 s, so
        // that a daemon that kept it open fails the test instead of hanging it.
        let closedByTest = Finished()
        let giveUp = stuck.eventLoop.scheduleTask(in: .seconds(10)) {
            closedByTest.set()
            stuck.close(promise: nil)
        }
        try? await stuck.setOption(.autoRead, value: true).get()
        try? await stuck.closeFuture.get()
        giveUp.cancel()
        #expect(!closedByTest.isSet, "the daemon left the stuck subscriber's connection open")
        #expect(await daemon.stop() == 0)
    }
}
