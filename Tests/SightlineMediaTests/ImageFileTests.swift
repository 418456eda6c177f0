import Foundation
import SightlineCore
import SightlineMedia
import Testing

@Suite struct ImageFileTests {
    /// A picture with structure in both directions and an odd width, so that row padding
    /// and channel order mistakes show.
    static func gradient(width: Int = 37, height: Int = 21) -> RGBImage {
        var image = RGBImage(width: width, height: height)
        for y in 0..<height {
            for x in 0..<width {
                let i = (y * width + x) * 3
                image.pixels[i] = UInt8(x * 255 / (width - 1))
                image.pixels[i + 1] = UInt8(y * 255 / (height - 1))
                image.pixels[i + 2] = UInt8((x + y) % 2 == 0 ? 200 : 40)
            }
        }
        return image
    }

    @Test func pngRoundTripIsExact() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("round.png")
        let image = Self.gradient()
        try ImageFile.writePNG(image, to: path)
        let read = try ImageFile.read(path)
        #expect(read == image)
    }

    @Test func writeLeavesNoTemporaryFiles() throws {
        let directory = try TemporaryDirectory()
        try ImageFile.writePNG(Self.gradient(width: 4, height: 4), to: directory.path("a.png"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.url.path) == ["a.png"])
    }

    @Test func readsCommittedJPEG() throws {
        let image = try ImageFile.read(Fixtures.davisJPEG)
        #expect(image.width == 854 && image.height == 480)
        // A real photograph: far from a flat colour.
        let mean = image.pixels.reduce(0) { $0 + Int($1) } / image.pixels.count
        let spread = image.pixels.reduce(0) { $0 + abs(Int($1) - mean) } / image.pixels.count
        #expect(spread > 20)
    }

    @Test func missingFileIsFileNotFound() {
        #expect {
            try ImageFile.read("/nonexistent/sightline/none.png")
        } throws: { ($0 as? SightlineError)?.code == .fileNotFound }
    }

    @Test func directoryIsNotAnImage() throws {
        let directory = try TemporaryDirectory()
        #expect {
            try ImageFile.read(directory.url.path)
        } throws: { ($0 as? SightlineError)?.code == .fileNotFound }
    }

    @Test func textFileIsInvalid() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("notes.png")
        try Data("this is not a picture, whatever its name says\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect {
            try ImageFile.read(path)
        } throws: { error in
            let error = error as? SightlineError
            return error?.code == .invalidFile && error?.context["file"] == path
        }
    }

    @Test(arguments: [0.5, 0.9])
    func truncatedPNGIsInvalid(keep fraction: Double) throws {
        let directory = try TemporaryDirectory()
        let whole = directory.path("whole.png")
        try ImageFile.writePNG(Self.gradient(width: 200, height: 150), to: whole)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: whole))
        let cut = directory.path("cut.png")
        try bytes.prefix(Int(Double(bytes.count) * fraction)).write(to: URL(fileURLWithPath: cut))
        #expect {
            try ImageFile.read(cut)
        } throws: { ($0 as? SightlineError)?.code == .invalidFile }
    }

    @Test func emptyFileIsInvalid() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("empty.jpg")
        _ = FileManager.default.createFile(atPath: path, contents: Data())
        #expect(throws: SightlineError.self) { try ImageFile.read(path) }
    }

    /// Bytes in memory decode to the very picture their file decodes to: JPEG and PNG.
    @Test func decodesBytesAsReadDecodesTheFile() throws {
        let jpeg = try Data(contentsOf: URL(fileURLWithPath: Fixtures.davisJPEG))
        #expect(try ImageFile.decode([UInt8](jpeg), name: "bmx") == ImageFile.read(Fixtures.davisJPEG))
        let directory = try TemporaryDirectory()
        let path = directory.path("g.png")
        try ImageFile.writePNG(Self.gradient(), to: path)
        #expect(try ImageFile.decode([UInt8](Data(contentsOf: URL(fileURLWithPath: path))), name: "g") == Self.gradient())
    }

    @Test(arguments: [0, 1, 2])
    func bytesThatHoldNoPictureAreInvalidAndNamed(_ kind: Int) throws {
        let jpeg = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.davisJPEG)))
        let bytes: [UInt8] = switch kind {
        case 0: []
        case 1: Array("this is not a picture\n".utf8)
        default: Array(jpeg.prefix(100))
        }
        #expect {
            try ImageFile.decode(bytes, name: "case-\(kind)")
        } throws: { error in
            let error = error as? SightlineError
            return error?.code == .invalidFile && error?.context["image"] == "case-\(kind)"
        }
    }

    @Test func writeIntoMissingDirectoryFails() {
        #expect {
            try ImageFile.writePNG(Self.gradient(), to: "/nonexistent/sightline/out.png")
        } throws: { ($0 as? SightlineError)?.code == .fileNotFound }
    }
}
