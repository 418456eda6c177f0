import Foundation
import SightlineCore

/// One event of a tube's life, as subscribers receive it: `match.start` when a tube is
/// confirmed, `match.update` with the frames seen since, `match.end` with the tube's span.
///
/// ```
/// {"event":"match.start","stream":"cam1","query":"q-3f2a","text":"a person riding a bike",
///  "track":12,"time":"2026-11-22T10:15:03.120Z","pts":12.48,
///  "frames":[{"pts":12.48,"score":0.81,"box":[x,y,w,h],"point":[x,y],"frame_size":[w,h],
///             "mask":{"size":[h,w],"counts":"<COCO compressed RLE>"}}]}
/// ```
///
/// `pts` and `time` belong to the newest frame processed when the event was decided (the
/// stream's presentation time in seconds and that frame's capture time); `frames` are the
/// frames of the tube not yet reported, oldest first. `Docs/grounding.md` is the reference.
public struct MatchEvent: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case start = "match.start"
        case update = "match.update"
        case end = "match.end"
    }

    public var kind: Kind
    public var stream: String
    /// The query's id.
    public var query: String
    /// The query's text, so that a subscriber need not look it up.
    public var text: String
    /// The tube's number, unique within the stream.
    public var track: Int
    /// Capture time of the newest frame processed; on the wire ISO 8601 UTC with milliseconds.
    public var time: Date
    public var pts: Double
    public var frames: [MatchFrame]
    /// Only on `match.end`: the first and last frame of the tube.
    public var span: MatchSpan?

    public init(kind: Kind, stream: String, query: String, text: String, track: Int, time: Date, pts: Double,
                frames: [MatchFrame], span: MatchSpan? = nil) {
        self.kind = kind
        self.stream = stream
        self.query = query
        self.text = text
        self.track = track
        self.time = time
        self.pts = pts
        self.frames = frames
        self.span = span
    }

    enum CodingKeys: String, CodingKey {
        case kind = "event", stream, query, text, track, time, pts, frames, span
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let name = try c.decode(String.self, forKey: .kind)
        guard let kind = Kind(rawValue: name) else {
            throw DecodingError.dataCorruptedError(forKey: .kind, in: c, debugDescription: "not a match event: \(name)")
        }
        self.kind = kind
        stream = try c.decode(String.self, forKey: .stream)
        query = try c.decode(String.self, forKey: .query)
        text = try c.decode(String.self, forKey: .text)
        track = try c.decode(Int.self, forKey: .track)
        let timeText = try c.decode(String.self, forKey: .time)
        guard let time = WireTime.parse(timeText) else {
            throw DecodingError.dataCorruptedError(forKey: .time, in: c,
                                                   debugDescription: "time must be ISO 8601 UTC like 2026-11-22T10:15:03.120Z, got \(timeText)")
        }
        self.time = time
        pts = try c.decode(Double.self, forKey: .pts)
        frames = try c.decode([MatchFrame].self, forKey: .frames)
        span = try c.decodeIfPresent(MatchSpan.self, forKey: .span)
        switch (kind, span) {
        case (.end, nil):
            throw DecodingError.dataCorruptedError(forKey: .span, in: c, debugDescription: "match.end needs a span")
        case (.start, .some), (.update, .some):
            throw DecodingError.dataCorruptedError(forKey: .span, in: c, debugDescription: "only match.end carries a span")
        default:
            break
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind.rawValue, forKey: .kind)
        try c.encode(stream, forKey: .stream)
        try c.encode(query, forKey: .query)
        try c.encode(text, forKey: .text)
        try c.encode(track, forKey: .track)
        try c.encode(WireTime.format(time), forKey: .time)
        try c.encode(pts, forKey: .pts)
        try c.encode(frames, forKey: .frames)
        try c.encodeIfPresent(span, forKey: .span)
    }

    /// The event as a subscriber that chose `detail` receives it.
    public func with(detail: MaskDetail) -> MatchEvent {
        var copy = self
        copy.frames = frames.map { $0.with(detail: detail) }
        return copy
    }

    /// The event as one JSON Lines line (compact, no trailing newline), keys in the order of
    /// the schema above so that logs and `events.jsonl` read the same everywhere. It decodes
    /// with the `Codable` conformance to an equal event.
    public func jsonLine() throws -> String {
        var w = JSONLineWriter()
        w.raw("{\"event\":"); w.string(kind.rawValue)
        w.raw(",\"stream\":"); w.string(stream)
        w.raw(",\"query\":"); w.string(query)
        w.raw(",\"text\":"); w.string(text)
        w.raw(",\"track\":"); w.raw(String(track))
        w.raw(",\"time\":"); w.string(WireTime.format(time))
        w.raw(",\"pts\":"); try w.number(pts, "pts")
        w.raw(",\"frames\":[")
        for (i, frame) in frames.enumerated() {
            if i > 0 { w.raw(",") }
            w.raw("{\"pts\":"); try w.number(frame.pts, "frames.pts")
            w.raw(",\"score\":"); try w.number(frame.score, "frames.score")
            if let b = frame.box { w.raw(",\"box\":[\(b.x),\(b.y),\(b.width),\(b.height)]") }
            if let p = frame.point { w.raw(",\"point\":[\(p.x),\(p.y)]") }
            if let f = frame.frameSize { w.raw(",\"frame_size\":[\(f.width),\(f.height)]") }
            if let m = frame.mask {
                w.raw(",\"mask\":{\"size\":[\(m.height),\(m.width)],\"counts\":")
                w.string(m.compressed)
                w.raw("}")
            }
            w.raw("}")
        }
        w.raw("]")
        if let span {
            w.raw(",\"span\":{\"start_pts\":"); try w.number(span.startPts, "span.start_pts")
            w.raw(",\"end_pts\":"); try w.number(span.endPts, "span.end_pts")
            w.raw("}")
        }
        w.raw("}")
        return w.text
    }
}

