import CGStreamer
import Foundation

/// How every Sightline pipeline reads a local file: `filesrc ! queue ! decodebin`.
///
/// Not `uridecodebin` nor `filesrc ! decodebin`: on a seekable file those run the demuxer in
/// pull mode, on a streaming thread of its own that starts while decodebin is still plugging
/// the demuxer in, and decodebin discards every error an element posts while it is being
/// plugged in (it tries elements and drops their complaints). A demuxer that fails at once,
/// such as qtdemux on an MP4 cut before its index, can post its only error inside that
/// window: the error is lost, nothing else ends the pipeline, and it never prerolls. That
/// happened to a few percent of the reads of truncated files on a busy machine.
///
/// The queue makes decodebin run in push mode: the demuxer is plugged in on the queue's
/// thread and first sees data on that same thread, after decodebin has stopped filtering,
/// so its errors always reach the bus. A decoder that fails later makes its upstream fail
/// with a flow error, which the queue, outside decodebin, reports. The cost is one thread
/// and a few megabytes of read-ahead per pipeline.
enum FileFront {
    /// Elements `src` (the file), `readahead` and `decode` (decodebin, stopping at `decoderCaps`).
    static func description(decoderCaps: String?) -> String {
        "filesrc name=src blocksize=65536 ! queue name=readahead max-size-buffers=0 max-size-time=0 max-size-bytes=4194304 ! "
            + "decodebin name=decode" + (decoderCaps.map { " caps=\($0)" } ?? "")
    }

    /// Sets the file to read on the `src` element built by `description`.
    static func setLocation(_ path: String, in pipeline: Pipeline) throws(GStreamerError) {
        guard let source = pipeline.child("src") else { throw GStreamerError(message: "file pipeline is missing its source") }
        CGStreamer_setString(source, "location", path)
    }

    /// The path of a `file://` URI; nil for any other URI.
    static func location(ofFileURI uri: String) -> String? {
        GStreamer.ensureInitialized()
        guard uri.lowercased().hasPrefix("file:"), let location = gst_uri_get_location(uri) else { return nil }
        defer { g_free(location) }
        return String(cString: location)
    }
}
