import Logging
import SightlineCore
import Testing
@testable import SightlineModel

/// `encodeDense(_:window:shortSide:)` and `DenseEmbeddings.merging`: a window of a frame's
/// patch grid encoded alone at the frame's own scale, written into a full result.
@Suite("Patch windows")
struct PatchWindowTests {
    static let model = Result { try CLIPModel(directory: Fixtures.directory("tiny-gelu-p14"), threads: 2, logger: Logger(label: "test")) }

    /// A 200x112 frame at short side 56: a 7x4 grid of 14-pixel patches, interpolated positions
    /// (the model was trained on 4x4).
    static let frame = Fixtures.image(width: 200, height: 112, seed: 5)

    static func maxDifference(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Float {
        zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    static func cell(_ d: DenseEmbeddings, _ x: Int, _ y: Int) -> ArraySlice<Float> {
        d.values[((y * d.gridWidth + x) * d.dim)..<((y * d.gridWidth + x + 1) * d.dim)]
    }

    @Test("a window of the whole grid is the full encoding")
    func wholeGrid() throws {
        let model = try Self.model.get()
        let full = try model.encodeDense([Self.frame], shortSide: 56)[0]
        #expect(full.gridWidth == 7 && full.gridHeight == 4)
        let window = try model.encodeDense(Self.frame, window: PatchWindow(x: 0, y: 0, width: 7, height: 4), shortSide: 56)
        #expect(window.gridWidth == 7 && window.gridHeight == 4)
        #expect(Self.maxDifference(window.values[...], full.values[...]) < 1e-5)
    }

    @Test("a window's encoding depends on its own pixels only, and differs from the full encoding")
    func onlyTheWindow() throws {
        let model = try Self.model.get()
        let window = PatchWindow(x: 2, y: 1, width: 3, height: 2)
        let a = try model.encodeDense(Self.frame, window: window, shortSide: 56)
        #expect(a.gridWidth == 3 && a.gridHeight == 2)
        // Other pixels outside the window (with a margin: resampling reaches a few pixels
        // across a patch's edge), the same inside: the same window encoding.
        var other = Self.frame
        let scale = Double(Self.frame.width) / 98
        for y in 0..<other.height {
            for x in 0..<other.width {
                let gx = Double(x) / scale, gy = Double(y) / scale
                guard gx < 2 * 14 - 4 || gx >= 5 * 14 + 4 || gy < 14 - 4 || gy >= 3 * 14 + 4 else { continue }
                for c in 0..<3 { other.pixels[(y * other.width + x) * 3 + c] = 255 - other.pixels[(y * other.width + x) * 3 + c] }
            }
        }
        let b = try model.encodeDense(other, window: window, shortSide: 56)
        #expect(Self.maxDifference(a.values[...], b.values[...]) < 1e-5)
        // Global attention: the full encodings of the two frames differ inside the window.
        let fullA = try model.encodeDense([Self.frame], shortSide: 56)[0], fullB = try model.encodeDense([other], shortSide: 56)[0]
        #expect(Self.maxDifference(Self.cell(fullA, 3, 1), Self.cell(fullB, 3, 1)) > 1e-3)
    }

    @Test("each cell of a window is encoded with the position of its place in the whole grid")
    func positionsFollowTheCells() throws {
        let model = try Self.model.get()
        // A flat frame: every patch has the same pixels, so only the positions tell cells apart.
        let flat = try RGBImage(width: 200, height: 112, pixels: [UInt8](repeating: 90, count: 200 * 112 * 3))
        let left = try model.encodeDense(flat, window: PatchWindow(x: 0, y: 2, width: 3, height: 1), shortSide: 56)
        let right = try model.encodeDense(flat, window: PatchWindow(x: 4, y: 2, width: 3, height: 1), shortSide: 56)
        #expect(Self.maxDifference(left.values[...], right.values[...]) > 1e-3)
        // The window's table holds the rows of the whole grid's table for its cells, in order.
        let table = model.state.withLock { model.positions(height: 4, width: 7, state: $0) }
        let slice = PositionInterpolation.slice(table.pointer, gridWidth: 7, dim: model.info.visionWidth,
                                                window: PatchWindow(x: 4, y: 2, width: 3, height: 1))
        let d = model.info.visionWidth
        for k in 0..<3 {
            let expected = table.pointer + (1 + 2 * 7 + 4 + k) * d
            #expect((0..<d).allSatisfy { slice.pointer[(1 + k) * d + $0] == expected[$0] }, "position of window cell \(k)")
        }
        #expect((0..<d).allSatisfy { slice.pointer[$0] == table.pointer[$0] }, "class position")
    }

    @Test("merging writes the window's cells at their places and keeps every other cell")
    func merge() throws {
        let model = try Self.model.get()
        let full = try model.encodeDense([Self.frame], shortSide: 56)[0]
        let window = PatchWindow(x: 4, y: 1, width: 3, height: 2)
        let patches = try model.encodeDense(Self.frame, window: window, shortSide: 56)
        let merged = full.merging(patches, at: window)
        #expect(merged.gridWidth == full.gridWidth && merged.gridHeight == full.gridHeight)
        for y in 0..<full.gridHeight {
            for x in 0..<full.gridWidth {
                let expected = window.contains(x: x, y: y) ? Self.cell(patches, x - window.x, y - window.y) : Self.cell(full, x, y)
                #expect(Self.cell(merged, x, y) == expected, "cell \(x),\(y)")
            }
        }
        #expect(merged != full)
    }

    @Test("the window around boxes: patch-aligned, grown by the margin, inside the grid")
    func windowAroundBoxes() throws {
        let model = try Self.model.get()
        // 200x112 frame, 7x4 grid: a grid column is 200/7 = 28.6 frame pixels.
        let one = model.patchWindow(covering: [(x: 60, y: 30, width: 20, height: 20)], frameWidth: 200, frameHeight: 112, shortSide: 56, margin: 0)
        #expect(one == PatchWindow(x: 2, y: 1, width: 1, height: 1))
        let grown = model.patchWindow(covering: [(x: 60, y: 30, width: 20, height: 20)], frameWidth: 200, frameHeight: 112, shortSide: 56)
        #expect(grown == PatchWindow(x: 1, y: 0, width: 3, height: 3))
        let two = model.patchWindow(covering: [(x: 0, y: 0, width: 10, height: 10), (x: 190, y: 100, width: 10, height: 12)],
                                    frameWidth: 200, frameHeight: 112, shortSide: 56, margin: 2)
        #expect(two == PatchWindow(x: 0, y: 0, width: 7, height: 4))
        #expect(model.patchWindow(covering: [], frameWidth: 200, frameHeight: 112, shortSide: 56) == nil)
        #expect(throws: SightlineError.self) {
            try model.encodeDense(Self.frame, window: PatchWindow(x: 5, y: 0, width: 3, height: 1), shortSide: 56)
        }
    }
}
