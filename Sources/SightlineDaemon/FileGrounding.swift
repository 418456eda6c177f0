import Foundation
import Logging
import SightlineCore
import SightlineGrounding
import SightlineMedia
import SightlineModel
import SightlinePipeline
import SightlineProtocol

/// The `ground` operation: every sampled frame of one file, grounded against a few texts,
/// its events written to the requesting connection only. It shares the loaded model with the
/// live streams: the engine's lock serves callers in the order they asked (`FairLock`), so a
/// request and the live scheduler take turns and neither starves.
///
/// Everything that blocks (checking the file, encoding the texts, waiting for the engine,
/// each batch) runs on the shared blocking worker: the cooperative pool has two threads, and
/// two requests waiting there for the engine would stall every connection of the daemon.
public final class FileGrounding: Sendable {
    let model: CLIPModel
    let logger: Logger
    let worker: WorkerThread
    static let batch = 4

    public init(model: CLIPModel, logger: Logger, worker: WorkerThread = .shared) {
        self.model = model
        self.logger = logger
        self.worker = worker
    }

    /// Returns the number of frames grounded; `emit` receives each event as it is decided.
    /// Frames are scaled to `spec.shortSide`, else `defaultShortSide` (0: the file's size).
    func run(_ spec: GroundSpec, defaultShortSide: Int, emit: (MatchEvent) async throws -> Void) async throws -> (frames: Int, events: Int) {
        let threshold = spec.threshold.map(PipelineGrounder.clampedThreshold)
        let queries = spec.texts.enumerated().map { GroundingQuery(id: "t\($0.offset)", text: $0.element, threshold: threshold) }
        let (model, logger) = (self.model, self.logger)
        let grounder = try await worker.run { () throws -> StreamGrounder in
            guard FileManager.default.isReadableFile(atPath: spec.path) else {
                throw SightlineError(.fileNotFound, "cannot read \(spec.path)", context: ["file": spec.path])
            }
            return try StreamGrounder(stream: spec.stream, model: model, queries: queries, logger: logger)
        }
        var frames = 0
        var events = 0
        var pending: [Frame] = []
        func flush(_ final: Bool) async throws {
            let batch = pending
            pending = []
            let produced = try await worker.run { () throws -> [MatchEvent] in
                var out = batch.isEmpty ? [] : try grounder.process(batch).events
                if final { out += grounder.finish() }
                return out
            }
            frames += batch.count
            for event in produced {
                try await emit(event)
                events += 1
            }
        }
        let shortSide = spec.shortSide ?? defaultShortSide
        for try await frame in readFrames(of: spec.path, sampleRate: spec.fps ?? 4, shortSide: shortSide == 0 ? nil : shortSide,
                                          stream: spec.stream, logger: logger) {
            pending.append(frame)
            if pending.count == Self.batch { try await flush(false) }
        }
        try await flush(true)
        return (frames, events)
    }
}
