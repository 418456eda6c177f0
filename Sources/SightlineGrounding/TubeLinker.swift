import Foundation
import SightlineCore

/// Links each query's per-frame instances into tubes across frames and windows, and tells
/// their lives as match events.
///
/// One linker serves one stream, so track numbers are unique within the stream. Per frame,
/// each of a query's tubes is matched to at most one instance, greedily by best match
/// first: a mask overlap (IoU with the tube's last mask moved by its predicted motion) beats
/// any box-centre proximity. Instances below `continueScore` are ignored; an unmatched
/// instance at or above `startScore` begins a tentative tube, reported with `match.start`
/// once it spans `minDuration` (a query's own threshold and minimum duration take the
/// place of those, see `GroundingQuery`). A tube unmatched for longer than `gracePeriod` ends
/// (`match.end`, or silently if it was never reported). Presentation times that go backwards
/// (a file that loops, a source that reconnects) end every tube first. Every `match.end`
/// names its ``MatchEndReason``; a tube is dropped as its end is told, so that however many
/// ways reach for it at once, a tube ends once.
public struct TubeLinker: Sendable {
    public let stream: String
    public let parameters: TubeParameters

    private var tubes: [Tube] = []
    private var nextTrack = 1
    private var lastPts: Double?
    private var lastTime = Date(timeIntervalSince1970: 0)

    public init(stream: String, parameters: TubeParameters = TubeParameters()) throws {
        try parameters.validate()
        self.stream = stream
        self.parameters = parameters
    }

    /// Tubes alive now (tentative or reported), for inspection.
    public var activeTracks: [(query: String, track: Int?)] { tubes.map { ($0.query.id, $0.track) } }

    /// Takes one frame's instances, per query (a query left out had none), and returns the
    /// starts and ends it decides. Frames of reported tubes wait for ``flush()``.
    public mutating func observe(pts: Double, time: Date,
                                 detections: [(query: GroundingQuery, instances: [GroundedInstance])]) -> [MatchEvent] {
        var events: [MatchEvent] = []
        if let last = lastPts, pts < last {
            events += finish(reason: .streamRestarted)
        }
        lastPts = pts
        lastTime = time
        var seen = Set<String>()
        for (query, instances) in detections where seen.insert(query.id).inserted {
            link(query: query, instances: instances, pts: pts)
        }
        // Ends first (in track order), then starts.
        var kept: [Tube] = []
        for tube in tubes {
            if pts - tube.lastSeenPts > parameters.gracePeriod {
                if tube.track != nil { events.append(endEvent(tube, reason: .notSeen)) }
            } else {
                kept.append(tube)
            }
        }
        tubes = kept
        for i in tubes.indices
        where tubes[i].track == nil && tubes[i].lastSeenPts - tubes[i].firstPts >= parameters.minDuration(for: tubes[i].query) {
            tubes[i].track = nextTrack
            nextTrack += 1
            events.append(event(.start, tubes[i]))
            tubes[i].pending.removeAll()
            tubes[i].lastEventPts = pts
        }
        return events
    }

    /// A `match.update` for every reported tube with frames not yet sent, once
    /// `updateInterval` has passed since its last event (its frames wait until then).
    public mutating func flush() -> [MatchEvent] {
        var events: [MatchEvent] = []
        let now = lastPts ?? 0
        for i in tubes.indices where tubes[i].track != nil && !tubes[i].pending.isEmpty
            // (A microsecond of slack: presentation times are sums of frame durations.)
            && now - tubes[i].lastEventPts >= parameters.updateInterval - 1e-6 {
            events.append(event(.update, tubes[i]))
            tubes[i].pending.removeAll()
            tubes[i].lastEventPts = now
        }
        return events
    }

    /// Ends every tube (end of stream, or whatever `reason` says): `match.end` for reported
    /// ones with their last frames.
    public mutating func finish(reason: MatchEndReason = .streamEnded) -> [MatchEvent] {
        let events = tubes.filter { $0.track != nil }.map { endEvent($0, reason: reason) }
        tubes.removeAll()
        return events
    }

    /// Ends the tubes of a query that was removed (or changed: `reason`).
    public mutating func remove(query id: String, reason: MatchEndReason = .queryRemoved) -> [MatchEvent] {
        let events = tubes.filter { $0.query.id == id && $0.track != nil }.map { endEvent($0, reason: reason) }
        tubes.removeAll { $0.query.id == id }
        return events
    }

    private func event(_ kind: MatchEvent.Kind, _ tube: Tube, span: MatchSpan? = nil, reason: MatchEndReason? = nil) -> MatchEvent {
        MatchEvent(kind: kind, stream: stream, query: tube.query.id, text: tube.query.text, track: tube.track ?? 0,
                   time: lastTime, pts: lastPts ?? tube.lastSeenPts, frames: tube.pending, span: span, reason: reason)
    }

    private func endEvent(_ tube: Tube, reason: MatchEndReason) -> MatchEvent {
        event(.end, tube, span: MatchSpan(startPts: tube.firstPts, endPts: tube.lastSeenPts), reason: reason)
    }

