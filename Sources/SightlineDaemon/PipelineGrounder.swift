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
/// A stream's grounding uses the lowest threshold and the shortest minimum duration of the
/// queries that watch it (the grounder's mask and tube parameters are per stream); when those
/// change, the stream's grounder is rebuilt and its open tubes end.
public final class PipelineGrounder: BatchGrounder {
    let model: CLIPModel
    let base: GroundingSettings
    let logger: Logger
    private var grounders: [String: (grounder: StreamGrounder, key: SettingsKey, queries: [GroundingQuery])] = [:]

    struct SettingsKey: Equatable {
        var threshold: Double
        var minDuration: Double
    }

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

    public func finish(stream: String) -> [MatchEvent] {
        grounders[stream]?.grounder.finish() ?? []
    }

    public func forget(stream: String) {
        grounders[stream] = nil
    }

    private func grounderFor(stream: String, queries: [QueryRecord], events: inout [MatchEvent]) throws -> StreamGrounder {
        let wanted = queries.map { GroundingQuery(id: $0.id, text: $0.text) }
        let key = SettingsKey(threshold: queries.map(\.threshold).min() ?? QuerySpec.defaultThreshold,
                              minDuration: queries.map(\.minDuration).min() ?? 0)
        if let existing = grounders[stream], existing.key == key {
            if existing.queries != wanted {
                events += try existing.grounder.setQueries(wanted)
                grounders[stream]!.queries = wanted
            }
            return existing.grounder
        }
        if let existing = grounders[stream] { events += existing.grounder.finish() }
        var settings = base
        let threshold = Float(min(0.99, max(0.01, key.threshold)))
        settings.masks.threshold = threshold
        settings.tubes.continueScore = threshold
        settings.tubes.startScore = max(threshold, min(1, base.tubes.startScore - base.tubes.continueScore + threshold))
        settings.tubes.minDuration = key.minDuration
        let grounder = try StreamGrounder(stream: stream, model: model, settings: settings, queries: wanted, logger: logger)
        grounders[stream] = (grounder, key, wanted)
        return grounder
    }
}
