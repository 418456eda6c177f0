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
///
/// - Parameter stallTimeout: seconds the consumer may wait for a frame while GStreamer shows
///   no sign of life (no picture decoded) before reading ends with a `media_error`; nil waits
///   forever. Time the consumer spends on a frame does not count. Decoding a picture takes
///   milliseconds, so this only ends readings that are stuck: a file on a network mount that
///   stopped answering, or a GStreamer element that failed without saying so.
public func readFrames(
    of path: String,
    sampleRate: Double? = nil,
    shortSide: Int? = nil,
    stream: String? = nil,
    keyframesOnly: Bool = false,
    stallTimeout: Double? = VideoFileFrames.defaultStallTimeout,
    logger: Logger = Logger(label: "sightline.media")
) -> VideoFileFrames {
    VideoFileFrames(
        path: path, sampleRate: sampleRate, shortSide: shortSide, stream: stream ?? path, keyframesOnly: keyframesOnly,
        stallTimeout: stallTimeout, logger: logger
    )
}

public struct VideoFileFrames: AsyncSequence, Sendable {
    public typealias Element = Frame
    /// Generous: a minute without a decoded picture while the consumer waits.
    public static let defaultStallTimeout = 60.0

    public let path: String
    public let sampleRate: Double?
    public let shortSide: Int?
    public let stream: String
    /// Decode key frames only (see `SourceOptions.keyframesOnly`).
    public let keyframesOnly: Bool
    /// See `readFrames(of:...)`.
    public let stallTimeout: Double?
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
///
/// Nothing here waits for GStreamer: the pipeline is built, started and stopped by jobs on
/// its control thread, and everything it reports (frames, the end, errors, a failure to
/// build) arrives through the hand-off, which a watchdog can also end. A pipeline stuck in a
/// state change therefore holds only its own thread, never the consumer.
public final class FileReader: @unchecked Sendable {
    private let frames: VideoFileFrames
    let shared: IngestShared
    private let handoff = FrameHandoff(capacity: 2)
    private let control = WorkerThread(name: "sightline-read")
    /// Touched only by jobs on the control thread.
    private let slot = PipelineSlot()
    private var watchdog: Task<Void, Never>?
    private var started = false
    private var done = false

    /// The pipeline of a reader, owned by its control thread.
    private final class PipelineSlot: @unchecked Sendable {
        var pipeline: IngestPipeline?
    }

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
                try start()
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

    private func start() throws {
        let path = frames.path
        var options = SourceOptions(uri: path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path)
        options.sampleRate = frames.sampleRate
        options.shortSide = frames.shortSide
        try options.validate()
        if let stallTimeout = frames.stallTimeout, !(stallTimeout > 0) {
            throw SightlineError(.invalidArgument, "stallTimeout must be positive", context: ["stallTimeout": "\(stallTimeout)"])
        }
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
        let slot = slot
        control.enqueue {
            do throws(GStreamerError) {
                let pipeline = try IngestPipeline(context: context)
                slot.pipeline = pipeline
                pipeline.start()
            } catch {
                handoff.finish(SightlineError(.media, error.summary, context: ["file": path]))
            }
        }
        if let stallTimeout = frames.stallTimeout {
            let shared = shared
            watchdog = Task {
                let limit = Duration.seconds(stallTimeout)
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(min(1, stallTimeout / 4)))
                    let progress = shared.state.withLock { $0.lastProgress }
                    let expired = handoff.expire(after: limit, progress: progress) {
                        SightlineError(
                            .media,
                            "decoding made no progress for \(VideoSource.format(stallTimeout)) s: GStreamer is stuck on this file "
                                + "(an unresponsive disk or network mount, or an element that failed without an error)",
                            context: ["file": path]
                        )
                    }
                    if expired { return }
                }
            }
        }
        frames.logger.debug("reading frames", metadata: ["file": "\(path)"])
    }

    /// Unblocks the streaming thread, then stops the pipeline on the control thread, whose
    /// last job it is: nothing here waits.
    private func shutDown() {
        guard !done else { return }
        done = true
        watchdog?.cancel()
        handoff.close()
        let slot = slot
        control.enqueue {
            slot.pipeline?.stop()
            slot.pipeline = nil
        }
        control.close()
    }
}
