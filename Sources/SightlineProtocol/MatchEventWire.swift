import Foundation
import SightlineCore
import SightlineGrounding

/// The one definition of a match event on the wire. The daemon's subscriber lines, the
/// `ground` operation's lines and `sightline ground`'s `events.jsonl` are all
/// `JSONWriter.line(event.json)`, and clients read them back with `MatchEvent(json:)`:
///
/// ```
/// {"event":"match.start","stream":"cam1","query":"q-3f2a","text":"a person riding a bike",
///  "track":12,"time":"2026-11-22T10:15:03.120Z","pts":12.48,
///  "frames":[{"pts":12.48,"score":0.81,"box":[x,y,w,h],"point":[x,y],"frame_size":[w,h],
///             "mask":{"size":[h,w],"counts":"<COCO compressed RLE>"}}],
///  "span":{"start_pts":12.48,"end_pts":15.02},"reason":"not_seen"}   (span, reason: only on match.end)
/// ```
///
/// Members are written in this order so that logs and files read the same everywhere.
/// Numbers follow `JSONWriter`: a non-finite one (grounding produces none) is written as
/// `null`, and read back as NaN, so an event is never dropped for a number it holds.
extension MatchEvent {
    public var json: JSONValue {
        var o: JSONObject = [
            "event": .string(kind.rawValue), "stream": .string(stream), "query": .string(query), "text": .string(text),
            "track": JSONValue(track), "time": .string(WireTime.format(time)), "pts": .double(pts),
            "frames": .array(frames.map(\.json)),
        ]
        if let span { o["span"] = ["start_pts": .double(span.startPts), "end_pts": .double(span.endPts)] }
        if let reason { o["reason"] = .string(reason.rawValue) }
        return .object(o)
    }

    /// Reads an event line's object, checking what the wire form promises (a known kind, a
    /// span exactly on `match.end`, well-formed boxes and masks). Members it does not know
    /// are ignored: later protocol versions may add some. A `reason` is optional (daemons
    /// before it had none) and taken as it is, known or not, but only on `match.end`.
    public init(json: JSONValue) throws(SightlineError) {
        let r = try WireReader(json, path: "event")
        let name = try r.string("event")
        guard let kind = Kind(rawValue: name) else { throw r.fail("event", "not a match event: \(name)") }
        let timeText = try r.string("time")
        guard let time = WireTime.parse(timeText) else {
            throw r.fail("time", "must be ISO 8601 UTC like 2026-11-22T10:15:03.120Z, got \(timeText)")
        }
        let frameValues = try r.array("frames")
        var frames: [MatchFrame] = []
        for (i, value) in frameValues.enumerated() { frames.append(try MatchFrame(json: value, path: "event.frames[\(i)]")) }
        var span: MatchSpan?
        if let value = r.optional("span") {
            let s = try WireReader(value, path: "event.span")
            span = MatchSpan(startPts: try s.number("start_pts"), endPts: try s.number("end_pts"))
        }
        switch (kind, span) {
        case (.end, nil): throw r.fail("span", "match.end needs a span")
        case (.start, .some), (.update, .some): throw r.fail("span", "only match.end carries a span")
        default: break
        }
        let reason = r.optional("reason") == nil ? nil : MatchEndReason(rawValue: try r.string("reason"))
        if reason != nil, kind != .end { throw r.fail("reason", "only match.end carries a reason") }
        self.init(kind: kind, stream: try r.string("stream"), query: try r.string("query"), text: try r.string("text"),
                  track: try r.int("track"), time: time, pts: try r.number("pts"), frames: frames, span: span, reason: reason)
    }
}

extension MatchFrame {
    public var json: JSONValue {
        var o: JSONObject = ["pts": .double(pts), "score": .double(score)]
        if let box { o["box"] = [JSONValue(box.x), JSONValue(box.y), JSONValue(box.width), JSONValue(box.height)] }
        if let point { o["point"] = [JSONValue(point.x), JSONValue(point.y)] }
        if let frameSize { o["frame_size"] = [JSONValue(frameSize.width), JSONValue(frameSize.height)] }
        if let mask { o["mask"] = ["size": [JSONValue(mask.height), JSONValue(mask.width)], "counts": .string(mask.compressed)] }
        // Only when true, so that a computed frame's line is as it always was.
        if carried { o["carried"] = .bool(true) }
        return .object(o)
    }

