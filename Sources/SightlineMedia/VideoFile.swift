import CGStreamer
import Foundation
import Logging
import SightlineCore

/// Every sampled frame of a video file, in order, none dropped, as fast as decoding allows:
/// decoding waits while the consumer is busy (backpressure), so memory stays bounded
/// whatever the file's length. For `sightline ground FILE` and evaluations.
///
/// ```swift
/// for try await frame in readFrames(of: "/videos/clip.mp4", sampleRate: 2, shortSide: 224) { ... }
/// ```
/// Errors are `SightlineError`s: `file_not_found`, or `invalid_file` with GStreamer's reason
/// (not a video, truncated, corrupt), thrown after the frames decoded before the problem.
/// Stopping early (leaving the loop or cancelling the task) stops the decoder.
public func readFrames(
    of path: String,
    sampleRate: Double? = nil,
    shortSide: Int? = nil,
    stream: String? = nil,
    keyframesOnly: Bool = false,
    logger: Logger = Logger(label: "sightline.media")
) -> VideoFileFrames {
    VideoFileFrames(path: path, sampleRate: sampleRate, shortSide: shortSide, stream: stream ?? path, keyframesOnly: keyframesOnly, logger: logger)
}

public struct VideoFileFrames: AsyncSequence, Sendable {
    public typealias Element = Frame
    public let path: String
    public let sampleRate: Double?
    public let shortSide: Int?
    public let stream: String
    /// Decode key frames only (see `SourceOptions.keyframesOnly`).
    public let keyframesOnly: Bool
    let logger: Logger

    public func makeAsyncIterator() -> Iterator {
        Iterator(reader: FileReader(frames: self))
    }

    public struct Iterator: AsyncIteratorProtocol {
        let reader: FileReader

        public mutating func next() async throws -> Frame? {
            try await reader.next()
        }

        /// Counters of this reading: frames decoded, converted, delivered, pixel arrays allocated.
        public var statistics: IngestStatistics { reader.shared.statistics }
    }
}

/// Owns the pipeline of one `readFrames` iteration; stops it when the iteration ends or the
/// iterator is released.
public final class FileReader: @unchecked Sendable {
    private let frames: VideoFileFrames
    let shared: IngestShared
    private let handoff = FrameHandoff(capacity: 2)
    private let control = ControlThread(name: "sightline-read")
    private var pipeline: IngestPipeline?
    private var started = false
    private var done = false

    init(frames: VideoFileFrames) {
        self.frames = frames
        shared = IngestShared(stream: frames.stream, poolCapacity: 16)
    }

    deinit {
        shutDown()
    }

    func next() async throws -> Frame? {
        guard !done else { return nil }
        if !started {
            started = true
            do {
                try await start()
            } catch {
                shutDown()
                throw error
            }
        }
        do {
            guard let frame = try await handoff.next() else {
                shutDown()
                return nil
            }
            return frame
        } catch {
            shutDown()
            throw error
        }
    }

    private func start() async throws {
        let path = frames.path
        var options = SourceOptions(uri: path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path)
        options.sampleRate = frames.sampleRate
        options.shortSide = frames.shortSide
        try options.validate()
        if let problem = VideoSource.unreadable(options) {
            throw SightlineError(.fileNotFound, problem, context: ["file": path])
        }
        let handoff = handoff
        let settings = IngestSettings(
            uri: options.resolvedURI, sampleRate: frames.sampleRate,
            target: frames.shortSide.map { .shortSide($0) } ?? .native,
            sync: false, rtspTransport: .tcp, latency: 0, keyframesOnly: frames.keyframesOnly, networkTimeout: 30
        )
        let context = IngestPipeline.Context(
            settings: settings,
            shared: shared,
            deliver: { handoff.put($0) },
            events: { event in
                switch event {
                case .error(let error):
                    handoff.finish(SightlineError(.invalidFile, VideoSource.explain(error), context: ["file": path]))
                case .endOfStream:
                    handoff.finish(nil)
                case .warning, .firstFrame:
                    break
                }
            }
        )
        do {
            pipeline = try await control.run { () throws(GStreamerError) -> IngestPipeline in
                let pipeline = try IngestPipeline(context: context)
                pipeline.start()
                return pipeline
            }
        } catch {
            let message = (error as? GStreamerError)?.summary ?? "\(error)"
            throw SightlineError(.media, message, context: ["file": path])
        }
        frames.logger.debug("reading frames", metadata: ["file": "\(path)"])
    }

    /// Unblocks the streaming thread, then stops the pipeline on the control thread, whose
    /// last job it is: nothing here waits.
    private func shutDown() {
        guard !done else { return }
        done = true
        handoff.close()
        if let pipeline {
            self.pipeline = nil
            control.enqueue { pipeline.stop() }
        }
        control.close()
    }
}
