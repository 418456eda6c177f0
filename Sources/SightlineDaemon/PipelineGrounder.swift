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
public final class PipelineGrounder: BatchGrounder {
    let model: CLIPModel
    let base: GroundingSettings
    let logger: Logger
    private var grounders: [String: (grounder: StreamGrounder, queries: [GroundingQuery])] = [:]
    /// The ids of every standing query, as of the last `update(queries:)`; nil until then.
    private var defined: Set<String>?

    public init(model: CLIPModel, settings: GroundingSettings = GroundingSettings(), logger: Logger) throws {
        try settings.validate()
        self.model = model
        self.base = settings
        self.logger = logger
    }

    public func ground(_ frames: [Frame], queries: [[QueryRecord]]) throws -> [MatchEvent] {
        // Frames of one stream go to its grounder together and in order.
        var order: [String] = []
        var byStream: [String: (frames: [Frame], queries: [QueryRecord])] = [:]
        for (frame, q) in zip(frames, queries) {
            if byStream[frame.stream] == nil {
                order.append(frame.stream)
                byStream[frame.stream] = ([], q)
            }
            byStream[frame.stream]!.frames.append(frame)
        }
        var events: [MatchEvent] = []
        // One encoder call for the frames of every stream in the batch; each stream's grounder
        // then takes its own frames' patch embeddings.
        let dense = try model.encodeDense(frames.map(\.image), shortSide: base.shortSide)
        var denseByStream: [String: [DenseEmbeddings]] = [:]
        for (frame, d) in zip(frames, dense) { denseByStream[frame.stream, default: []].append(d) }
        for stream in order {
            let (streamFrames, streamQueries) = byStream[stream]!
            let grounder = try grounderFor(stream: stream, queries: streamQueries, events: &events)
            events += try grounder.process(streamFrames, dense: denseByStream[stream]!).events
        }
        return events
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
        let grounder = try StreamGrounder(stream: stream, model: model, settings: base, queries: wanted, logger: logger)
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
