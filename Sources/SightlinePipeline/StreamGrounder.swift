import Foundation
import Logging
import SightlineCore
import SightlineGrounding
import SightlineModel
import Synchronization

/// What grounding one batch of frames produced.
public struct GroundingBatch: Sendable {
    public var events: [MatchEvent]
    /// Per frame of the batch, per query (in query order), the instances found.
    public var instances: [[[GroundedInstance]]]
    /// Seconds in the image encoder, and in everything after it (similarities,
    /// probabilities, smoothing, masks, tubes).
    public var encoderSeconds: Double
    public var groundingSeconds: Double
}

/// Grounds the standing queries of one stream, batch after batch of frames.
///
/// Query text embeddings are computed once (a prompt ensemble per text, kept while the text
/// is in use); each frame goes through the dense encoder once; one matrix product per frame
/// gives every query's and background word's similarity to every patch; the rest is
/// `SightlineGrounding`. Smoothing through time sees the batch and the frames just before
/// it. Calls block (the engine runs in them): make them from a thread of your own. Calls
/// from several threads are safe and run one after another.
public final class StreamGrounder: Sendable {
    public let stream: String
    public let model: CLIPModel
    public let settings: GroundingSettings

    private let logger: Logger
    private let extractor: MaskExtractor
    private let probabilities: QueryProbabilities
    private let state: Mutex<State>
    private let texts: TextEmbeddingCache

    struct State {
        var queries: [GroundingQuery] = []
        var linker: TubeLinker
        var classes: EmbeddingMatrix?
        /// Each query's class (its text's row in `classes`), and how many rows are query texts.
        var queryClass: [Int] = []
        var distinctQueries = 0
        /// Maps of the last frames processed, newest last, for smoothing across batches.
        var context: [[ProbabilityMap]] = []
    }

    public init(stream: String, model: CLIPModel, settings: GroundingSettings = GroundingSettings(),
                queries: [GroundingQuery] = [], texts: TextEmbeddingCache = TextEmbeddingCache(), logger: Logger) throws {
        try settings.validate()
        self.stream = stream
        self.model = model
        self.settings = settings
        self.logger = logger
        self.texts = texts
        extractor = try MaskExtractor(parameters: settings.masks)
        probabilities = try QueryProbabilities(logitScale: model.info.logitScale, contrastWithOtherQueries: settings.contrastWithOtherQueries)
        state = Mutex(State(linker: try TubeLinker(stream: stream, parameters: settings.tubes)))
        _ = try setQueries(queries)
    }

    public var queries: [GroundingQuery] { state.withLock { $0.queries } }