/// What a tube looked like in one frame. `box`, `point` and `mask` are in pixels of the
/// frame that was grounded, whose size is `frameSize` (a daemon scales a stream's frames to
/// its analysis size first); which of them are present depends on the subscriber's
/// ``MaskDetail``.
public struct MatchFrame: Sendable, Equatable, Codable {
    public var pts: Double
    /// Mean probability of the query over the mask's pixels, in 0...1.
    public var score: Double
    public var box: PixelBox?
    /// The most confident pixel of the mask.
    public var point: PixelPoint?
    /// Width and height of the frame `box`, `point` and `mask` are in.
    public var frameSize: PixelSize?
    public var mask: RLEMask?

    public init(pts: Double, score: Double, box: PixelBox? = nil, point: PixelPoint? = nil, frameSize: PixelSize? = nil, mask: RLEMask? = nil) {
        self.pts = pts
        self.score = score
        self.box = box
        self.point = point
        self.frameSize = frameSize
        self.mask = mask
    }

    enum CodingKeys: String, CodingKey {
        case pts, score, box, point, frameSize = "frame_size", mask
    }

    public func with(detail: MaskDetail) -> MatchFrame {
        switch detail {
        case .rle: return self
        case .box: return MatchFrame(pts: pts, score: score, box: box, point: point, frameSize: frameSize)
        case .none: return MatchFrame(pts: pts, score: score)
        }
    }
}

/// A tube's extent in stream time: the presentation times of its first and last frame.
public struct MatchSpan: Sendable, Equatable, Codable {
    public var startPts: Double
    public var endPts: Double

    public init(startPts: Double, endPts: Double) {
        self.startPts = startPts
        self.endPts = endPts
    }

    enum CodingKeys: String, CodingKey {
        case startPts = "start_pts"
        case endPts = "end_pts"
    }
}

/// How much geometry a subscriber receives with each frame of a match event.
///
/// - `rle`: everything: `pts`, `score`, `box`, `point`, `frame_size` and `mask`.
/// - `box`: drops `mask`; keeps `pts`, `score`, `box`, `point` and `frame_size`.
/// - `none`: drops `box`, `point`, `frame_size` and `mask`; frames keep only `pts` and `score`.
///
/// The event itself (kind, stream, query, text, track, time, pts, span) is the same at
/// every level.
public enum MaskDetail: String, Sendable, Codable, CaseIterable {
    case rle
    case box
    case none
}
