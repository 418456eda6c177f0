import CGStreamer
import SightlineCore

/// Copies the RGB picture of an appsink sample into tightly packed rows. GStreamer pads RGB
/// rows to 4 bytes (and an upstream allocator may choose another stride), so rows are copied
/// one by one using the stride the buffer itself declares.
enum SampleCopy {
    struct Picture {
        var width: Int
        var height: Int
        /// Presentation time in stream time, in seconds (nil when the buffer carries none).
        var pts: Double?
    }

    /// Maps the sample, reads its size and hands the packed copy's destination to `fill`.
    /// - Parameter allocate: returns a pixel array of exactly `width * height * 3` bytes,
    ///   which is then written in place.
    static func copy(
        _ sample: OpaquePointer,
        into allocate: (_ width: Int, _ height: Int) -> [UInt8]
    ) throws(GStreamerError) -> (Picture, [UInt8]) {
        let raw = sample
        guard let caps = gst_sample_get_caps(raw), let buffer = gst_sample_get_buffer(raw) else {
            throw GStreamerError(message: "appsink sample without caps or buffer")
        }
        var info = GstVideoInfo()
        guard gst_video_info_from_caps(&info, caps) != 0 else {
            throw GStreamerError(message: "appsink sample with caps that are not raw video")
        }
        guard info.finfo.pointee.format == GST_VIDEO_FORMAT_RGB else {
            throw GStreamerError(message: "appsink sample is not packed RGB")
        }
        var frame = GstVideoFrame()
        guard gst_video_frame_map(&frame, &info, buffer, GST_MAP_READ) != 0 else {
            throw GStreamerError(message: "could not map a decoded frame")
        }
        defer { gst_video_frame_unmap(&frame) }
        let width = Int(CGStreamer_infoWidth(&info))
        let height = Int(CGStreamer_infoHeight(&info))
        let stride = Int(CGStreamer_frameStride(&frame, 0))
        let source = CGStreamer_framePlane(&frame, 0)!
        let rowBytes = width * 3
        var pixels = allocate(width, height)
        precondition(pixels.count == rowBytes * height, "pixel buffer of the wrong size")
        pixels.withUnsafeMutableBytes { destination in
            let base = destination.baseAddress!
            if stride == rowBytes {
                base.copyMemory(from: source, byteCount: rowBytes * height)
            } else {
                for row in 0..<height {
                    (base + row * rowBytes).copyMemory(from: source + row * stride, byteCount: rowBytes)
                }
            }
        }
        let pts = streamTime(of: buffer, in: raw)
        return (Picture(width: width, height: height, pts: pts), pixels)
    }

    private static func streamTime(of buffer: UnsafeMutablePointer<GstBuffer>, in sample: OpaquePointer) -> Double? {
        let pts = CGStreamer_bufferPTS(buffer)
        guard pts != CGStreamer_clockTimeNone() else { return nil }
        if let segment = gst_sample_get_segment(sample) {
            let time = gst_segment_to_stream_time(segment, GST_FORMAT_TIME, pts)
            if time != CGStreamer_clockTimeNone() { return Double(time) / 1e9 }
        }
        return Double(pts) / 1e9
    }
}
