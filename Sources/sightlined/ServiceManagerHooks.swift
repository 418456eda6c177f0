import Foundation
import Logging
import SightlineCore
import SightlineDaemon
import SightlineGrounding
import SightlineProtocol
import SightlineSystemd

/// Where `sightlined` meets systemd: `READY=1` once the socket serves, `STATUS=` when streams
/// or queries change, `WATCHDOG=1` from the scheduler's loop (so a hung engine call stops the
/// keep-alives), `STOPPING=1` on shutdown, `RELOADING=1`/`READY=1` around SIGHUP, and the
/// socket passed by socket activation. Outside systemd every hook does nothing and the daemon
/// binds its own socket.
enum ServiceManagerHooks {
    static func make(logger: Logger, logLevel: LogLevelControl) throws -> DaemonHooks {
        let notifier = try SystemdNotifier(logger: logger)
        var hooks = DaemonHooks()
        hooks.logLevel = { name in
            if let level = Logger.Level(rawValue: name) { logLevel.level = level }
        }
        hooks.ready = { notifier.post([.ready]) }
        hooks.status = { notifier.post([.status($0)]) }
        hooks.stopping = { notifier.post([.stopping]) }
        hooks.watchdog = { notifier.postWatchdog() }
        if let interval = notifier.watchdogInterval { hooks.watchdogInterval = interval }
        hooks.reloading = { notifier.post([SystemdNotifier.reloadingNow()]) }
        if let socket = try SocketActivation.unixStreamListener() {
            logger.info("using the socket passed by the service manager", metadata: ["fd": "\(socket.fileDescriptor)", "name": "\(socket.name)"])
            hooks.listenDescriptor = socket.fileDescriptor
        }
        return hooks
    }

    /// The log handler: `<N>` priorities when standard error is the journal, plain otherwise;
    /// the level follows `control`, which a reload changes.
    static func bootstrapLogging(control: LogLevelControl) {
        LoggingSystem.bootstrap(SystemdLogHandler.factory(control: control))
    }
}

/// `SIGHTLINE_DEBUG_HANG_ENGINE=1` makes the engine call block forever at the first batch of
/// frames, as a deadlocked or runaway engine would: the scheduler's loop stops turning, its
/// `WATCHDOG=1` keep-alives stop, and systemd's `WatchdogSec=` kills and restarts the daemon.
/// For testing that chain (Docs/operations.md); never set it otherwise.
enum EngineHangForTesting {
    static func wrap(_ make: @escaping @Sendable () throws -> any BatchGrounder, environment: [String: String], logger: Logger) -> @Sendable () throws -> any BatchGrounder {
        guard environment["SIGHTLINE_DEBUG_HANG_ENGINE"] == "1" else { return make }
        logger.warning("SIGHTLINE_DEBUG_HANG_ENGINE=1: the engine will hang at its first batch of frames")
        return { HangingGrounder(inner: try make()) }
    }
}

private final class HangingGrounder: BatchGrounder {
    let inner: any BatchGrounder
    init(inner: any BatchGrounder) { self.inner = inner }

    func ground(_ frames: [Frame], queries: [[QueryRecord]]) throws -> [MatchEvent] {
        if !frames.isEmpty {
            while true { sleep(3600) }
        }
        return try inner.ground(frames, queries: queries)
    }

    func update(queries: [QueryRecord]) -> [MatchEvent] { inner.update(queries: queries) }
    func finish(stream: String, reason: MatchEndReason) -> [MatchEvent] { inner.finish(stream: stream, reason: reason) }
    func forget(stream: String) { inner.forget(stream: stream) }
    var streams: [String] { inner.streams }
}
