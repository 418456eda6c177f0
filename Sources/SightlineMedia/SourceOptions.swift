import CGStreamer
import Foundation
import SightlineCore

/// How to read one video source. Every field but `uri` has a default, so a configuration
/// names only what it changes. `Docs/media.md` describes each one for camera users.
public struct SourceOptions: Sendable, Codable, Hashable {
    /// `rtsp://`, `rtsps://`, `file://`, `http(s)://` or anything else GStreamer's
    /// `uridecodebin` opens. An absolute path is taken as a file. Credentials go in the URI
    /// (`rtsp://user:password@camera/stream`); they are masked in every log line and status.
    public var uri: String
    /// Frames per second handed to Sightline (e.g. 2); `nil` keeps every decoded frame.
    /// Frames in between are dropped right after decoding, before any conversion or scaling.
    public var sampleRate: Double?
    /// Scale so that the shorter side has this many pixels, keeping the aspect ratio
    /// (never enlarging). Ignored when `width` and `height` are set.
    public var shortSide: Int?
    /// An exact output size; both or neither.
    public var width: Int?
    public var height: Int?
    /// Files: start again from the beginning at the end, instead of ending.
    public var loop: Bool
    /// Files: deliver at the file's own speed, as a camera would (the default), or as fast as
    /// decoding allows when false.
    public var realtime: Bool
    /// RTSP lower transport. TCP (interleaved) passes firewalls and loses nothing; UDP has
    /// less delay but loses packets on a busy network.
    public var rtspTransport: RTSPTransport
    /// RTSP jitter buffer, in seconds: how long packets wait to be reordered.
    public var latency: Double
    /// Seconds without a frame before a started source counts as stalled and is restarted.
    public var stallTimeout: Double
    /// Reconnect delays for live sources.
    public var reconnect: Backoff
    /// Frames held for a consumer that is behind; the oldest are dropped first.
    public var bufferedFrames: Int
    /// Decode key frames only: far less CPU, but frames come at most once per key-frame
    /// interval (often 1 to 4 s on cameras) whatever `sampleRate` says.
    public var keyframesOnly: Bool

    public enum RTSPTransport: String, Sendable, Codable, Hashable, CaseIterable {
        case tcp, udp
        /// UDP first, TCP when UDP gets nothing through.
        case auto
    }

    public init(
        uri: String,
        sampleRate: Double? = 2,
        shortSide: Int? = nil,
        width: Int? = nil,
        height: Int? = nil,
        loop: Bool = false,
        realtime: Bool = true,
        rtspTransport: RTSPTransport = .tcp,
        latency: Double = 0.2,
        stallTimeout: Double = 10,
        reconnect: Backoff? = nil,
        bufferedFrames: Int = 4,
        keyframesOnly: Bool = false
    ) {
        self.uri = uri
        self.sampleRate = sampleRate
        self.shortSide = shortSide
        self.width = width
        self.height = height
        self.loop = loop
        self.realtime = realtime
        self.rtspTransport = rtspTransport
        self.latency = latency
        self.stallTimeout = stallTimeout
        self.reconnect = reconnect ?? (try! Backoff())
        self.bufferedFrames = bufferedFrames
        self.keyframesOnly = keyframesOnly
    }

    private enum CodingKeys: String, CodingKey {
        case uri, sampleRate, shortSide, width, height, loop, realtime, rtspTransport, latency, stallTimeout, reconnect,
             bufferedFrames, keyframesOnly
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = SourceOptions(uri: try c.decode(String.self, forKey: .uri))
        self = defaults
        sampleRate = try c.decodeIfPresent(Double.self, forKey: .sampleRate) ?? defaults.sampleRate
        shortSide = try c.decodeIfPresent(Int.self, forKey: .shortSide)
        width = try c.decodeIfPresent(Int.self, forKey: .width)
        height = try c.decodeIfPresent(Int.self, forKey: .height)
        loop = try c.decodeIfPresent(Bool.self, forKey: .loop) ?? defaults.loop
        realtime = try c.decodeIfPresent(Bool.self, forKey: .realtime) ?? defaults.realtime
        rtspTransport = try c.decodeIfPresent(RTSPTransport.self, forKey: .rtspTransport) ?? defaults.rtspTransport
        latency = try c.decodeIfPresent(Double.self, forKey: .latency) ?? defaults.latency
        stallTimeout = try c.decodeIfPresent(Double.self, forKey: .stallTimeout) ?? defaults.stallTimeout
        reconnect = try c.decodeIfPresent(Backoff.self, forKey: .reconnect) ?? defaults.reconnect
        bufferedFrames = try c.decodeIfPresent(Int.self, forKey: .bufferedFrames) ?? defaults.bufferedFrames
        keyframesOnly = try c.decodeIfPresent(Bool.self, forKey: .keyframesOnly) ?? defaults.keyframesOnly
    }

    /// The URI's scheme, lowercased ("file" for an absolute path).
    public var scheme: String {
        if uri.hasPrefix("/") { return "file" }
        guard let colon = uri.firstIndex(of: ":") else { return "" }
        return uri[..<colon].lowercased()
    }

    /// Every source but a file is live (cameras, network streams, HTTP): it reconnects after
    /// an error or an end. A file ends (or loops) and fails for good on an error.
    public var isLive: Bool { scheme != "file" }

    /// The URI with credentials masked, for logs and statuses.
    public var maskedURI: String { maskingCredentials(uri) }

    /// The URI GStreamer is given: an absolute path becomes a `file://` URI.
    var resolvedURI: String {
        guard uri.hasPrefix("/") else { return uri }
        GStreamer.ensureInitialized()
        guard let raw = gst_filename_to_uri(uri, nil) else { return "file://" + uri }
        defer { g_free(raw) }
        return String(cString: raw)
    }

    /// Checks every field; the error names the first one that is wrong.
    public func validate() throws {
        func invalid(_ message: String, _ field: String, _ value: Any?) -> SightlineError {
            var context = ["uri": maskedURI]
            context[field] = value.map { "\($0)" } ?? "nil"
            return SightlineError(.invalidArgument, message, context: context)
        }
        guard !scheme.isEmpty, scheme.allSatisfy({ $0.isLetter || $0.isNumber || "+-.".contains($0) }) else {
            throw invalid("the URI has no scheme (expected rtsp://, file://, an absolute path, ...)", "uri", maskedURI)
        }
        if let sampleRate, !(sampleRate > 0 && sampleRate.isFinite) { throw invalid("sampleRate must be positive", "sampleRate", sampleRate) }
        if let shortSide, shortSide < 2 { throw invalid("shortSide must be at least 2 pixels", "shortSide", shortSide) }
        if (width == nil) != (height == nil) { throw invalid("set both width and height, or neither", "width", width) }
        if let width, let height, width < 2 || height < 2 { throw invalid("width and height must be at least 2 pixels", "size", "\(width)x\(height)") }
        guard latency >= 0, latency.isFinite else { throw invalid("latency must be zero or more seconds", "latency", latency) }
        guard stallTimeout > 0, stallTimeout.isFinite else { throw invalid("stallTimeout must be positive", "stallTimeout", stallTimeout) }
        guard bufferedFrames >= 1 else { throw invalid("bufferedFrames must be at least 1", "bufferedFrames", bufferedFrames) }
        _ = try Backoff(initial: reconnect.initial, maximum: reconnect.maximum, resetAfter: reconnect.resetAfter)
    }
}
