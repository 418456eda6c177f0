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
/// frames of the tube not yet reported, oldest first. A `match.end` also carries its tube's
/// `span` and, from this daemon always, the `reason` it ended. `Docs/grounding.md` is the
/// reference.
///
/// The wire form is defined once, in SightlineProtocol (`MatchEvent.json`,
/// `MatchEvent(json:)`), and written by its one `JSONWriter`.
public struct MatchEvent: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
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
    /// Only on `match.end`: why the tube ended. Optional on the wire, so that events of a
    /// daemon from before reasons existed still read.
    public var reason: MatchEndReason?

    public init(kind: Kind, stream: String, query: String, text: String, track: Int, time: Date, pts: Double,
                frames: [MatchFrame], span: MatchSpan? = nil, reason: MatchEndReason? = nil) {
        self.kind = kind
        self.stream = stream
        self.query = query
        self.text = text
        self.track = track
        self.time = time
        self.pts = pts
        self.frames = frames
        self.span = span
        self.reason = reason
    }

    /// The event as a subscriber that chose `detail` receives it.
    public func with(detail: MaskDetail) -> MatchEvent {
        var copy = self
        copy.frames = frames.map { $0.with(detail: detail) }
        return copy
    }
}

/// What a tube looked like in one frame. `box`, `point` and `mask` are in pixels of the
/// frame that was grounded, whose size is `frameSize` (a daemon scales a stream's frames to
/// its analysis size first); which of them are present depends on the subscriber's
/// ``MaskDetail``.
public struct MatchFrame: Sendable, Equatable {
    public var pts: Double
    /// Mean probability of the query over the mask's pixels, in 0...1.
    public var score: Double
    public var box: PixelBox?
    /// The most confident pixel of the mask.
    public var point: PixelPoint?
    /// Width and height of the frame `box`, `point` and `mask` are in.
    public var frameSize: PixelSize?
    public var mask: RLEMask?
    /// The frame was not encoded: nothing changed in it since the stream's last encoded
    /// frame, whose result it carries.
    public var carried: Bool

    public init(pts: Double, score: Double, box: PixelBox? = nil, point: PixelPoint? = nil, frameSize: PixelSize? = nil, mask: RLEMask? = nil,
                carried: Bool = false) {
        self.pts = pts
        self.score = score
        self.box = box
        self.point = point
        self.frameSize = frameSize
        self.mask = mask
        self.carried = carried
    }

    public func with(detail: MaskDetail) -> MatchFrame {
        switch detail {
        case .rle: return self
        case .box: return MatchFrame(pts: pts, score: score, box: box, point: point, frameSize: frameSize, carried: carried)
        case .none: return MatchFrame(pts: pts, score: score, carried: carried)
        }
    }
}

/// A tube's extent in stream time: the presentation times of its first and last frame.
public struct MatchSpan: Sendable, Equatable {
    public var startPts: Double
    public var endPts: Double

    public init(startPts: Double, endPts: Double) {
        self.startPts = startPts
        self.endPts = endPts
    }
}

/// How much geometry a subscriber receives with each frame of a match event.
///
/// - `rle`: everything: `pts`, `score`, `box`, `point`, `frame_size` and `mask`.
/// - `box`: drops `mask`; keeps `pts`, `score`, `box`, `point` and `frame_size`.
/// - `none`: drops `box`, `point`, `frame_size` and `mask`; frames keep only `pts` and `score`.
///
/// The event itself (kind, stream, query, text, track, time, pts, span, reason) is the same at
/// every level.
public enum MaskDetail: String, Sendable, Codable, CaseIterable {
    case rle
    case box
    case none
}
