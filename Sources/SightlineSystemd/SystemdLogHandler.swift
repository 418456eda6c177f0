#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import SightlineCore
import Synchronization

/// A swift-log handler for a daemon's standard error.
///
/// Under systemd, standard error is connected to the journal and `JOURNAL_STREAM` names that
/// stream (`device:inode`); lines then start with a `<N>` syslog priority (sd-daemon(3)) so
/// that journald keeps each line's level and `journalctl -p` filters on it. Anywhere else
/// (a terminal, a pipe, a file) lines are plain, with a timestamp and the level in words.
public struct SystemdLogHandler: LogHandler {
    public enum Format: Sendable, Equatable {
        /// `<N>label: message key=value`: journald adds time and unit itself.
        case journal
        /// `2026-01-02T03:04:05.678Z info label: message key=value`.
        case plain
    }

    /// The shared level (`LogLevelControl`), unless this handler's logger set its own.
    public var logLevel: Logger.Level {
        get { ownLevel ?? control?.level ?? .info }
        set { ownLevel = newValue }
    }
    private var ownLevel: Logger.Level?
    private let control: LogLevelControl?
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public let label: String
    public let format: Format
    private let sink: LogSink

    public init(label: String, format: Format, level: Logger.Level = .info, sink: LogSink = .standardError, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.format = format
        self.ownLevel = level
        self.control = nil
        self.sink = sink
        self.metadataProvider = metadataProvider
    }

    /// A handler whose level follows `control`, so that every logger of the process changes
    /// level together (a daemon reloading its configuration).
    public init(label: String, format: Format, control: LogLevelControl, sink: LogSink = .standardError) {
        self.label = label
        self.format = format
        self.ownLevel = nil
        self.control = control
        self.sink = sink
        self.metadataProvider = nil
    }

    /// `.journal` when `JOURNAL_STREAM` names the file behind `fileDescriptor`, as
    /// systemd.exec(5) prescribes (a redirected standard error must not get prefixes).
    public static func detectFormat(environment: [String: String] = ProcessInfo.processInfo.environment, fileDescriptor: Int32 = 2) -> Format {
        guard let stream = environment["JOURNAL_STREAM"] else { return .plain }
        let parts = stream.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return .plain }
        var st = stat()
        guard fstat(fileDescriptor, &st) == 0 else { return .plain }
        return UInt64(st.st_dev) == device && UInt64(st.st_ino) == inode ? .journal : .plain
    }

    /// A factory for `LoggingSystem.bootstrap` that detects the format once for standard error.
    public static func factory(level: Logger.Level = .info, environment: [String: String] = ProcessInfo.processInfo.environment) -> @Sendable (String) -> any LogHandler {
        let format = detectFormat(environment: environment)
        return { label in SystemdLogHandler(label: label, format: format, level: level) }
    }

    /// The same, with every handler's level following `control`.
    public static func factory(control: LogLevelControl, environment: [String: String] = ProcessInfo.processInfo.environment) -> @Sendable (String) -> any LogHandler {
        let format = detectFormat(environment: environment)
        return { label in SystemdLogHandler(label: label, format: format, control: control) }
    }

    /// The syslog priority journald stores for each level (RFC 5424 severities).
    public static func syslogPriority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        if let error = event.error { merged["error"] = "\(error)" }
        let details = merged.isEmpty ? "" : " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        // Masked here, where every line of the daemon passes, so that no path (a GStreamer
        // error quoting its location, a configuration message) writes a camera's password.
        let body = maskingCredentials("\(label): \(event.message)\(details)")
        switch format {
        case .journal:
            // journald splits on newlines; each line keeps the priority.
            let prefix = "<\(Self.syslogPriority(event.level))>"
            sink.write(body.split(separator: "\n", omittingEmptySubsequences: false).map { prefix + $0 + "\n" }.joined())
        case .plain:
            sink.write("\(Self.timestamp()) \(event.level) \(body)\n")
        }
    }

    private static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var seconds = ts.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
            Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
            Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(ts.tv_nsec / 1_000_000)
        )
    }
}

/// A log level shared by handlers, changed while they are in use.
public final class LogLevelControl: Sendable {
    private let current: Mutex<Logger.Level>

    public init(_ level: Logger.Level) { current = Mutex(level) }

    public var level: Logger.Level {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
    }
}
