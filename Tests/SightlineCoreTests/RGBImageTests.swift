import Testing
import SightlineCore

@Suite struct RGBImageTests {
    @Test func rejectsBufferOfWrongSize() {
        #expect(throws: SightlineError.self) { try RGBImage(width: 2, height: 2, pixels: [0, 1, 2]) }
    }

    @Test(arguments: [(0, 4), (4, 0), (-1, 3)])
    func rejectsNonPositiveSize(width: Int, height: Int) {
        #expect(throws: SightlineError.self) { try RGBImage(width: width, height: height, pixels: []) }
    }

    @Test func readsPixelsRowMajor() throws {
        let image = try RGBImage(width: 2, height: 1, pixels: [1, 2, 3, 4, 5, 6])
        #expect(image[1, 0] == (4, 5, 6))
    }

    @Test func errorDescriptionNamesContext() {
        let error = SightlineError(.invalidFile, "truncated", context: ["file": "/x/model.safetensors"])
        #expect(error.description == "invalid_file: truncated (file=/x/model.safetensors)")
    }
}
