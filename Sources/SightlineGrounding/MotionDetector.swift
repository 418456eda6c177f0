import SightlineCore

/// What changed in a frame since the scene a stream's camera usually shows, found cheaply on a
/// small grayscale copy, so that the encoder can be run only where and when something moved.
///
/// The copy is the frame's luma averaged over square blocks (a 640x360 frame becomes 160x90),
/// which averages compression noise away. The background is a running average of those
/// copies. The frame's overall brightness is first matched to the background's (a gain and
/// an offset fitted by least squares, as a camera's exposure changes them); a pixel is
/// changed when it still differs from the background by more than a fixed threshold, so
/// slow lighting drift is no motion. Changed pixels are counted per cell; cells with enough
/// of them, joined where they touch, give the motion boxes.
///
/// A whole frame that changes at once is a global change: its brightness moved the average
/// pixel by more than `globalShift` levels (an exposure step, an IR switch), or most of its
/// pixels changed (a scene cut, a camera moved). The background becomes that frame, so it is
/// one refresh, not endless motion. The first frame, and a frame of another size (a source that
/// reconnected at another resolution), are global changes too. A camera with noise over the
/// whole picture (rain, flicker) changes globally at every frame, so it runs at full rate.
public struct MotionDetector: Sendable {
    public struct Parameters: Sendable, Equatable {
        /// The thumbnail is at most this wide: frames are averaged over square blocks of
        /// `width / thumbnailWidth` pixels (rounded up).
        public var thumbnailWidth = 160
        /// Gray levels (0...255) by which a thumbnail pixel must differ from the background,
        /// after the frame's brightness shift, to count as changed.
        public var threshold: Float = 16
        /// Side of a cell, in thumbnail pixels.
        public var cell = 4
        /// Fraction of a cell's pixels that must change for the cell to count.
        public var cellFill = 0.25
        /// Regions of fewer cells are left out (a leaf, a compression block).
        public var minimumCells = 2
        /// Fraction of the thumbnail that changes at once for a global change.
        public var globalFraction = 0.5
        /// Gray levels by which the fitted brightness change moves the average pixel for a
        /// global change.
        public var globalShift: Float = 12
        /// How fast the background follows the scene where nothing moves, and where something
        /// does (slower, so that a thing that stopped becomes background only after a while).
        public var adaptation: Float = 0.1
        public var movingAdaptation: Float = 0.05

        public init() {}
    }

    /// One frame's verdict.
    public struct Result: Sendable, Equatable {
        /// Fraction of the frame's area covered by the cells in motion against the background
        /// (1 for a global change).
        public var fraction: Double
        /// The regions that differ from the background (the scene the camera usually shows),
        /// in pixels of the frame given.
        public var boxes: [PixelBox]
        /// The whole frame changed (or it is the first): the background was replaced.
        public var globalChange: Bool
        /// Something changed since the last frame that was reported changed (the last one the
        /// engine encoded): a region of cells, or a global change. A person who walked in and
        /// stands still differs from the background (boxes) but has not changed since.
        public var changed: Bool

        public init(fraction: Double, boxes: [PixelBox], globalChange: Bool, changed: Bool) {
            self.fraction = fraction
            self.boxes = boxes
            self.globalChange = globalChange
            self.changed = changed
        }

        static let global = Result(fraction: 1, boxes: [], globalChange: true, changed: true)
    }

    public let parameters: Parameters
    private var background: [Float] = []
    /// The thumbnail of the last frame reported changed.
    private var reference: [Float] = []
    private var frameSize = (width: 0, height: 0)

    public init(parameters: Parameters = Parameters()) {
        self.parameters = parameters
    }

    /// Compares `image` with the background and with the last changed frame, then lets the
    /// background follow it.
    public mutating func update(_ image: RGBImage) -> Result {
        let thumb = Thumbnail(image, maxWidth: parameters.thumbnailWidth)
        guard frameSize == (image.width, image.height), background.count == thumb.pixels.count else {
            frameSize = (image.width, image.height)
            background = thumb.pixels
            reference = thumb.pixels
            return .global
        }
        let scene = compare(thumb.pixels, with: background)
        if Double(scene.count) >= parameters.globalFraction * Double(scene.changed.count) {
            // Another scene: it is the background now.
            background = thumb.pixels
            reference = thumb.pixels
            return .global
        }
        if scene.shift > parameters.globalShift {
            // The same scene in another exposure: the background, averaged over many frames,
            // is carried over in the new brightness rather than replaced by one noisy frame.
            for i in background.indices {
                background[i] = scene.changed[i] ? thumb.pixels[i] : scene.gain * background[i] + scene.offset
            }
            reference = thumb.pixels
            return .global
        }
        for i in background.indices {
            let rate = scene.changed[i] ? parameters.movingAdaptation : parameters.adaptation
            background[i] += rate * (thumb.pixels[i] - background[i])
        }
        var result = regions(of: scene.changed, thumb: thumb, image: image)
        // Since the last changed frame: brightness matched the same way, cells the same way.
        let sinceLast = compare(thumb.pixels, with: reference)
        result.changed = !cells(of: sinceLast.changed, thumb: thumb).isEmpty
        if result.changed { reference = thumb.pixels }
        return result
    }

