import Foundation
import Logging
import SightlineCore
import SightlineGrounding
import SightlineModel
import SightlinePipeline
import SightlineProtocol

/// The scheduler's grounder over the real engine: one encoder call per batch, whatever
/// streams its frames come from, then one `StreamGrounder` per stream, all sharing one loaded
/// `CLIPModel`.
///
/// Each query's own threshold and minimum duration govern its masks and tubes (see
/// `GroundingQuery`); a query whose values change ends its open tubes and starts afresh.
///
/// A frame in which the stream's change detector saw nothing change is not encoded when
/// `carry` allows it: it takes the patch embeddings of the stream's last encoded frame, so its
/// masks, scores and tubes are what that frame gave, and its frame records say `carried`. A
/// stream is encoded again at its first frame, after a change of frame size, whenever its
/// detector sees a change, and at least every `carry.refresh` seconds, so that what appears
/// or goes without much motion is seen within that time.
public final class PipelineGrounder: BatchGrounder {
    /// `motion.carry` and `motion.refresh`.
    public struct Carry: Sendable, Equatable {
        public var enabled: Bool
        public var refresh: Double
        public init(enabled: Bool = true, refresh: Double = 10) {
            self.enabled = enabled
            self.refresh = refresh
        }
    }

    let model: CLIPModel
    let base: GroundingSettings
    let carry: Carry
    let logger: Logger
    private var grounders: [String: (grounder: StreamGrounder, queries: [GroundingQuery])] = [:]
    /// Every stream's grounder shares the model and the settings, so the text embeddings too.
    private let texts = TextEmbeddingCache()
    /// The ids of every standing query, as of the last `update(queries:)`; nil until then.
    private var defined: Set<String>?
    /// Each stream's last encoded frame: its embeddings, size and capture time.
    private var references: [String: (dense: DenseEmbeddings, width: Int, height: Int, time: Date)] = [:]
    public private(set) var carriedInLastBatch: [String: Int] = [:]

    public init(model: CLIPModel, settings: GroundingSettings = GroundingSettings(), carry: Carry = Carry(), logger: Logger) throws {
        try settings.validate()
        self.model = model
        self.base = settings
        self.carry = carry
        self.logger = logger
    }

    /// The grounder `configuration` asks for: its `motion.*` and `matches.*` settings.
    public convenience init(model: CLIPModel, configuration: DaemonConfiguration, logger: Logger) throws {
        var settings = GroundingSettings()
        settings.tubes.updateInterval = configuration.updateInterval
        try self.init(model: model, settings: settings, carry: Carry(enabled: configuration.motionCarry, refresh: configuration.motionRefresh),
                      logger: logger)
    }

    public func ground(_ frames: [Frame], queries: [[QueryRecord]]) throws -> [MatchEvent] {
        // Frames of one stream go to its grounder together and in order (gathered below).
        var order: [String] = []
        var queriesByStream: [String: [QueryRecord]] = [:]
        for (frame, q) in zip(frames, queries) where queriesByStream[frame.stream] == nil {
            order.append(frame.stream)
            queriesByStream[frame.stream] = q
        }
        var events: [MatchEvent] = []
        // Which frames carry the result of their stream's last encoded one (it may be earlier
        // in this batch); the others are encoded in one call for every stream in the batch.
        let carried = costs(of: frames).map { $0 == .carried }
        let encodedIndices = frames.indices.filter { !carried[$0] }
        let encoded = encodedIndices.isEmpty ? [] : try model.encodeDense(encodedIndices.map { frames[$0].image }, shortSide: base.shortSide)
        var denseByStream: [String: [DenseEmbeddings]] = [:]
        var framesByStream: [String: [Frame]] = [:]
        var next = 0
        carriedInLastBatch = [:]
        for (i, var frame) in frames.enumerated() {
            let d: DenseEmbeddings
            if carried[i] {
                // Set in the loop above only where a reference exists.
                d = references[frame.stream]!.dense
                frame.carried = true
                carriedInLastBatch[frame.stream, default: 0] += 1
            } else {
                d = encoded[next]
                next += 1
                references[frame.stream] = (d, frame.image.width, frame.image.height, frame.captureTime)
            }
            denseByStream[frame.stream, default: []].append(d)
            framesByStream[frame.stream, default: []].append(frame)
        }
        for stream in order {
            let grounder = try grounderFor(stream: stream, queries: queriesByStream[stream]!, events: &events)
            events += try grounder.process(framesByStream[stream]!, dense: denseByStream[stream]!).events
        }
        return events
    }

    public func costs(of frames: [Frame]) -> [FrameCost] {
        var reference: [String: (width: Int, height: Int, time: Date)] = references.mapValues { ($0.width, $0.height, $0.time) }
        return frames.map { frame in
            guard let r = reference[frame.stream], r.width == frame.image.width, r.height == frame.image.height else {
                // A stream's first frame, or a new frame size: nothing to carry.
                reference[frame.stream] = (frame.image.width, frame.image.height, frame.captureTime)
                return .changed
            }
            if carry.enabled, !frame.changed, frame.captureTime.timeIntervalSince(r.time) < carry.refresh { return .carried }
            reference[frame.stream] = (frame.image.width, frame.image.height, frame.captureTime)
            return frame.changed || !carry.enabled ? .changed : .refresh
        }
    }

    public func update(queries: [QueryRecord]) -> [MatchEvent] {
        defined = Set(queries.map(\.id))
        var events: [MatchEvent] = []
        for stream in grounders.keys.sorted() {
            do {
                _ = try grounderFor(stream: stream, queries: queries.filter { $0.watches(stream: stream) }, events: &events)
            } catch {
                // The next frame of the stream tries again (and skips its batch if it fails too).
                logger.error("cannot set the queries of a stream", metadata: ["stream": "\(stream)", "error": "\(error)"])
            }
        }
        return events
    }

    public func finish(stream: String, reason: MatchEndReason) -> [MatchEvent] {
        grounders[stream]?.grounder.finish(reason: reason) ?? []
    }

    public func forget(stream: String) {
        grounders[stream] = nil
        references[stream] = nil
    }

    public var streams: [String] { grounders.keys.sorted() }

    private func grounderFor(stream: String, queries: [QueryRecord], events: inout [MatchEvent]) throws -> StreamGrounder {
        let wanted = queries.map(Self.groundingQuery)
        if let existing = grounders[stream] {
            if existing.queries != wanted {
                events += try existing.grounder.setQueries(wanted, defined: defined)
                grounders[stream]!.queries = wanted
            }
            return existing.grounder
        }
        let grounder = try StreamGrounder(stream: stream, model: model, settings: base, queries: wanted, texts: texts, logger: logger)
        grounders[stream] = (grounder, wanted)
        return grounder
    }

    /// A protocol threshold may be 0 or 1; masks need a value strictly between.
    static func groundingQuery(_ record: QueryRecord) -> GroundingQuery {
        GroundingQuery(id: record.id, text: record.text, threshold: clampedThreshold(record.threshold), minDuration: record.minDuration)
    }

    static func clampedThreshold(_ threshold: Double) -> Float {
        Float(min(0.99, max(0.01, threshold)))
    }
}
