import CGStreamer
import Foundation
import SightlineCore

/// Still images in and out through GStreamer: reading decodes whatever `decodebin` opens
/// (PNG, JPEG, and the first frame of a video), from a file or from bytes in memory; writing
/// encodes PNG.
///
/// Each call blocks the calling thread for the few milliseconds a pipeline takes; call them
/// from a command-line tool or a dedicated thread, not from a task on the cooperative pool.
public enum ImageFile {
    /// Seconds a decode or encode may take before it is abandoned with an error: a pipeline
    /// that stops making progress must not hang its caller. Far more than any picture needs.
    public static let defaultTimeout = 30.0

    /// - Parameter timeout: seconds before giving up with a `media_error` (see `defaultTimeout`).
    public static func read(_ path: String, timeout: Double = defaultTimeout) throws -> RGBImage {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw SightlineError(.fileNotFound, "no such image file", context: ["file": path])
        }
        guard !isDirectory.boolValue, FileManager.default.isReadableFile(atPath: path) else {
            throw SightlineError(.fileNotFound, "not a readable file", context: ["file": path])
        }
        let pipeline: Pipeline
        do {
            pipeline = try Pipeline(FileFront.description(decoderCaps: nil) + Self.toRGB)
            try FileFront.configure(path, in: pipeline)
        } catch {
            throw error.sightlineError(context: ["file": path])
        }
        return try firstPicture(of: pipeline, timeout: timeout, context: ["file": path]) {}
    }

    /// Decodes a picture held in memory (the bytes of a JPEG or PNG file) as `read` decodes a
    /// file: for pictures built into the program, which must not depend on files beside it.
    /// `name` says which picture in errors.
    ///
    /// The bytes go in through an app source rather than a temporary file, so that decoding
    /// needs no writable directory (a hardened service may have none).
    ///
    /// - Parameter timeout: seconds before giving up with a `media_error` (see `defaultTimeout`).
    public static func decode(_ bytes: [UInt8], name: String, timeout: Double = defaultTimeout) throws -> RGBImage {
        let context = ["image": name]
        guard !bytes.isEmpty else { throw SightlineError(.invalidFile, "no bytes to decode", context: context) }
        let pipeline: Pipeline
        do {
            pipeline = try Pipeline("appsrc name=src ! decodebin" + Self.toRGB)
        } catch {
            throw error.sightlineError(context: context)
        }
        guard let source = pipeline.child("src") else {
            throw SightlineError(.media, "image pipeline is missing its elements", context: context)
        }
        let appSource = CGStreamer_appSrc(source)
        return try firstPicture(of: pipeline, timeout: timeout, context: context) {
            guard let buffer = gst_buffer_new_allocate(nil, gsize(bytes.count), nil) else {
                throw SightlineError(.system, "could not allocate \(bytes.count) bytes", context: context)
            }
            var map = GstMapInfo()
            guard gst_buffer_map(buffer, &map, GST_MAP_WRITE) != 0 else {
                CGStreamer_unrefBuffer(buffer)
                throw SightlineError(.system, "could not map a buffer", context: context)
            }
            bytes.withUnsafeBufferPointer { map.data.update(from: $0.baseAddress!, count: bytes.count) }
            gst_buffer_unmap(buffer, &map)
            // The app source takes the buffer; the end of stream tells the decoder that the
            // picture is whole.
            _ = gst_app_src_push_buffer(appSource, buffer)
            _ = gst_app_src_end_of_stream(appSource)
        }
    }

    /// What follows the decoder in both readers: RGB into a sink named `sink` that holds one picture.
    private static let toRGB = " ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false max-buffers=1"

    /// Prerolls `pipeline` (feeding it with `feed` once it is starting) and copies the first
    /// picture out of its sink.
    private static func firstPicture(of pipeline: Pipeline, timeout: Double, context: [String: String],
                                     feed: () throws -> Void) throws -> RGBImage {
        guard let sink = pipeline.child("sink") else {
            throw SightlineError(.media, "image pipeline is missing its elements", context: context)
        }
        defer { pipeline.stop() }
        if pipeline.setState(GST_STATE_PAUSED) == GST_STATE_CHANGE_FAILURE, let message = pipeline.popMessage(GST_MESSAGE_ERROR, timeout: 0), let error = message.error {
            throw error.sightlineError(.invalidFile, context: context)
        }
        try feed()
        // Prerolled means the first picture sits in the sink; an error or end-of-stream
        // before that means the input holds no picture GStreamer can decode.
        let wanted = GstMessageType(GST_MESSAGE_ERROR.rawValue | GST_MESSAGE_EOS.rawValue | GST_MESSAGE_ASYNC_DONE.rawValue)
        guard let message = pipeline.popMessage(wanted, timeout: timeout) else {
            throw SightlineError(.media, "decoding the image took longer than \(Self.format(timeout)) s", context: context)
        }
        if let error = message.error {
            throw error.sightlineError(.invalidFile, context: context)
        }
        guard message.type == GST_MESSAGE_ASYNC_DONE,
              let sample = gst_app_sink_try_pull_preroll(CGStreamer_appSink(sink), 0)
        else {
            throw SightlineError(.invalidFile, "\(context["file"] != nil ? "file" : "input") holds no picture", context: context)
        }
        defer { CGStreamer_unrefSample(sample) }
        let (picture, pixels): (SampleCopy.Picture, [UInt8])
        do {
            (picture, pixels) = try SampleCopy.copy(sample) { width, height in
                [UInt8](repeating: 0, count: width * height * 3)
            }
        } catch {
            throw error.sightlineError(.invalidFile, context: context)
        }
        return try RGBImage(width: picture.width, height: picture.height, pixels: pixels)
    }

    /// Writes a PNG atomically (`AtomicFile`): to a temporary file beside `path`, then fsynced
    /// and renamed, so that a failed write or a crash never leaves a truncated image behind.
    ///
    /// - Parameter timeout: seconds before giving up with a `media_error` (see `defaultTimeout`).
    public static func writePNG(_ image: RGBImage, to path: String, timeout: Double = defaultTimeout) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw SightlineError(.fileNotFound, "directory does not exist", context: ["file": path])
        }
        let temporary = AtomicFile.temporaryPath(for: path)
        let pipeline: Pipeline
        do {
            pipeline = try Pipeline("appsrc name=src format=time ! videoconvert ! pngenc ! filesink name=sink")
        } catch {
            throw error.sightlineError(context: ["file": path])
        }
        guard let source = pipeline.child("src"), let sink = pipeline.child("sink") else {
            throw SightlineError(.media, "PNG pipeline is missing its elements", context: ["file": path])
        }
        CGStreamer_setString(sink, "location", temporary)
        let appSource = CGStreamer_appSrc(source)
        var info = GstVideoInfo()
        gst_video_info_set_format(&info, GST_VIDEO_FORMAT_RGB, guint(image.width), guint(image.height))
        info.fps_n = 1
        info.fps_d = 1
        let caps = gst_video_info_to_caps(&info)
        gst_app_src_set_caps(appSource, caps)
        CGStreamer_unrefCaps(caps!)

        defer {
            pipeline.stop()
            unlink(temporary)
        }
        pipeline.setState(GST_STATE_PLAYING)
        // GStreamer's RGB rows are padded to 4 bytes; lay the rows out that way.
        let stride = Int(CGStreamer_infoStride(&info, 0))
        let rowBytes = image.width * 3
        let size = Int(CGStreamer_infoSize(&info))
        guard let buffer = gst_buffer_new_allocate(nil, gsize(size), nil) else {
            throw SightlineError(.system, "could not allocate \(size) bytes", context: ["file": path])
        }
        var map = GstMapInfo()
        guard gst_buffer_map(buffer, &map, GST_MAP_WRITE) != 0 else {
            CGStreamer_unrefBuffer(buffer)
            throw SightlineError(.system, "could not map a frame buffer", context: ["file": path])
        }
        image.pixels.withUnsafeBytes { pixels in
            for row in 0..<image.height {
                (map.data + row * stride).update(from: pixels.baseAddress!.assumingMemoryBound(to: UInt8.self) + row * rowBytes, count: rowBytes)
            }
        }
        gst_buffer_unmap(buffer, &map)
        // The app source takes the buffer.
        _ = gst_app_src_push_buffer(appSource, buffer)
        _ = gst_app_src_end_of_stream(appSource)

        let wanted = GstMessageType(GST_MESSAGE_ERROR.rawValue | GST_MESSAGE_EOS.rawValue)
        guard let message = pipeline.popMessage(wanted, timeout: timeout) else {
            throw SightlineError(.media, "encoding the PNG took longer than \(Self.format(timeout)) s", context: ["file": path])
        }
        if let error = message.error {
            throw error.sightlineError(context: ["file": path])
        }
        pipeline.stop()
        try AtomicFile.rename(temporary, to: path)
    }

    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(format: "%.1f", seconds)
    }
}
