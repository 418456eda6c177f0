import Foundation
import Logging
import SightlineCore
import Testing
@testable import SightlineSystemd

@Suite struct NotifierTests {
    let logger = Logger(label: "test")

    @Test(arguments: [
        (NotifyState.ready, "READY=1"),
        (.stopping, "STOPPING=1"),
        (.watchdog, "WATCHDOG=1"),
        (.status("2 streams, 3 queries\nmodel x"), "STATUS=2 streams, 3 queries model x"),
        (.reloading(monotonicMicroseconds: 42), "RELOADING=1\nMONOTONIC_USEC=42"),
        (.extendTimeout(microseconds: 5_000_000), "EXTEND_TIMEOUT_USEC=5000000"),
    ])
    func formatsAssignments(state: NotifyState, line: String) {
        #expect(state.line == line)
    }

    @Test(arguments: ["path", "abstract"])
    func deliversToTheNotifySocket(kind: String) async throws {
        let receiver = kind == "path" ? try DatagramReceiver.temporary() : try DatagramReceiver(address: "@sightline-test-\(UUID().uuidString.prefix(8))")
        let notifier = try SystemdNotifier(environment: ["NOTIFY_SOCKET": receiver.address], logger: logger)
        #expect(notifier.isActive)

        await notifier.ready(status: "serving on /run/sightline/sightline.sock")
        #expect(await receiver.next() == "READY=1\nSTATUS=serving on /run/sightline/sightline.sock\n")
        await notifier.status("1 stream, 2 queries, model openai/clip")
        #expect(await receiver.next() == "STATUS=1 stream, 2 queries, model openai/clip\n")
        await notifier.reloading()
        let reload = await receiver.next() ?? ""
        #expect(reload.hasPrefix("RELOADING=1\nMONOTONIC_USEC="))
        let usec = UInt64(reload.split(separator: "\n")[1].dropFirst("MONOTONIC_USEC=".count)) ?? 0
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        #expect(usec > 0 && usec <= UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000)
        await notifier.stopping()
        #expect(await receiver.next() == "STOPPING=1\n")
        await notifier.extendTimeout(by: .milliseconds(2500))
        #expect(await receiver.next() == "EXTEND_TIMEOUT_USEC=2500000\n")
    }

    @Test func isSilentOutsideAServiceManager() async throws {
        let notifier = try SystemdNotifier(environment: [:], logger: logger)
        #expect(!notifier.isActive && notifier.watchdogInterval == nil)
        await notifier.ready()
        await notifier.watchdog()
        try await notifier.send([.stopping])
    }

    @Test func reportsASocketThatIsGone() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("absent-\(UUID().uuidString)").path
        let notifier = try SystemdNotifier(environment: ["NOTIFY_SOCKET": path], logger: logger)
        let error = await #expect(throws: SightlineError.self) { try await notifier.send([.ready]) }
        #expect(error?.code == .system && error?.context["NOTIFY_SOCKET"] == path)
        // The convenience calls log instead of failing the daemon.
        await notifier.ready()
    }

    @Test(arguments: [
        ["NOTIFY_SOCKET": "relative/path"],
        ["NOTIFY_SOCKET": "/" + String(repeating: "x", count: 200)],
        ["WATCHDOG_USEC": "soon"],
        ["WATCHDOG_USEC": "0"],
        ["WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "me"],
    ])
    func rejectsMalformedEnvironments(environment: [String: String]) {
        #expect(throws: SightlineError.self) { try SystemdNotifier(environment: environment, logger: logger) }
    }

    @Test(arguments: [
        (["WATCHDOG_USEC": "30000000"], Duration?.some(.seconds(15))),
        (["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "\(getpid())"], .some(.seconds(15))),
        (["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"], nil),
        ([:], nil),
    ])
    func watchdogIntervalIsHalfTheTimeoutForThisProcess(environment: [String: String], interval: Duration?) throws {
        #expect(try SystemdNotifier(environment: environment, logger: logger).watchdogInterval == interval)
    }

    /// However fast the loop turns, a keep-alive goes out at most once per quarter of
    /// WATCHDOG_USEC; the first always goes.
    @Test func keepAlivesAreLimitedToOnePerQuarterTimeout() {
        var limiter = KeepAliveLimiter(minimumGap: .milliseconds(100))
        let start = ContinuousClock.now
        let sent = stride(from: 0, through: 1000, by: 10).filter { limiter.shouldSend(at: start + .milliseconds($0)) }
        #expect(sent == [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000])
        // Irregular turns: each send is at least the gap after the previous one.
        var irregular = KeepAliveLimiter(minimumGap: .milliseconds(100))
        let times = [0, 30, 99, 100, 150, 260, 261, 359, 360, 500]
        #expect(times.filter { irregular.shouldSend(at: start + .milliseconds($0)) } == [0, 100, 260, 360, 500])
    }

    /// The real socket: a loop calling watchdog() sends WATCHDOG=1 and nothing else, no more
    /// often than the limit allows for the time the loop really took.
    @Test func watchdogSendsKeepAlivesOnTheSocket() async throws {
        let receiver = try DatagramReceiver.temporary()
        let notifier = try SystemdNotifier(environment: ["NOTIFY_SOCKET": receiver.address, "WATCHDOG_USEC": "400000"], logger: logger)
        #expect(notifier.watchdogInterval == .milliseconds(200))
        let start = ContinuousClock.now
        for _ in 0..<50 {
            await notifier.watchdog()
            try await Task.sleep(for: .milliseconds(10))
        }
        let elapsed = ContinuousClock.now - start
        // Read after the loop: at most the socket's queue (max_dgram_qlen) is kept, and a
        // full queue makes further sends fail, never wait.
        let messages = await receiver.collect(for: .milliseconds(300))
        #expect(messages.allSatisfy { $0 == "WATCHDOG=1\n" })
        #expect(messages.count >= 1 && messages.count <= Int(elapsed / .milliseconds(100)) + 1, "\(messages.count) keep-alives in \(elapsed)")
    }

    /// A manager that does not read: the queue fills, and a send then fails at once.
    @Test func aFullQueueFailsInsteadOfBlocking() async throws {
        let receiver = try DatagramReceiver.temporary()
        let notifier = try SystemdNotifier(environment: ["NOTIFY_SOCKET": receiver.address], logger: logger)
        var failure: SightlineError?
        for i in 0..<10_000 {
            do {
                try await notifier.send([.status("message \(i)")])
            } catch let error as SightlineError {
                failure = error
                break
            }
        }
        let error = try #require(failure)
        #expect(error.message.contains("temporarily unavailable"), "\(error)")
        #expect(await receiver.next() == "STATUS=message 0\n")
    }
}