    /// Replaces the standing queries; the tubes of queries removed or changed end (their
    /// `match.end` events are returned). New texts are encoded here, once.
    ///
    /// `defined` holds the ids of the queries that still exist anywhere (by default those of
    /// `new`): a query that leaves this stream but is still defined, like one whose values
    /// changed, ends its tubes as reconfigured; one that is gone, as removed.
    public func setQueries(_ new: [GroundingQuery], defined: Set<String>? = nil) throws -> [MatchEvent] {
        guard Set(new.map(\.id)).count == new.count else {
            throw SightlineError(.invalidArgument, "query ids must be unique on a stream", context: ["stream": stream])
        }
        for q in new where q.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw SightlineError(.invalidArgument, "query text must not be empty", context: ["query": q.id])
        }
        for q in new { try q.validate() }
        return try state.withLock { state in
            // One class per distinct text, so that two queries with the same text do not split
            // each patch between them; background words that are also queries are dropped.
            var distinct: [String] = []
            for q in new where !distinct.contains(q.text) { distinct.append(q.text) }
            let texts = distinct + settings.backgroundWords.filter { !distinct.contains($0) }
            let cache = try self.texts.embeddings(of: texts) { missing in
                let prompts = missing.flatMap { PromptEnsemble.prompts(for: $0, templates: settings.templates) }
                let encoded = try model.encodeTexts(prompts)
                let n = settings.templates.count
                return try missing.indices.map { i in
                    let rows = Array(encoded.values[(i * n * encoded.dim)..<((i + 1) * n * encoded.dim)])
                    return try PromptEnsemble.combine(rows: rows, count: n, dimension: encoded.dim)
                }
            }
            var events: [MatchEvent] = []
            // A query whose text, threshold or minimum duration changed starts its tubes afresh.
            let stillDefined = defined ?? Set(new.map(\.id))
            for old in state.queries where !new.contains(old) {
                events += state.linker.remove(query: old.id, reason: stillDefined.contains(old.id) ? .queryReconfigured : .queryRemoved)
            }
            state.classes = texts.isEmpty ? nil
                : EmbeddingMatrix(rows: texts.count, dim: model.info.embedDim, values: texts.flatMap { cache[$0]! })
            state.queryClass = new.map { q in distinct.firstIndex(of: q.text)! }
            state.distinctQueries = distinct.count
            if new != state.queries { state.context.removeAll() }
            state.queries = new
            if !new.isEmpty {
                logger.debug("queries set", metadata: ["stream": "\(stream)", "queries": "\(new.count)", "classes": "\(texts.count)"])
            }
            return events
        }
    }

    /// Grounds a batch of consecutive frames of the stream: the encoder, then everything after it.
    public func process(_ frames: [Frame]) throws -> GroundingBatch {
        guard !frames.isEmpty else { return GroundingBatch(events: [], instances: [], encoderSeconds: 0, groundingSeconds: 0) }
        let started = Date()
        let dense = try model.encodeDense(frames.map(\.image), shortSide: settings.shortSide)
        var batch = try process(frames, dense: dense)
        batch.encoderSeconds = Date().timeIntervalSince(started) - batch.groundingSeconds
        return batch
    }

    /// Grounds frames whose patch embeddings were computed already (`dense[i]` of `frames[i]`,
    /// by this model's `encodeDense` at `settings.shortSide`), for a caller that runs the
    /// encoder once over the frames of several streams.
    public func process(_ frames: [Frame], dense: [DenseEmbeddings]) throws -> GroundingBatch {
        guard frames.count == dense.count else {
            throw SightlineError(.invalidArgument, "\(frames.count) frames but \(dense.count) patch embeddings", context: ["stream": stream])
        }
        let started = Date()
        return try state.withLock { state in
            let queries = state.queries
            let thresholds = queries.map { $0.threshold ?? settings.masks.threshold }
            var events: [MatchEvent] = []
            var instances: [[[GroundedInstance]]] = []
            var next = 0
            // Runs of frames of one size; a camera that changes resolution starts a new run,
            // and smoothing does not reach across the change.
            while next < frames.count {
                var end = next + 1
                while end < frames.count, frames[end].image.width == frames[next].image.width,
                      frames[end].image.height == frames[next].image.height { end += 1 }
                var maps: [[ProbabilityMap]] = []
                for d in dense[next..<end] {
                    guard let classes = state.classes, !queries.isEmpty else {
                        maps.append([])
                        continue
                    }
                    let sims = cosineSimilarities(d, classes)
                    let perText = try probabilities.maps(similarities: sims, gridWidth: d.gridWidth, gridHeight: d.gridHeight,
                                                         classes: classes.rows, queryCount: state.distinctQueries)
                    maps.append(state.queryClass.map { perText[$0] })
                }
                if let last = state.context.last?.first, let now = maps.first?.first, last.width != now.width || last.height != now.height {
                    state.context.removeAll()
                }
                let window = state.context + maps
                for k in next..<end {
                    let index = state.context.count + k - next
                    let smoothed = try queries.indices.map { q in try settings.smoothing.smooth(window.map { $0[q] }, at: index) }
                    var found = try extractor.instances(maps: smoothed, frame: frames[k].image, thresholds: thresholds)
                    if frames[k].carried {
                        for q in found.indices { for i in found[q].indices { found[q][i].carried = true } }
                    }
                    instances.append(found)
                    events += state.linker.observe(pts: frames[k].pts, time: frames[k].captureTime,
                                                   detections: Array(zip(queries, found)).map { ($0.0, $0.1) })
                }
                state.context = Array(window.suffix(settings.smoothing.radius))
                next = end
            }
            events += state.linker.flush()
            return GroundingBatch(events: events, instances: instances, encoderSeconds: 0,
                                  groundingSeconds: Date().timeIntervalSince(started))
        }
    }

    /// Ends every tube: at the end of the stream, or for `reason`.
    public func finish(reason: MatchEndReason = .streamEnded) -> [MatchEvent] {
        state.withLock { state in
            state.context.removeAll()
            return state.linker.finish(reason: reason)
        }
    }
}
