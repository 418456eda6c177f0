import Foundation
import Logging
import SightlineCore
import Synchronization

/// Tells the service manager how `sightlined` is doing, over the datagram socket named by
/// `NOTIFY_SOCKET` (`Type=notify`).
///
/// The protocol is spoken natively rather than through libsystemd's `sd_notify` so that the
/// environment it reads is a parameter: tests hand it a socket of their own without touching
/// the process environment. Outside a service manager (`NOTIFY_SOCKET` unset) every call is a
/// no-op. Datagrams are sent without waiting (the socket is non-blocking), one at a time under
/// a lock that keeps them in order, so the cooperative thread pool can send them directly:
/// there is no blocking work to move off it.
public final class SystemdNotifier: Sendable {
    /// `WATCHDOG_USEC` when the watchdog is meant for this process, else nil.
    public let watchdogTimeout: Duration?
    /// The socket address from `NOTIFY_SOCKET`, nil outside a service manager.
    public let socketAddress: String?

    private let socket: NotifySocket?
    /// Held for one send, so that datagrams leave in the order they were asked for.
    private let sending = Mutex(())
    private let keepAlives: Mutex<KeepAliveLimiter>
    private let logger: Logger

    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from `environment`.
    /// Throws when `NOTIFY_SOCKET` or `WATCHDOG_USEC` is set but malformed.
    public init(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        processID: Int32 = ProcessInfo.processInfo.processIdentifier,
        logger: Logger
    ) throws {
        self.logger = logger
        if let address = environment["NOTIFY_SOCKET"], !address.isEmpty {
            socket = try NotifySocket(address: address)
            socketAddress = address
        } else {
            socket = nil
            socketAddress = nil
        }
        watchdogTimeout = try Self.watchdogTimeout(environment: environment, processID: processID)
        keepAlives = Mutex(KeepAliveLimiter(minimumGap: (watchdogTimeout ?? .zero) / 4))
    }

    /// Whether a service manager listens.
    public var isActive: Bool { socket != nil }

    /// How often `watchdog()` must be called: half of `WATCHDOG_USEC`, as sd_watchdog_enabled(3)
    /// advises. Nil when the unit has no `WatchdogSec=`.
    public var watchdogInterval: Duration? { watchdogTimeout.map { $0 / 2 } }

    /// Sends the assignments in one datagram.
    public func send(_ states: [NotifyState]) async throws {
        guard let socket else { return }
        let message = NotifyState.message(states)
        try sending.withLock { _ in try socket.send(message) }
    }

    /// `READY=1`, with a status line when given. Also ends a reload.
    public func ready(status: String? = nil) async {
        await sendLoggingFailure([.ready] + (status.map { [.status($0)] } ?? []))
    }

    /// `STATUS=`: one line for `systemctl status`.
    public func status(_ text: String) async {
        await sendLoggingFailure([.status(text)])
    }

    /// `RELOADING=1`; send `ready()` when the reload is done.
    public func reloading(status: String? = nil) async {
        await sendLoggingFailure([Self.reloadingNow()] + (status.map { [.status($0)] } ?? []))
    }

    /// `STOPPING=1`.
    public func stopping(status: String? = nil) async {
        await sendLoggingFailure([.stopping] + (status.map { [.status($0)] } ?? []))
    }

    /// Asks for `duration` more before the start, reload or stop timeout fires.
    public func extendTimeout(by duration: Duration) async {
        let usec = UInt64(max(0, duration.components.seconds)) * 1_000_000
            + UInt64(max(0, duration.components.attoseconds)) / 1_000_000_000_000
        await sendLoggingFailure([.extendTimeout(microseconds: usec)])
    }

    /// `WATCHDOG=1`, from the loop whose progress it vouches for.
    ///
    /// Call it on every turn of that loop, and make the loop turn at least every
    /// `watchdogInterval` even when idle. A keep-alive goes out at most once per half
    /// `watchdogInterval`, so a busy loop does not flood the manager, and a loop that stops
    /// turning (a hung engine call) lets `WatchdogSec=` expire.
    public func watchdog() async {
        guard socket != nil, watchdogInterval != nil else { return }
        let now = ContinuousClock.now
        if keepAlives.withLock({ $0.shouldSend(at: now) }) { await sendLoggingFailure([.watchdog]) }
    }

    /// The same notifications from code outside Swift concurrency (a loop on a dedicated
    /// thread, a synchronous hook): sent before it returns (a send never waits, so this is
    /// short), in order with the others, so that `STOPPING=1` is out before the process exits.
    /// Failures are logged.
    public func post(_ states: [NotifyState]) {
        guard let socket else { return }
        let message = NotifyState.message(states)
        let logger = logger
        do {
            try sending.withLock { _ in try socket.send(message) }
        } catch {
            logger.warning("cannot notify the service manager", metadata: ["error": "\(error)"])
        }
    }

    /// `watchdog()` for a loop on a dedicated thread: the same limit.
    public func postWatchdog() {
        guard socket != nil, watchdogInterval != nil else { return }
        if keepAlives.withLock({ $0.shouldSend(at: ContinuousClock.now) }) { post([.watchdog]) }
    }

    /// `RELOADING=1` with the monotonic clock, for `post`.
    public static func reloadingNow() -> NotifyState {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return .reloading(monotonicMicroseconds: UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1_000)
    }

    private func sendLoggingFailure(_ states: [NotifyState]) async {
        do {
            try await send(states)
        } catch {
            logger.warning("cannot notify the service manager", metadata: ["error": "\(error)"])
        }
    }

    /// sd_watchdog_enabled(3): `WATCHDOG_USEC` applies when `WATCHDOG_PID` is unset or names us.
    static func watchdogTimeout(environment: [String: String], processID: Int32) throws -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], !text.isEmpty else { return nil }
        guard let usec = UInt64(text), usec > 0 else {
            throw SightlineError(.invalidArgument, "WATCHDOG_USEC must be a positive number of microseconds", context: ["WATCHDOG_USEC": text])
        }
        if let pidText = environment["WATCHDOG_PID"], !pidText.isEmpty {
            guard let pid = Int32(pidText) else {
                throw SightlineError(.invalidArgument, "WATCHDOG_PID must be a process id", context: ["WATCHDOG_PID": pidText])
            }
            if pid != processID { return nil }
        }
        return .microseconds(usec)
    }
}

/// Lets a keep-alive through at most once per `minimumGap` (a quarter of `WATCHDOG_USEC`,
/// half the interval at which the loop must turn).
struct KeepAliveLimiter {
    let minimumGap: Duration
    private var last: ContinuousClock.Instant?

    init(minimumGap: Duration) { self.minimumGap = minimumGap }

    mutating func shouldSend(at now: ContinuousClock.Instant) -> Bool {
        if let last, now - last < minimumGap { return false }
        last = now
        return true
    }
}
