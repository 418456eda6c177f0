/// The last `size` frames of one stream, handed out every `stride` new frames.
///
/// The first window comes once `size` frames are held, then one every `stride` frames. With
/// `stride < size` windows overlap; with `stride > size` frames between windows are skipped.
/// Memory is bounded by `size` frames whatever the stream's length.
///
/// A frame whose picture size differs from the frames held (a camera that changed its
/// resolution) starts a new window, since the frames of one window are compared pixel
/// by pixel.
public struct FrameWindow: Sendable {
    public let size: Int
    public let stride: Int

    /// A ring of at most `size` frames; `start` is the oldest.
    private var ring: [Frame] = []
    private var start = 0
    /// Frames appended since the last window was handed out (or since the start).
    private var sinceLast = 0
    private var windowsMade = 0

    public init(size: Int, stride: Int) throws {
        guard size > 0 else {
            throw SightlineError(.invalidArgument, "window size must be at least 1 frame", context: ["size": "\(size)"])
        }
        guard stride > 0 else {
            throw SightlineError(.invalidArgument, "window stride must be at least 1 frame", context: ["stride": "\(stride)"])
        }
        self.size = size
        self.stride = stride
        ring.reserveCapacity(size)
    }

    /// The frames held, oldest first.
    public var frames: [Frame] {
        Array(ring[start...] + ring[..<start])
    }

    public var count: Int { ring.count }

    /// Adds a frame; returns a window (oldest first, `size` frames) when one is due.
    public mutating func append(_ frame: Frame) -> [Frame]? {
        if let held = ring.first, held.image.width != frame.image.width || held.image.height != frame.image.height {
            reset()
        }
        if ring.count < size {
            ring.append(frame)
        } else {
            ring[start] = frame
            start = (start + 1) % size
        }
        sinceLast += 1
        guard ring.count == size else { return nil }
        // The first window is due as soon as the ring is full; later ones every `stride` frames.
        let due = windowsMade == 0 ? sinceLast >= size : sinceLast >= stride
        guard due else { return nil }
        sinceLast = 0
        windowsMade += 1
        return frames
    }

    /// Forgets every frame held, e.g. after a reconnect, so no window spans a gap.
    public mutating func reset() {
        ring.removeAll(keepingCapacity: true)
        start = 0
        sinceLast = 0
        windowsMade = 0
    }
}
