import CGStreamer
import Foundation
import Logging
import SightlineCore
import Synchronization

/// One stream: opens its URI through GStreamer, delivers sampled RGB frames, and keeps
/// itself running: live sources reconnect with backoff after an error, an unexpected end or
/// a stall; files end or loop.
///
/// `run()` drives it until the task running it is cancelled or the source ends for good.
/// Frames arrive on `frames` (the newest `bufferedFrames` are kept for a consumer that falls
/// behind; a gap in `Frame.seq` shows what was dropped), state changes on `statuses`.
/// Both streams finish when `run()` returns. Each stream has one consumer.
public final class VideoSource: Sendable {
    public let id: String
    public let options: SourceOptions
    public let frames: AsyncStream<Frame>
    public let statuses: AsyncStream<SourceStatus>

    private let frameSink: AsyncStream<Frame>.Continuation
    private let statusSink: AsyncStream<SourceStatus>.Continuation
    private let logger: Logger
    private let shared: IngestShared
    private let current = Mutex<SourceState>(.starting)
    private let started = Atomic<Bool>(false)

    public init(id: String, options: SourceOptions, logger: Logger) throws {
        try options.validate()
        self.id = id
        self.options = options
        var logger = logger
        logger[metadataKey: "stream"] = "\(id)"
        self.logger = logger
        (frames, frameSink) = AsyncStream.makeStream(of: Frame.self, bufferingPolicy: .bufferingNewest(options.bufferedFrames))
        (statuses, statusSink) = AsyncStream.makeStream(of: SourceStatus.self, bufferingPolicy: .bufferingNewest(256))
        // Room for the frames buffered for the consumer plus those it holds in a window.
        shared = IngestShared(stream: id, poolCapacity: options.bufferedFrames + 32)
    }

    /// The current state.
    public var state: SourceState { current.withLock { $0 } }

    /// Counters since the source was created.
    public var statistics: IngestStatistics { shared.statistics }

    /// Runs the source until the task is cancelled or the source ends (a file's end, or a
    /// failure that retrying cannot mend). Call once.
    public func run() async {
        guard !started.exchange(true, ordering: .relaxed) else {
            logger.error("run() called twice on one source; ignoring the second call")
            return
        }
        defer {
            frameSink.finish()
            statusSink.finish()
        }
        logger.info("source starting", metadata: ["uri": "\(options.maskedURI)"])
        publish(.starting)
        if let problem = Self.unreadable(options) {
            publish(.failed(problem), error: problem)
            return
        }
        var backoff = options.reconnect
        var everOnline = false
        while !Task.isCancelled {
            let outcome = await runPipeline(everOnline: &everOnline)
            let problem: String
            switch outcome {
            case .stopped:
                publish(.ended)
                return
            case .ended:
                publish(.ended)
                return
            case .passEnded:
                continue
            case .failed(let message, _) where !options.isLive:
                publish(.failed(message), error: message)
                return
            case .failed(let message, _):
                problem = message
            case .stalled:
                problem = "no frame for \(Self.format(effectiveStallTimeout)) s"
                publish(.stalled, error: problem)
                // Starting a file again would hand out its frames a second time: a file that
                // stalls (a mount that stopped answering) has failed, unless it loops anyway.
                if !options.isLive && !options.loop {
                    publish(.failed(problem), error: problem)
                    return
                }
            }
            let healthy: Double = switch outcome {
            case .failed(_, let healthy), .stalled(let healthy): healthy
            default: 0
            }
            let delay = backoff.failure(healthyFor: healthy)
            publish(.reconnecting(attempt: backoff.attempt), error: problem, retryIn: delay)
            do {
                try await Task.sleep(for: .seconds(delay))
            } catch {
                break
            }
        }
        publish(.ended)
    }

    // MARK: one pipeline

    private enum Outcome {
        /// The task was cancelled or the consumer went away.
        case stopped
        /// A file reached its end and does not loop.
        case ended
        /// A looping file reached its end: the next pass starts at once, with a new pipeline.
        case passEnded
        /// With how long the source had been delivering frames before.
        case failed(String, healthyFor: Double)
        case stalled(healthyFor: Double)
    }

