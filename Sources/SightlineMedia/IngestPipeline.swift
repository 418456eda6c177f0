import CGStreamer
import Foundation
import SightlineCore
import Synchronization

/// What an ingest pipeline reports to whoever runs it, from GStreamer's threads.
enum PipelineEvent: Sendable {
    case error(GStreamerError)
    case warning(GStreamerError)
    case endOfStream
    /// The first frame of this pipeline reached the consumer.
    case firstFrame
}

/// The output size rule of a pipeline.
enum TargetSize: Sendable, Hashable {
    case native
    case shortSide(Int)
    case exact(width: Int, height: Int)

    /// The size to scale a picture of `width` x `height` (pixel aspect `parN:parD`) to:
    /// square pixels, even sides (so scaling can stay in 4:2:0 before conversion), never
    /// enlarged past the picture's own short side.
    func resolve(width: Int, height: Int, parN: Int = 1, parD: Int = 1) -> (width: Int, height: Int) {
        let displayWidth = parN > 0 && parD > 0 ? Double(width) * Double(parN) / Double(parD) : Double(width)
        let displayHeight = Double(height)
        func even(_ value: Double) -> Int { max(2, Int((value / 2).rounded()) * 2) }
        switch self {
        case .exact(let w, let h):
            return (w, h)
        case .native:
            return (even(displayWidth), even(displayHeight))
        case .shortSide(let side):
            let short = min(displayWidth, displayHeight)
            let scale = min(1, Double(side) / short)
            return (even(displayWidth * scale), even(displayHeight * scale))
        }
    }
}

/// Everything a pipeline needs to know, fixed when it is built.
struct IngestSettings: Sendable {
    var uri: String
    var sampleRate: Double?
    var target: TargetSize
    /// Deliver at the clock's pace (files played as a camera would) or as fast as possible.
    var sync: Bool
    var rtspTransport: SourceOptions.RTSPTransport
    var latency: Double
    var keyframesOnly: Bool
    /// Seconds a TCP connection may be silent before rtspsrc gives up on it.
    var networkTimeout: Double
}

/// Counters of one source, kept across its pipelines (reconnects, loops).
public struct IngestStatistics: Sendable, Hashable {
    /// Pictures that left the decoder.
    public var decoded = 0
    /// Pictures that passed the sampler and were scaled and converted.
    public var converted = 0
    /// Frames handed to the consumer.
    public var delivered = 0
    /// Frames the consumer was too slow for (dropped oldest first from its buffer).
    public var dropped = 0
    /// Pixel arrays allocated for frames; stops growing once the buffers are reused.
    public var pixelAllocations = 0
    /// Pipelines started (1 + restarts).
    public var pipelinesStarted = 0
    /// Started pipelines whose GStreamer objects have been freed: all but the running one,
    /// once each is stopped. Fewer means pipelines are kept alive (a leak per restart).
    public var pipelinesReleased = 0
}

/// The state shared by a source's callbacks, on GStreamer's streaming threads, and by the task
/// that runs the source.
final class IngestShared: Sendable {
    struct State {
        var statistics = IngestStatistics()
        var pool: PixelPool
        var nextSeq: UInt64 = 0
        var lastFrame: ContinuousClock.Instant?
        /// The last sign of life from the decoder: a decoded picture or a delivered frame.
        var lastProgress: ContinuousClock.Instant?
        /// The consumer's frame stream was terminated: nobody wants frames any more.
        var consumerGone = false
    }

    let stream: String
    let state: Mutex<State>

    init(stream: String, poolCapacity: Int) {
        self.stream = stream
        state = Mutex(State(pool: PixelPool(capacity: poolCapacity)))
    }

    var statistics: IngestStatistics {
        state.withLock { state in
            var statistics = state.statistics
            statistics.pixelAllocations = state.pool.allocations
            return statistics
        }
    }
}

