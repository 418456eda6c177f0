import Foundation

/// One sampled, decoded picture of a stream.
public struct Frame: Sendable {
    /// The stream's id, as registered.
    public var stream: String
    /// Counts the stream's delivered frames from 0; it keeps counting across reconnects and
    /// loops, so a gap means frames were dropped on the way to the consumer.
    public var seq: UInt64
    /// Presentation time in seconds, in the stream's own time (restarts at 0 when a file
    /// loops or a live source reconnects).
    public var pts: Double
    /// Wall-clock time at which the frame reached Sightline.
    public var captureTime: Date
    public var image: RGBImage
    /// Whether the stream's change detector saw anything change in it (true when there is no
    /// detector): a frame without change may carry the last encoded result.
    public var changed = true
    /// Set by the engine when the frame's result was carried from the last encoded frame of
    /// its stream instead of computed.
    public var carried = false

    public init(stream: String, seq: UInt64, pts: Double, captureTime: Date, image: RGBImage) {
        self.stream = stream
        self.seq = seq
        self.pts = pts
        self.captureTime = captureTime
        self.image = image
    }
}
