import CGStreamer
import Foundation

/// How every Sightline pipeline reads a local file: `filesrc ! decodebin`, with the file
/// source kept in push mode.
///
/// Left alone (as in `uridecodebin`), decodebin runs the demuxer of a seekable file in pull
/// mode, on a streaming thread of its own that starts while decodebin is still plugging the
/// demuxer in, and decodebin discards every error an element posts during that time (it
/// tries elements and drops their complaints). A demuxer that fails at once, such as qtdemux
/// on an MP4 cut before its index, can post its only error inside that window: the error is
/// lost, nothing else ends the pipeline, and it never prerolls. With a few readings of a
/// truncated file at once on a busy machine, one in five to one in ten hung that way.
///
/// In push mode the file source's own thread types the stream, plugs the demuxer in and
/// only then hands it data, so the demuxer's errors come after decodebin has stopped
/// filtering and always reach the bus; a decoder that fails later fails the stream upstream,
/// and the file source reports it. The file source answers "push only" when asked how it can
/// be scheduled (a pad probe), which is all decodebin needs to choose push mode.
///
/// Not `filesrc ! queue ! decodebin`, the usual way to force push mode: GStreamer's queue
/// drops a serialized query that is waiting in it when downstream answers a buffer with
/// end-of-stream, without releasing the thread that asked (it checks for its own query,
/// which never comes), so a file source that asked at that moment waited forever. It
/// happened near the end of a damaged file, about once in a thousand readings.
enum FileFront {
    /// Elements `src` (the file) and `decode` (decodebin, stopping at `decoderCaps`).
    static func description(decoderCaps: String?) -> String {
        "filesrc name=src blocksize=65536 ! decodebin name=decode" + (decoderCaps.map { " caps=\($0)" } ?? "")
    }

    /// Sets the file to read on the `src` element built by `description` and keeps it in
    /// push mode.
    static func configure(_ path: String, in pipeline: Pipeline) throws(GStreamerError) {
        guard let source = pipeline.child("src"), let pad = gst_element_get_static_pad(source, "src") else {
            throw GStreamerError(message: "file pipeline is missing its source")
        }
        defer { gst_object_unref(pad) }
        CGStreamer_setString(source, "location", path)
        var status = stat()
        let seekable = stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG
        gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_QUERY_UPSTREAM, pushOnly, seekable ? UnsafeMutableRawPointer(bitPattern: 1) : nil, nil)
    }

    /// Answers the scheduling query in place of the file source: push mode only (seekable
    /// for a regular file, whose position a demuxer may move with seek events).
    private static let pushOnly: GstPadProbeCallback = { _, info, seekable in
        guard let info, let query = CGStreamer_probeQuery(info), CGStreamer_queryType(query) == GST_QUERY_SCHEDULING else {
            return GST_PAD_PROBE_OK
        }
        gst_query_set_scheduling(query, seekable == nil ? GstSchedulingFlags(rawValue: 0) : GST_SCHEDULING_FLAG_SEEKABLE, 1, -1, 0)
        gst_query_add_scheduling_mode(query, GST_PAD_MODE_PUSH)
        return GST_PAD_PROBE_HANDLED
    }

    /// The path of a `file://` URI; nil for any other URI.
    static func location(ofFileURI uri: String) -> String? {
        GStreamer.ensureInitialized()
        guard uri.lowercased().hasPrefix("file:"), let location = gst_uri_get_location(uri) else { return nil }
        defer { g_free(location) }
        return String(cString: location)
    }
}