/// One running GStreamer pipeline: `uridecodebin ! videorate ! videoscale ! videoconvert !
/// appsink` (a local file is read through `FileFront` instead of `uridecodebin`), with the
/// sampler right after the decoder so that dropped frames are never scaled or converted, and
/// scaling before conversion so that conversion to RGB works on the small picture.
final class IngestPipeline: @unchecked Sendable {
    /// What the C callbacks reach through their user-data pointer. The pipeline retains it
    /// and outlives every callback (callbacks stop when the pipeline is stopped).
    final class Context: @unchecked Sendable {
        let settings: IngestSettings
        let shared: IngestShared
        /// Takes a frame; false means nobody wants more and the pipeline should stop.
        let deliver: @Sendable (Frame) -> Bool
        let events: @Sendable (PipelineEvent) -> Void
        let started = ContinuousClock.now
        let firstFrameSent = Mutex(false)
        /// Set once the pipeline is built; the probe that sizes the output writes to it.
        var sizeFilter: UnsafeMutablePointer<GstElement>?
        let lastTargetSize = Mutex<(Int, Int)?>(nil)

        init(settings: IngestSettings, shared: IngestShared, deliver: @escaping @Sendable (Frame) -> Bool, events: @escaping @Sendable (PipelineEvent) -> Void) {
            self.settings = settings
            self.shared = shared
            self.deliver = deliver
            self.events = events
        }
    }

    let pipeline: Pipeline
    let context: Context
    private var stopped = false