    private enum Event: Sendable {
        case pipeline(PipelineEvent)
        case tick
    }

    /// A slow sampling rate must not look like a stall.
    private var effectiveStallTimeout: Double {
        max(options.stallTimeout, options.sampleRate.map { 3 / $0 } ?? 0)
    }

    /// Seconds a pipeline may take to stop (or to seek back to the start) before it is left
    /// behind on its thread, logged as an error, so that a stuck GStreamer call never holds the
    /// source (or whoever waits for `run()` to return) forever.
    static let controlTimeout = 10.0

    /// The pipeline of one attempt, touched only by jobs on that attempt's control thread.
    private final class PipelineSlot: @unchecked Sendable {
        var pipeline: IngestPipeline?
        /// Whether the job that builds and starts the pipeline has returned.
        let started = Atomic<Bool>(false)
    }

    /// Builds, runs and stops one pipeline. Each attempt has its own control thread, and
    /// nothing here waits on it without a deadline: a pipeline stuck in a state change (a file
    /// on a mount that stopped answering blocks in `open`) shows as a stall, and the next
    /// attempt starts on a fresh thread while the stuck one is left behind.
    private func runPipeline(everOnline: inout Bool) async -> Outcome {
        let control = WorkerThread(name: "sightline-\(id)")
        defer { control.close() }
        let (events, eventSink) = AsyncStream.makeStream(of: Event.self)
        let frameSink = frameSink
        let shared = shared
        let settings = IngestSettings(
            uri: options.resolvedURI,
            sampleRate: options.sampleRate,
            target: options.width.flatMap { w in options.height.map { .exact(width: w, height: $0) } }
                ?? options.shortSide.map { .shortSide($0) } ?? .native,
            sync: options.isLive ? false : options.realtime,
            rtspTransport: options.rtspTransport,
            latency: options.latency,
            keyframesOnly: options.keyframesOnly,
            networkTimeout: effectiveStallTimeout
        )
        let context = IngestPipeline.Context(
            settings: settings, shared: shared,
            deliver: { frame in
                let result = frameSink.yield(frame)
                shared.state.withLock { state in
                    switch result {
                    case .enqueued: break
                    case .dropped: state.statistics.dropped += 1
                    case .terminated: state.consumerGone = true
                    @unknown default: break
                    }
                }
                if case .terminated = result { return false }
                return true
            },
            events: { eventSink.yield(.pipeline($0)) }
        )
        let slot = PipelineSlot()
        control.enqueue {
            do throws(GStreamerError) {
                let pipeline = try IngestPipeline(context: context)
                slot.pipeline = pipeline
                pipeline.start()
            } catch {
                eventSink.yield(.pipeline(.error(error)))
            }
            slot.started.store(true, ordering: .releasing)
        }
        let stallTimeout = effectiveStallTimeout
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(min(1, stallTimeout / 4)))
                eventSink.yield(.tick)
            }
        }
        let sessionStart = ContinuousClock.now
        var onlineSince: ContinuousClock.Instant?
        func healthy() -> Double { onlineSince.map { $0.duration(to: .now).seconds } ?? 0 }

        var outcome = Outcome.stopped
        // A live source that ends usually warned why first ("The server closed the connection").
        var lastWarning: String?
        loop: for await event in events {
            switch event {
            case .pipeline(.firstFrame):
                onlineSince = .now
                everOnline = true
                // A looping file's next pass is the same stream going on, not news.
                if state != .online { publish(.online) }
            case .pipeline(.warning(let warning)):
                lastWarning = maskingCredentials(warning.summary)
                logger.warning("GStreamer warning", metadata: ["detail": "\(lastWarning ?? "")"])
            case .pipeline(.error(let error)):
                outcome = .failed(maskingCredentials(Self.explain(error)), healthyFor: healthy())
                break loop
            case .pipeline(.endOfStream):
                if shared.state.withLock({ $0.consumerGone }) {
                    outcome = .stopped
                    break loop
                }
                if options.isLive {
                    outcome = .failed("the stream ended" + (lastWarning.map { ": " + $0 } ?? ""), healthyFor: healthy())
                    break loop
                }
                guard options.loop else {
                    outcome = .ended
                    break loop
                }
                // Each pass is a new pipeline rather than a seek back to the start: the file
                // is read in push mode (see `FileFront`), where qtdemux turns a seek into a
                // byte seek of its upstream, and that seek sometimes never completed.
                guard onlineSince != nil else {
                    outcome = .failed("the file ended before its first frame, so it cannot loop", healthyFor: 0)
                    break loop
                }
                logger.debug("file ended; looping")
                outcome = .passEnded
                break loop
            case .tick:
                let last = shared.state.withLock { $0.lastFrame }
                let reference = max(last ?? sessionStart, sessionStart)
                if reference.duration(to: .now).seconds > stallTimeout {
                    outcome = .stalled(healthyFor: healthy())
                    break loop
                }
            }
        }
        ticker.cancel()
        let stop: @Sendable () -> Bool = {
            slot.pipeline?.stop()
            slot.pipeline = nil
            return true
        }
        if case .stalled = outcome, !slot.started.load(ordering: .acquiring) {
            // A stall while still inside its start (blocked opening the source): its thread is
            // stuck, so stopping waits behind it. Queue the stop and go on. (Otherwise a start
            // that has not returned yet, when the source is stopped just after a new pass or
            // attempt began, is about to: wait for it and the stop as usual.)
            logger.error("pipeline is stuck starting; leaving it behind on its thread")
            control.enqueue { _ = stop() }
        } else if await control.run(timeout: .seconds(Self.controlTimeout), stop) == nil {
            logger.error("pipeline did not stop within \(Self.format(Self.controlTimeout)) s; leaving it behind on its thread")
        }
        return outcome
    }

    // MARK: states

    private func publish(_ state: SourceState, error: String? = nil, retryIn: Double? = nil) {
        current.withLock { $0 = state }
        let status = SourceStatus(stream: id, state: state, error: error, retryIn: retryIn)
        statusSink.yield(status)
        var metadata: Logger.Metadata = ["state": "\(state.name)"]
        if let error { metadata["error"] = "\(error)" }
        if let retryIn { metadata["retry_in"] = "\(Self.format(retryIn))" }
        if case .reconnecting(let attempt) = state { metadata["attempt"] = "\(attempt)" }
        switch state {
        case .starting, .online, .ended: logger.info("source \(state.name)", metadata: metadata)
        case .stalled, .reconnecting: logger.warning("source \(state.name)", metadata: metadata)
        case .failed: logger.error("source failed", metadata: metadata)
        }
    }

    /// Why a source cannot be read at all, before any pipeline is built: retrying will not
    /// help, so these fail at once, even for live sources.
    static func unreadable(_ options: SourceOptions) -> String? {
        let scheme = options.scheme
        guard GStreamer.canRead(scheme: scheme) else {
            return "unsupported URI scheme \"\(scheme)\": no installed GStreamer element reads it (\(options.maskedURI))"
        }
        guard scheme == "file" else { return nil }
        guard let location = gst_uri_get_location(options.resolvedURI) else {
            return "not a valid file URI: \(options.maskedURI)"
        }
        defer { g_free(location) }
        let path = String(cString: location)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return "no such file: \(path)" }
        guard !isDirectory.boolValue else { return "a directory, not a video file: \(path)" }
        guard FileManager.default.isReadableFile(atPath: path) else { return "file is not readable: \(path)" }
        return nil
    }

    /// GStreamer's words, with a plainer one where GStreamer's would mislead: with decoding
    /// limited to video, a file with no video stream reports a missing plug-in.
    static func explain(_ error: GStreamerError) -> String {
        if error.isMissingPlugin {
            return "no video stream GStreamer can decode: \(error.summary)"
        }
        return error.summary
    }

    static func format(_ seconds: Double) -> String {
        String(format: "%.1f", seconds)
    }
}
