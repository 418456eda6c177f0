import Foundation

/// Where a video source is in its life. Every change is published as a `SourceStatus`.
public enum SourceState: Sendable, Hashable, CustomStringConvertible {
    /// Opening the URI and negotiating; no frame yet.
    case starting
    /// Frames are arriving.
    case online
    /// No frame for longer than the stall timeout although the source did not fail (a
    /// camera that keeps its connection open but stopped sending). A live source or a
    /// looping file is restarted; any other file fails.
    case stalled
    /// Waiting to open the source again after a failure, an unexpected end or a stall.
    /// `attempt` counts from 1 and goes back to 1 after a healthy spell.
    case reconnecting(attempt: Int)
    /// A file reached its end (and does not loop), or the source was stopped.
    case ended
    /// The source cannot be read and will not be retried (missing file, unsupported scheme,
    /// not a video). The message says why.
    case failed(String)

    /// The state's name on the wire and in logs: `starting`, `online`, `stalled`,
    /// `reconnecting`, `ended`, `failed`.
    public var name: String {
        switch self {
        case .starting: "starting"
        case .online: "online"
        case .stalled: "stalled"
        case .reconnecting: "reconnecting"
        case .ended: "ended"
        case .failed: "failed"
        }
    }

    /// Whether the source has stopped for good.
    public var isTerminal: Bool {
        switch self {
        case .ended, .failed: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case .reconnecting(let attempt): "reconnecting (attempt \(attempt))"
        case .failed(let message): "failed: \(message)"
        default: name
        }
    }
}

/// One state change of one source.
public struct SourceStatus: Sendable, Hashable, CustomStringConvertible {
    public var stream: String
    public var state: SourceState
    /// The error behind a `stalled`, `reconnecting` or `failed` state, in GStreamer's words
    /// where it has them, with credentials masked.
    public var error: String?
    /// For `reconnecting`: seconds until the next attempt.
    public var retryIn: Double?
    public var time: Date

    public init(stream: String, state: SourceState, error: String? = nil, retryIn: Double? = nil, time: Date = Date()) {
        self.stream = stream
        self.state = state
        self.error = error
        self.retryIn = retryIn
        self.time = time
    }

    public var description: String {
        var text = "\(stream): \(state)"
        if let retryIn { text += " in \(String(format: "%.1f", retryIn)) s" }
        switch (state, error) {
        case (.failed, _), (_, nil): break
        case (_, let error?): text += " (\(error))"
        }
        return text
    }
}