    init(context: Context) throws(GStreamerError) {
        self.context = context
        let settings = context.settings
        let file = FileFront.location(ofFileURI: settings.uri)
        var description = file == nil ? "uridecodebin name=decode caps=video/x-raw ! " : FileFront.description(decoderCaps: "video/x-raw") + " ! "
        if let rate = settings.sampleRate {
            var n: gint = 0
            var d: gint = 0
            gst_util_double_to_fraction(rate, &n, &d)
            description += "videorate name=rate drop-only=true ! video/x-raw,framerate=\(n)/\(d) ! "
        } else {
            description += "identity name=rate ! "
        }
        description += "videoscale name=scale ! capsfilter name=size ! videoconvert ! video/x-raw,format=RGB ! "
        description += "appsink name=sink max-buffers=2 enable-last-sample=false sync=\(settings.sync)"
        pipeline = try Pipeline(description)
        guard let decode = pipeline.child("decode"), let rate = pipeline.child("rate"), let scale = pipeline.child("scale"),
              let size = pipeline.child("size"), let sink = pipeline.child("sink")
        else { throw GStreamerError(message: "ingest pipeline is missing its elements") }
        context.sizeFilter = size
        if let file {
            try FileFront.configure(file, in: pipeline)
        } else {
            CGStreamer_setString(decode, "uri", settings.uri)
        }

        let user = Unmanaged.passUnretained(context).toOpaque()
        if file == nil {
            CGStreamer_connect(decode, "source-setup", CGStreamer_callback2(IngestPipeline.sourceSetup), user)
        }
        if settings.keyframesOnly {
            CGStreamer_connect(decode, "deep-element-added", CGStreamer_callback3(IngestPipeline.elementAdded), user)
        }
        if let pad = gst_element_get_static_pad(rate, "sink") {
            gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, IngestPipeline.countDecoded, user, nil)
            gst_object_unref(pad)
        }
        if let pad = gst_element_get_static_pad(scale, "sink") {
            let mask = GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER.rawValue | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM.rawValue)
            gst_pad_add_probe(pad, mask, IngestPipeline.beforeScaling, user, nil)
            gst_object_unref(pad)
        }
        var callbacks = GstAppSinkCallbacks()
        callbacks.new_sample = IngestPipeline.newSample
        gst_app_sink_set_callbacks(CGStreamer_appSink(sink), &callbacks, user, nil)
        pipeline.setSyncHandler(IngestPipeline.busMessage, target: user)
    }

    deinit { stop() }

    /// Starts playing; errors arrive as events. Call from a control thread.
    func start() {
        context.shared.state.withLock { $0.statistics.pipelinesStarted += 1 }
        let object = UnsafeMutableRawPointer(pipeline.element).assumingMemoryBound(to: GObject.self)
        g_object_weak_ref(object, IngestPipeline.released, Unmanaged.passRetained(context.shared).toOpaque())
        pipeline.setState(GST_STATE_PLAYING)
    }

    /// Stops and joins the streaming threads; may block (an RTSP teardown waits on the
    /// network). Call from a control thread.
    func stop() {
        guard !stopped else { return }
        stopped = true
        pipeline.stop()
        pipeline.clearSyncHandler()
    }

    // MARK: callbacks, on GStreamer's threads

    private static func context(_ user: gpointer?) -> Context {
        Unmanaged<Context>.fromOpaque(user!).takeUnretainedValue()
    }

    private static let newSample: @convention(c) (UnsafeMutablePointer<GstAppSink>?, gpointer?) -> GstFlowReturn = { sink, user in
        let context = IngestPipeline.context(user)
        guard let sink, let sample = gst_app_sink_pull_sample(sink) else { return GST_FLOW_EOS }
        defer { CGStreamer_unrefSample(sample) }
        let now = ContinuousClock.now
        let made: (SampleCopy.Picture, [UInt8], UInt64)
        do {
            made = try context.shared.state.withLock { (state) throws(GStreamerError) in
                let (picture, pixels) = try SampleCopy.copy(sample) { width, height in state.pool.take(count: width * height * 3) }
                state.pool.keep(pixels)
                let seq = state.nextSeq
                state.nextSeq += 1
                state.lastFrame = now
                state.lastProgress = now
                return (picture, pixels, seq)
            }
        } catch {
            context.events(.error(error as? GStreamerError ?? GStreamerError(message: "\(error)")))
            return GST_FLOW_ERROR
        }
        let (picture, pixels, seq) = made
        let pts = picture.pts ?? context.started.duration(to: now).seconds
        // Sizes come from the sample's own caps, so this cannot fail.
        let image = try! RGBImage(width: picture.width, height: picture.height, pixels: pixels)
        let frame = Frame(stream: context.shared.stream, seq: seq, pts: pts, captureTime: Date(), image: image)
        guard context.deliver(frame) else { return GST_FLOW_EOS }
        context.shared.state.withLock { $0.statistics.delivered += 1 }
        let first = context.firstFrameSent.withLock { sent in
            defer { sent = true }
            return !sent
        }
        if first { context.events(.firstFrame) }
        return GST_FLOW_OK
    }

    /// Runs when GStreamer frees the pipeline (a weak reference's notification).
    private static let released: GWeakNotify = { user, _ in
        let shared = Unmanaged<IngestShared>.fromOpaque(user!).takeRetainedValue()
        shared.state.withLock { $0.statistics.pipelinesReleased += 1 }
    }

    private static let countDecoded: GstPadProbeCallback = { _, _, user in
        let now = ContinuousClock.now
        IngestPipeline.context(user).shared.state.withLock { state in
            state.statistics.decoded += 1
            state.lastProgress = now
        }
        return GST_PAD_PROBE_OK
    }

    /// Counts what reaches the scaler (what the sampler let through) and sizes the output
    /// whenever the decoded picture size is announced, including mid-stream changes.
    private static let beforeScaling: GstPadProbeCallback = { _, info, user in
        let context = IngestPipeline.context(user)
        guard let info else { return GST_PAD_PROBE_OK }
        if let event = CGStreamer_probeEvent(info) {
            guard CGStreamer_eventType(event) == GST_EVENT_CAPS else { return GST_PAD_PROBE_OK }
            var caps: UnsafeMutablePointer<GstCaps>?
            gst_event_parse_caps(event, &caps)
            var video = GstVideoInfo()
            guard let caps, gst_video_info_from_caps(&video, caps) != 0 else { return GST_PAD_PROBE_OK }
            let size = context.settings.target.resolve(
                width: Int(CGStreamer_infoWidth(&video)), height: Int(CGStreamer_infoHeight(&video)),
                parN: Int(CGStreamer_infoParN(&video)), parD: Int(CGStreamer_infoParD(&video))
            )
            let changed = context.lastTargetSize.withLock { last in
                defer { last = size }
                return last.map { $0 != size } ?? true
            }
            if changed, let filter = context.sizeFilter,
               let wanted = gst_caps_from_string("video/x-raw,width=\(size.width),height=\(size.height),pixel-aspect-ratio=1/1") {
                CGStreamer_setCaps(filter, "caps", wanted)
                CGStreamer_unrefCaps(wanted)
            }
            return GST_PAD_PROBE_OK
        }
        context.shared.state.withLock { $0.statistics.converted += 1 }
        return GST_PAD_PROBE_OK
    }

    /// Drops every buffer that is not a key frame before it reaches the decoder.
    private static let dropDeltaUnits: GstPadProbeCallback = { _, info, _ in
        guard let info, let buffer = CGStreamer_probeBuffer(info) else { return GST_PAD_PROBE_OK }
        return CGStreamer_bufferIsDelta(buffer) != 0 ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK
    }

    private static let elementAdded: CGStreamer_BinBinElementHandler = { _, _, element, _ in
        guard let element, let factory = gst_element_get_factory(element),
              let klass = gst_element_factory_get_metadata(factory, "klass")
        else { return }
        let kind = String(cString: klass)
        guard kind.contains("Decoder"), kind.contains("Video") else { return }
        if let pad = gst_element_get_static_pad(element, "sink") {
            gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, IngestPipeline.dropDeltaUnits, nil, nil)
            gst_object_unref(pad)
        }
    }

    /// Sets the RTSP options on the source element uridecodebin makes for the URI.
    private static let sourceSetup: CGStreamer_ElementElementHandler = { _, source, user in
        guard let source else { return }
        let settings = IngestPipeline.context(user).settings
        guard CGStreamer_hasProperty(source, "protocols") != 0, CGStreamer_hasProperty(source, "latency") != 0 else { return }
        let protocols = switch settings.rtspTransport {
        case .tcp: "tcp"
        case .udp: "udp"
        case .auto: "udp+udp-mcast+tcp"
        }
        CGStreamer_setFromString(source, "protocols", protocols)
        CGStreamer_setUInt(source, "latency", guint(settings.latency * 1000))
        if CGStreamer_hasProperty(source, "tcp-timeout") != 0 {
            CGStreamer_setUInt64(source, "tcp-timeout", guint64(settings.networkTimeout * 1e6))
        }
        if CGStreamer_hasProperty(source, "timeout") != 0 {
            CGStreamer_setUInt64(source, "timeout", guint64(settings.networkTimeout * 1e6))
        }
    }

    /// Every message ends here and is dropped. A sync handler that drops a message owns it
    /// and must release it (the bus does not): a message holds its source element, so one
    /// left alive keeps the whole pipeline alive, and a looping file or a reconnecting camera
    /// would leak a pipeline each time.
    private static let busMessage: GstBusSyncHandler = { _, message, user in
        guard let message else { return GST_BUS_DROP }
        defer { CGStreamer_unrefMessage(message) }
        let context = IngestPipeline.context(user)
        switch CGStreamer_messageType(message) {
        case GST_MESSAGE_ERROR:
            if let error = Message.error(of: message) { context.events(.error(error)) }
        case GST_MESSAGE_WARNING:
            if let error = Message.error(of: message) { context.events(.warning(error)) }
        case GST_MESSAGE_EOS:
            context.events(.endOfStream)
        default:
            break
        }
        return GST_BUS_DROP
    }
}

extension Duration {
    var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }
}