    /// Which thumbnail pixels differ from `base` once the frame's brightness is fitted to it,
    /// how many, and the fit.
    private func compare(_ pixels: [Float], with base: [Float]) -> (changed: [Bool], count: Int, shift: Float, gain: Float, offset: Float) {
        let (gain, offset) = Self.brightnessFit(from: base, to: pixels)
        var changed = [Bool](repeating: false, count: base.count)
        var count = 0
        var shift: Float = 0
        for i in base.indices {
            let expected = gain * base[i] + offset
            shift += abs(expected - base[i])
            if abs(pixels[i] - expected) > parameters.threshold {
                changed[i] = true
                count += 1
            }
        }
        return (changed, count, shift / Float(max(1, base.count)), gain, offset)
    }

    /// The cells in motion, joined into boxes in the frame's pixels.
    private func regions(of changed: [Bool], thumb: Thumbnail, image: RGBImage) -> Result {
        // Cells to frame pixels: a cell is `cell` thumbnail pixels of `block` frame pixels.
        let scale = max(1, parameters.cell) * thumb.block
        var boxes: [PixelBox] = []
        var movingCells = 0
        for e in cells(of: changed, thumb: thumb) {
            movingCells += e.cells
            let x = e.x0 * scale, y = e.y0 * scale
            boxes.append(PixelBox(x: x, y: y, width: min(image.width, e.x1 * scale) - x, height: min(image.height, e.y1 * scale) - y))
        }
        let fraction = min(1, Double(movingCells * scale * scale) / Double(image.width * image.height))
        return Result(fraction: fraction, boxes: boxes, globalChange: false, changed: false)
    }

    /// The regions of touching cells in which enough pixels changed, of `minimumCells` cells
    /// or more, as cell extents.
    private func cells(of changed: [Bool], thumb: Thumbnail) -> [(x0: Int, y0: Int, x1: Int, y1: Int, cells: Int)] {
        let side = max(1, parameters.cell)
        let columns = (thumb.width + side - 1) / side, rows = (thumb.height + side - 1) / side
        var counts = [Int](repeating: 0, count: columns * rows)
        var sizes = [Int](repeating: 0, count: columns * rows)
        for y in 0..<thumb.height {
            for x in 0..<thumb.width {
                let c = (y / side) * columns + x / side
                sizes[c] += 1
                if changed[y * thumb.width + x] { counts[c] += 1 }
            }
        }
        var active = [Float](repeating: 0, count: columns * rows)
        for c in active.indices where Double(counts[c]) >= parameters.cellFill * Double(sizes[c]) { active[c] = 1 }
        let components = ConnectedComponents(values: active, width: columns, height: rows, threshold: 0.5)
        var extents = [(x0: Int, y0: Int, x1: Int, y1: Int, cells: Int)](repeating: (Int.max, Int.max, 0, 0, 0), count: components.count + 1)
        for run in components.runs {
            let e = extents[run.component]
            extents[run.component] = (min(e.x0, run.x0), min(e.y0, run.y), max(e.x1, run.x1), max(e.y1, run.y + 1), e.cells + run.x1 - run.x0)
        }
        return extents.dropFirst().filter { $0.cells >= parameters.minimumCells }
    }

    /// `current ≈ gain * background + offset` by least squares: how the camera's exposure
    /// moved the whole picture. A flat background fits an offset only.
    private static func brightnessFit(from background: [Float], to current: [Float]) -> (gain: Float, offset: Float) {
        let n = Double(background.count)
        var sx = 0.0, sy = 0.0, sxx = 0.0, sxy = 0.0
        for i in background.indices {
            let x = Double(background[i]), y = Double(current[i])
            sx += x; sy += y; sxx += x * x; sxy += x * y
        }
        let variance = sxx / n - (sx / n) * (sx / n)
        guard variance > 1 else { return (1, Float((sy - sx) / n)) }
        let gain = (sxy / n - (sx / n) * (sy / n)) / variance
        return (Float(gain), Float(sy / n - gain * sx / n))
    }
}

extension MotionDetector {
    /// `update` on the shared worker: a pass over every pixel, kept off the cooperative pool.
    public mutating func updateOffPool(_ image: RGBImage) async throws -> Result {
        let (next, result) = try await WorkerThread.shared.run { [self] () -> (MotionDetector, Result) in
            var detector = self
            let result = detector.update(image)
            return (detector, result)
        }
        self = next
        return result
    }
}

/// A frame's luma averaged over square blocks.
struct Thumbnail {
    let width: Int
    let height: Int
    /// Frame pixels per thumbnail pixel, along each side.
    let block: Int
    /// 0...255, row-major.
    let pixels: [Float]

    init(_ image: RGBImage, maxWidth: Int) {
        let block = max(1, (image.width + max(1, maxWidth) - 1) / max(1, maxWidth))
        // Partial blocks at the right and bottom edges are averaged over what they hold.
        let width = (image.width + block - 1) / block, height = (image.height + block - 1) / block
        var sums = [Float](repeating: 0, count: width * height)
        var counts = [Float](repeating: 0, count: width * height)
        image.pixels.withUnsafeBufferPointer { p in
            for y in 0..<image.height {
                let row = (y / block) * width
                for x in 0..<image.width {
                    let i = (y * image.width + x) * 3
                    // Rec. 601 luma, as a camera's Y plane holds it.
                    let luma = 0.299 * Float(p[i]) + 0.587 * Float(p[i + 1]) + 0.114 * Float(p[i + 2])
                    sums[row + x / block] += luma
                    counts[row + x / block] += 1
                }
            }
        }
        for i in sums.indices { sums[i] /= counts[i] }
        self.width = width
        self.height = height
        self.block = block
        self.pixels = sums
    }
}
