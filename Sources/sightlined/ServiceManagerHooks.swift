import Logging
import SightlineDaemon

/// Where `sightlined` meets its service manager. The daemon calls these hooks; with no
/// service manager they do nothing. systemd support plugs in here: `READY=1` in `ready`,
/// `WATCHDOG=1` in `watchdog` (called from the scheduler's loop at least every
/// `watchdogInterval`, so a hung engine stops the pings), `STOPPING=1` in `stopping`,
/// `STATUS=` in `status`, the socket passed by socket activation in `listenDescriptor`, and
/// SIGHUP in `reload`.
enum ServiceManagerHooks {
    static func make(logger: Logger) -> DaemonHooks {
        DaemonHooks()
    }
}