    init(json: JSONValue, path: String) throws(SightlineError) {
        let r = try WireReader(json, path: path)
        var frame = MatchFrame(pts: try r.number("pts"), score: try r.number("score"))
        if r.optional("box") != nil {
            let b = try r.ints("box", count: 4, shape: "[x, y, width, height]")
            guard b[2] >= 0, b[3] >= 0 else { throw r.fail("box", "width and height must not be negative") }
            frame.box = PixelBox(x: b[0], y: b[1], width: b[2], height: b[3])
        }
        if let carried = r.optional("carried") {
            guard case .bool(let value) = carried else { throw r.fail("carried", "must be true or false") }
            frame.carried = value
        }
        if r.optional("point") != nil {
            let p = try r.ints("point", count: 2, shape: "[x, y]")
            frame.point = PixelPoint(x: p[0], y: p[1])
        }
        if r.optional("frame_size") != nil {
            let s = try r.ints("frame_size", count: 2, shape: "[width, height]")
            guard s[0] > 0, s[1] > 0 else { throw r.fail("frame_size", "must be positive") }
            frame.frameSize = PixelSize(width: s[0], height: s[1])
        }
        if let value = r.optional("mask") {
            let m = try WireReader(value, path: path + ".mask")
            let size = try m.ints("size", count: 2, shape: "[height, width]")
            let counts = try m.string("counts")
            do {
                frame.mask = try RLEMask(height: size[0], width: size[1], compressed: counts)
            } catch let error as SightlineError {
                throw m.fail("counts", error.message)
            } catch {
                throw m.fail("counts", "\(error)")
            }
        }
        self = frame
    }
}

/// Reads the members of one event object, naming the field in every error. Unlike
/// `FieldReader` (for requests) it ignores unknown members and reads `null` in a number as
/// NaN, the writer's spelling of a non-finite number.
private struct WireReader {
    let path: String
    let object: JSONObject

    init(_ value: JSONValue, path: String) throws(SightlineError) {
        guard let object = value.objectValue else { throw SightlineError(.invalidRequest, "\(path): expected object, got \(value.typeName)") }
        self.path = path
        self.object = object
    }

    func fail(_ key: String, _ message: String) -> SightlineError {
        SightlineError(.invalidRequest, "\(path).\(key): \(message)")
    }

    func optional(_ key: String) -> JSONValue? {
        guard let value = object[key], value != .null else { return nil }
        return value
    }

    func required(_ key: String) throws(SightlineError) -> JSONValue {
        guard let value = object[key] else { throw fail(key, "required") }
        return value
    }

    func string(_ key: String) throws(SightlineError) -> String {
        let value = try required(key)
        guard let s = value.stringValue else { throw fail(key, "expected string, got \(value.typeName)") }
        return s
    }

    func number(_ key: String) throws(SightlineError) -> Double {
        let value = try required(key)
        if value == .null { return .nan }
        guard let d = value.doubleValue else { throw fail(key, "expected number, got \(value.typeName)") }
        return d
    }

    func int(_ key: String) throws(SightlineError) -> Int {
        let value = try required(key)
        guard let i = value.intValue else { throw fail(key, "expected integer, got \(value.typeName)") }
        return i
    }

    func array(_ key: String) throws(SightlineError) -> [JSONValue] {
        let value = try required(key)
        guard let a = value.arrayValue else { throw fail(key, "expected array, got \(value.typeName)") }
        return a
    }

    func ints(_ key: String, count: Int, shape: String) throws(SightlineError) -> [Int] {
        let values = try array(key)
        let ints = values.compactMap(\.intValue)
        guard values.count == count, ints.count == count else { throw fail(key, "must be \(shape) in integers") }
        return ints
    }
}
