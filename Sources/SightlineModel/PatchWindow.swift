import SightlineCore

/// A rectangle of cells of a frame's patch grid in full-frame framing (the grid
/// `CLIPModel.denseGrid` gives): columns `x ..< x + width`, rows `y ..< y + height`.
public struct PatchWindow: Sendable, Hashable {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    public var cellCount: Int { width * height }

    public func contains(x cx: Int, y cy: Int) -> Bool {
        cx >= x && cx < x + width && cy >= y && cy < y + height
    }
}

extension CLIPModel {
    /// The smallest window of the frame's patch grid (full-frame framing at `shortSide`) that
    /// holds every rectangle of `boxes` (in pixels of the frame as given, `x, y, width,
    /// height`), grown by `margin` cells on every side and kept inside the grid; nil when
    /// `boxes` is empty.
    public func patchWindow(covering boxes: [(x: Int, y: Int, width: Int, height: Int)], frameWidth: Int, frameHeight: Int,
                            shortSide: Int, margin: Int = 1) -> PatchWindow? {
        guard !boxes.isEmpty, frameWidth > 0, frameHeight > 0 else { return nil }
        let grid = denseGrid(width: frameWidth, height: frameHeight, shortSide: shortSide)
        // A frame pixel column u covers grid columns u * gridWidth / frameWidth onwards.
        var x0 = Int.max, y0 = Int.max, x1 = 0, y1 = 0
        for b in boxes {
            x0 = min(x0, b.x * grid.width / frameWidth)
            y0 = min(y0, b.y * grid.height / frameHeight)
            x1 = max(x1, ((b.x + b.width) * grid.width + frameWidth - 1) / frameWidth)
            y1 = max(y1, ((b.y + b.height) * grid.height + frameHeight - 1) / frameHeight)
        }
        x0 = max(0, x0 - margin); y0 = max(0, y0 - margin)
        x1 = min(grid.width, max(x1, x0 + 1) + margin); y1 = min(grid.height, max(y1, y0 + 1) + margin)
        return PatchWindow(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
    }

    /// ClearCLIP patch embeddings of one window of a frame, at the frame's own scale: the
    /// frame is resized as `encodeDense(_:shortSide:)` resizes it, the window's pixels are cut
    /// out and encoded alone, with the position embeddings of exactly those cells (their rows
    /// of the whole grid's interpolated table). The result's grid is the window's.
    ///
    /// Attention sees only the window's tokens, so the result differs from the same cells of
    /// a full encoding unless the window is the whole grid (`Docs/grounding.md`, "Encoding a
    /// window around motion", measures by how much).
    public func encodeDense(_ image: RGBImage, window: PatchWindow, shortSide: Int) throws -> DenseEmbeddings {
        let p = info.patchSize
        guard shortSide >= p else {
            throw SightlineError(.invalidArgument, "shortSide \(shortSide) is smaller than the patch size \(p)",
                                 context: ["shortSide": "\(shortSide)"])
        }
        let grid = denseGrid(width: image.width, height: image.height, shortSide: shortSide)
        guard window.width > 0, window.height > 0, window.x >= 0, window.y >= 0,
              window.x + window.width <= grid.width, window.y + window.height <= grid.height else {
            throw SightlineError(.invalidArgument, "the window is not inside the frame's \(grid.width)x\(grid.height) patch grid",
                                 context: ["window": "\(window.x),\(window.y) \(window.width)x\(window.height)"])
        }
        let resized = preprocessor.fullFrame(image, shortSide: shortSide, patchSize: p)
        let crop = Self.cut(resized, x: window.x * p, y: window.y * p, width: window.width * p, height: window.height * p)
        let dim = info.embedDim
        var values = [Float](repeating: 0, count: window.cellCount * dim)
        state.withLock { state in
            let table = positions(height: grid.height, width: grid.width, state: state)
            let positions = Weights(PositionInterpolation.slice(table.pointer, gridWidth: grid.width, dim: info.visionWidth, window: window))
            values.withUnsafeMutableBufferPointer { out in
                vision.encode([crop], lookup: preprocessor.lookup, positions: positions, output: .dense,
                              into: out.baseAddress!, workspace: state.workspace, pool: pool)
            }
        }
        return DenseEmbeddings(gridWidth: window.width, gridHeight: window.height, dim: dim, values: values)
    }

    /// The pixels `x ..< x + width`, `y ..< y + height` of `image` (inside it).
    static func cut(_ image: RGBImage, x: Int, y: Int, width: Int, height: Int) -> RGBImage {
        if x == 0, y == 0, width == image.width, height == image.height { return image }
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for row in 0..<height {
            let source = ((y + row) * image.width + x) * 3
            pixels.replaceSubrange((row * width * 3)..<((row + 1) * width * 3), with: image.pixels[source..<(source + width * 3)])
        }
        return ImageResampler.makeImage(width: width, height: height, pixels: pixels)
    }
}

extension DenseEmbeddings {
    /// A copy with the cells of `window` replaced by `patches` (the window's own grid, as
    /// `encodeDense(_:window:shortSide:)` returns it).
    public func merging(_ patches: DenseEmbeddings, at window: PatchWindow) -> DenseEmbeddings {
        precondition(patches.gridWidth == window.width && patches.gridHeight == window.height && patches.dim == dim,
                     "the patches do not have the window's grid and width")
        precondition(window.x >= 0 && window.y >= 0 && window.x + window.width <= gridWidth && window.y + window.height <= gridHeight,
                     "the window is not inside the grid")
        var merged = self
        let run = window.width * dim
        for row in 0..<window.height {
            let destination = ((window.y + row) * gridWidth + window.x) * dim
            merged.values.replaceSubrange(destination..<(destination + run), with: patches.values[(row * run)..<((row + 1) * run)])
        }
        return merged
    }
}