    private mutating func link(query: GroundingQuery, instances: [GroundedInstance], pts: Double) {
        let scores = parameters.scores(for: query)
        let candidates = instances.indices.filter { instances[$0].score >= scores.continue }
        let mine = tubes.indices.filter { tubes[$0].query.id == query.id }
        struct Pair { var tube: Int; var instance: Int; var quality: Double }
        var pairs: [Pair] = []
        for t in mine {
            let tube = tubes[t]
            let (dx, dy) = tube.predictedShift(at: pts)
            let diagonal = Double(tube.reference.frameWidth * tube.reference.frameWidth
                + tube.reference.frameHeight * tube.reference.frameHeight).squareRoot()
            let reach = parameters.maxCenterDistance * diagonal
            for i in candidates {
                let mask = instances[i].mask
                let iou = mask.iou(with: tube.reference, dx: Int(dx.rounded()), dy: Int(dy.rounded()))
                if iou >= parameters.minIoU {
                    pairs.append(Pair(tube: t, instance: i, quality: 1 + iou))
                    continue
                }
                let px = tube.referenceCenter.x + dx, py = tube.referenceCenter.y + dy
                let distance = ((mask.box.centerX - px) * (mask.box.centerX - px) + (mask.box.centerY - py) * (mask.box.centerY - py)).squareRoot()
                if distance <= reach {
                    pairs.append(Pair(tube: t, instance: i, quality: reach > 0 ? 1 - distance / reach : 1))
                }
            }
        }
        pairs.sort { $0.quality != $1.quality ? $0.quality > $1.quality : ($0.tube, $0.instance) < ($1.tube, $1.instance) }
        var tubeTaken = Set<Int>(), instanceTaken = Set<Int>()
        for pair in pairs where !tubeTaken.contains(pair.tube) && !instanceTaken.contains(pair.instance) {
            tubeTaken.insert(pair.tube)
            instanceTaken.insert(pair.instance)
            tubes[pair.tube].extend(with: instances[pair.instance], pts: pts, parameters: parameters)
        }
        for i in candidates where !instanceTaken.contains(i) && instances[i].score >= scores.start {
            tubes.append(Tube(query: query, instance: instances[i], pts: pts))
        }
    }
}

/// One tube's state: where it was last seen clearly and how it moves.
private struct Tube: Sendable {
    var query: GroundingQuery
    /// Assigned when the tube is reported.
    var track: Int?
    var firstPts: Double
    var lastSeenPts: Double
    /// The last mask whose area agreed with the tube's, and when it was seen.
    var reference: RegionMask
    var referencePts: Double
    var referenceCenter: (x: Double, y: Double)
    /// Pixels per second; nil until the tube has moved once.
    var velocity: (x: Double, y: Double)?
    /// Since when matches have disagreed in area with the reference (a merge or a split).
    var areaChangeSince: Double?
    var pending: [MatchFrame]
    /// When the tube's last event (start or update) was told.
    var lastEventPts = -Double.infinity

    init(query: GroundingQuery, instance: GroundedInstance, pts: Double) {
        self.query = query
        firstPts = pts
        lastSeenPts = pts
        reference = instance.mask
        referencePts = pts
        referenceCenter = (instance.box.centerX, instance.box.centerY)
        pending = [Self.frame(instance, pts: pts)]
    }

    func predictedShift(at pts: Double) -> (Double, Double) {
        guard let v = velocity else { return (0, 0) }
        let dt = pts - referencePts
        return (v.x * dt, v.y * dt)
    }

    mutating func extend(with instance: GroundedInstance, pts: Double, parameters: TubeParameters) {
        lastSeenPts = pts
        pending.append(Self.frame(instance, pts: pts))
        let ratio = Double(max(instance.area, 1)) / Double(max(reference.area, 1))
        if ratio > parameters.areaChangeLimit || ratio < 1 / parameters.areaChangeLimit {
            let since = areaChangeSince ?? pts
            areaChangeSince = since
            guard pts - since > parameters.gracePeriod else { return }
        }
        areaChangeSince = nil
        let center = (x: instance.box.centerX, y: instance.box.centerY)
        let dt = pts - referencePts
        if dt > 0 {
            let measured = (x: (center.x - referenceCenter.x) / dt, y: (center.y - referenceCenter.y) / dt)
            if let v = velocity {
                velocity = (0.5 * v.x + 0.5 * measured.x, 0.5 * v.y + 0.5 * measured.y)
            } else {
                velocity = measured
            }
        }
        reference = instance.mask
        referencePts = pts
        referenceCenter = center
    }

    static func frame(_ instance: GroundedInstance, pts: Double) -> MatchFrame {
        MatchFrame(pts: pts, score: (Double(instance.score) * 10_000).rounded() / 10_000,
                   box: instance.box, point: instance.point,
                   frameSize: PixelSize(width: instance.mask.frameWidth, height: instance.mask.frameHeight), mask: instance.mask.rle(),
                   carried: instance.carried)
    }
}
