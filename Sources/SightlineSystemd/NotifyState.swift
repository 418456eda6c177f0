/// One assignment of the sd_notify protocol (sd_notify(3)); several go in one datagram.
public enum NotifyState: Sendable, Equatable {
    /// Start-up is finished: the socket serves.
    case ready
    /// A configuration reload begins; `READY=1` ends it. Carries the monotonic clock as
    /// `MONOTONIC_USEC=`, which systemd 253 and later require for `Type=notify-reload`.
    case reloading(monotonicMicroseconds: UInt64)
    /// Shutdown has begun.
    case stopping
    /// A keep-alive for `WatchdogSec=`.
    case watchdog
    /// One line for `systemctl status`.
    case status(String)
    /// Start-up, reload or shutdown needs longer than the unit's timeout: ask for this much more.
    case extendTimeout(microseconds: UInt64)

    /// The `KEY=value` line. Status text is kept on one line because the protocol is
    /// newline-separated.
    public var line: String {
        switch self {
        case .ready: return "READY=1"
        case .reloading(let usec): return "RELOADING=1\nMONOTONIC_USEC=\(usec)"
        case .stopping: return "STOPPING=1"
        case .watchdog: return "WATCHDOG=1"
        case .status(let text):
            return "STATUS=" + text.split(whereSeparator: \.isNewline).joined(separator: " ")
        case .extendTimeout(let usec): return "EXTEND_TIMEOUT_USEC=\(usec)"
        }
    }

    /// The datagram for several assignments.
    public static func message(_ states: [NotifyState]) -> String {
        states.map(\.line).joined(separator: "\n") + "\n"
    }
}
