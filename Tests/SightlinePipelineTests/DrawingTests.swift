import Foundation
import Testing
import SightlineCore
import SightlineGrounding
@testable import SightlinePipeline

@Suite struct DrawingTests {
    @Test func fontCoversPrintableASCII() {
        #expect(BitmapFont.glyphs.count == 95)
        // Every printable character but space has ink; space has none.
        for code in 33..<127 {
            let c = Character(UnicodeScalar(UInt8(code)))
            let ink = (0..<7).contains { y in (0..<5).contains { x in BitmapFont.ink(c, x: x, y: y) } }
            #expect(ink, "no ink for \(c)")
        }
        #expect(!(0..<7).contains { y in (0..<5).contains { x in BitmapFont.ink(" ", x: x, y: y) } })
        // The letter T: a full top row, then the middle column.
        #expect((0..<5).allSatisfy { BitmapFont.ink("T", x: $0, y: 0) })
        #expect((1..<7).allSatisfy { BitmapFont.ink("T", x: 2, y: $0) && !BitmapFont.ink("T", x: 0, y: $0) })
        // Characters outside ASCII draw as '?'.
        #expect((0..<7).allSatisfy { y in (0..<5).allSatisfy { x in BitmapFont.ink("é", x: x, y: y) == BitmapFont.ink("?", x: x, y: y) } })
    }

    @Test func textLandsWhereAsked() {
        var image = RGBImage(width: 40, height: 20)
        let label = image.text("T", x: 10, y: 5, scale: 2, .white)
        #expect(label == PixelBox(x: 10, y: 5, width: 5 * 2 + 4, height: 7 * 2 + 4))
        // Top row of T at scale 2, inside the 2-pixel padding.
        #expect(image[12, 7] == (255, 255, 255) && image[21, 8] == (255, 255, 255))
        #expect(image[11, 7] == (0, 0, 0))
    }

    @Test func pictureShowsMaskBoxPointAndLabel() throws {
        var image = RGBImage(width: 64, height: 48)
        var mask = try BinaryMask(width: 64, height: 48)
        for y in 20..<30 { for x in 20..<40 { mask[x, y] = true } }
        let frame = MatchFrame(pts: 1, score: 0.8, box: PixelBox(x: 20, y: 20, width: 20, height: 10),
                               point: PixelPoint(x: 30, y: 25), mask: RLEMask(mask))
        MatchPicture.draw(on: &image, frame: frame, text: "a cat", track: 3)
        let c = Colour.track(3)
        // Box outline in the track's colour; tinted (not fully painted) mask inside; untouched far away.
        #expect(image[20, 27] == (c.r, c.g, c.b))
        let inside = image[24, 27]
        #expect(inside != (0, 0, 0) && inside != (c.r, c.g, c.b))
        #expect(image[60, 45] == (0, 0, 0))
        // The label sits above the box.
        #expect((0..<20).contains { y in (20..<64).contains { x in image[x, y] != (0, 0, 0) } })
    }

    @Test func contactSheetLaysOutTiles() {
        let tile = RGBImage(width: 100, height: 50)
        let sheet = ContactSheet.make(title: "a cat", tiles: Array(repeating: (tile, "#1 t=0.5"), count: 5), columns: 4, tileWidth: 80)
        #expect(sheet.width == 4 * 80 + 5 * 8)
        let empty = ContactSheet.make(title: "a cat", tiles: [])
        #expect(empty.width > 0 && empty.height > 0)
    }

    @Test func resizeAveragesBlocks() throws {
        let image = try RGBImage(width: 2, height: 1, pixels: [0, 0, 0, 200, 100, 50])
        #expect(image.resized(width: 1, height: 1).pixels == [100, 50, 25])
        #expect(image.resized(width: 4, height: 2).pixels.count == 24)
    }

    @Test func progressLineShowsFraction() {
        #expect(ProgressBar.line(label: "x", done: 5, total: 10, detail: "d", width: 10) == "x [#####.....] 50% 5/10 d")
        #expect(ProgressBar.line(label: "x", done: 5, total: nil, detail: "frames", width: 10) == "x 5 frames")
    }
}
