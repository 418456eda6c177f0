import Foundation
import CGStreamer
import SightlineCore

/// Process-wide GStreamer setup. `gst_init` runs once, on first use, whatever thread gets there first.
enum GStreamer {
    private static let initialized: Bool = {
        gst_init(nil, nil)
        return true
    }()

    static func ensureInitialized() {
        _ = initialized
    }

    /// Whether some installed element can read URIs of this scheme (e.g. "rtsp", "file").
    static func canRead(scheme: String) -> Bool {
        ensureInitialized()
        return gst_uri_protocol_is_supported(GST_URI_SRC, scheme) != 0
    }

    static func version() -> String {
        ensureInitialized()
        guard let raw = gst_version_string() else { return "GStreamer" }
        defer { g_free(raw) }
        return String(cString: raw)
    }
}

/// The one place a GStreamer error (a `GError` plus its debug text) becomes a Swift value.
struct GStreamerError: Error, Sendable {
    /// GStreamer's own message, e.g. "Could not open resource for reading."
    var message: String
    /// The element that posted it, e.g. "source" or "qtdemux0".
    var element: String?
    /// GStreamer's debug detail (file, function, and often the reason from the OS or server).
    var debug: String?
    /// GStreamer's core error "missing plug-in": no element can handle a stream.
    var isMissingPlugin = false

    /// Takes ownership of both and frees them.
    init(consuming error: UnsafeMutablePointer<GError>?, debug: UnsafeMutablePointer<gchar>?, element: String?) {
        if let error, let text = error.pointee.message {
            message = String(cString: text)
            isMissingPlugin = error.pointee.domain == gst_core_error_quark()
                && error.pointee.code == GST_CORE_ERROR_MISSING_PLUGIN.rawValue
        } else {
            message = "unknown GStreamer error"
        }
        self.debug = debug.map { String(cString: $0) }
        self.element = element
        CGStreamer_errorFree(error)
        g_free(debug)
    }

    init(message: String, element: String? = nil, debug: String? = nil) {
        self.message = message
        self.element = element
        self.debug = debug
    }

    /// One line for statuses and logs: the message, the element, and the last line of the
    /// debug text, which usually carries the reason (an errno, an RTSP status).
    var summary: String {
        var text = message
        if let element { text += " [\(element)]" }
        if let reason = Self.reason(inDebug: debug) { text += ": " + reason }
        return text
    }

    /// The debug text reads "file.c(123): function (): /GstPipeline:path/Element:name" and,
    /// on a following line, the reason (an errno text, an RTSP status) when there is one.
    /// Only that reason is worth showing to a user.
    static func reason(inDebug debug: String?) -> String? {
        guard let debug else { return nil }
        let lines = debug.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        if lines.count > 1, let last = lines.last, !last.isEmpty { return last }
        guard let only = lines.first, !only.isEmpty else { return nil }
        let isLocation = only.contains("(): ") || only.hasPrefix("../") || only.hasPrefix("/")
        return isLocation ? nil : only
    }

    func sightlineError(_ code: SightlineError.Code = .media, context: [String: String]) -> SightlineError {
        SightlineError(code, summary, context: context)
    }
}

/// Owns one GStreamer pipeline; its elements are looked up by the names given in the launch
/// description. Stopping (state NULL) can block while streaming threads finish, so owners of
/// live pipelines call `stop()` from a dedicated thread; `deinit` stops as a last resort.
final class Pipeline: @unchecked Sendable {
    let element: UnsafeMutablePointer<GstElement>
    private let bus: OpaquePointer?

    /// - Parameter description: gst-launch syntax. Never interpolate user input into it (a URI
    ///   or path could carry pipeline syntax); set such values with `set(_:_:on:)` instead.
    init(_ description: String) throws(GStreamerError) {
        GStreamer.ensureInitialized()
        var error: UnsafeMutablePointer<GError>?
        let parsed = gst_parse_launch(description, &error)
        if let error {
            if let parsed { gst_object_unref(parsed) }
            throw GStreamerError(consuming: error, debug: nil, element: nil)
        }
        guard let parsed else { throw GStreamerError(message: "could not build pipeline: \(description)") }
        element = CGStreamer_element(parsed)
        bus = OpaquePointer(gst_element_get_bus(element))
    }

    deinit {
        gst_element_set_state(element, GST_STATE_NULL)
        if let bus { gst_object_unref(UnsafeMutableRawPointer(bus)) }
        gst_object_unref(element)
    }

    /// An element of the pipeline by name; the pipeline keeps it alive.
    func child(_ name: String) -> UnsafeMutablePointer<GstElement>? {
        guard let found = gst_bin_get_by_name(CGStreamer_bin(element), name) else { return nil }
        // The pipeline holds its own reference for as long as it lives.
        gst_object_unref(found)
        return found
    }

    @discardableResult
    func setState(_ state: GstState) -> GstStateChangeReturn {
        gst_element_set_state(element, state)
    }

    func stop() {
        gst_element_set_state(element, GST_STATE_NULL)
    }

    /// Blocks up to `timeout` seconds for the next message of the given types.
    func popMessage(_ types: GstMessageType, timeout: Double) -> Message? {
        guard let bus else { return nil }
        let nanos = GstClockTime(max(0, timeout) * 1e9)
        guard let message = gst_bus_timed_pop_filtered(UnsafeMutablePointer(bus), nanos, types) else { return nil }
        return Message(message)
    }

    /// Installs a handler run on whichever thread posts each message (streaming threads,
    /// mostly). It must not block. The pipeline keeps `target` alive until it is released.
    func setSyncHandler(_ handler: GstBusSyncHandler, target: UnsafeMutableRawPointer?) {
        guard let bus else { return }
        gst_bus_set_sync_handler(UnsafeMutablePointer(bus), handler, target, nil)
    }

    func clearSyncHandler() {
        guard let bus else { return }
        gst_bus_set_sync_handler(UnsafeMutablePointer(bus), nil, nil, nil)
    }
}

/// Owns one bus message.
final class Message {
    let raw: UnsafeMutablePointer<GstMessage>
    init(_ raw: UnsafeMutablePointer<GstMessage>) { self.raw = raw }
    deinit { CGStreamer_unrefMessage(raw) }

    var type: GstMessageType { CGStreamer_messageType(raw) }
    var sourceName: String? { CGStreamer_objectName(CGStreamer_messageSource(raw)).map { String(cString: $0) } }

    /// The error or warning carried by an ERROR or WARNING message.
    var error: GStreamerError? { Message.error(of: raw) }

    static func error(of raw: UnsafeMutablePointer<GstMessage>) -> GStreamerError? {
        var error: UnsafeMutablePointer<GError>?
        var debug: UnsafeMutablePointer<gchar>?
        switch CGStreamer_messageType(raw) {
        case GST_MESSAGE_ERROR: gst_message_parse_error(raw, &error, &debug)
        case GST_MESSAGE_WARNING: gst_message_parse_warning(raw, &error, &debug)
        default: return nil
        }
        let source = CGStreamer_objectName(CGStreamer_messageSource(raw)).map { String(cString: $0) }
        return GStreamerError(consuming: error, debug: debug, element: source)
    }
}
