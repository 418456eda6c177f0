import Foundation
import SightlineCore
import SightlineMedia
import SightlineTestSupport
import Testing

/// `sightline embed` end to end: the built binary, PNG files decoded by GStreamer, JSON out.
@Suite("sightline embed")
struct EmbedCommandTests {
    static let model = Fixtures.directory("tiny-gelu-p14")

    static func run(_ arguments: [String]) async throws -> (status: Int32, output: String, error: String) {
        let r = try await ChildProcesses.run(BuiltProducts.path("sightline"), arguments)
        return (r.status, r.stdout, r.stderr)
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    static func floats(_ value: Any?) -> [Float] {
        (value as? [NSNumber] ?? []).map(\.floatValue)
    }

    @Test("texts and PNG images give the reference embeddings, pooled and dense")
    func embeddings() async throws {
        let golden = try Fixtures.golden("tiny-gelu-p14")
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var files: [String] = []
        for spec in golden.images {
            let path = "\(directory)/\(spec.name).png"
            try ImageFile.writePNG(Fixtures.image(width: spec.width, height: spec.height, seed: spec.seed), to: path)
            files.append(path)
        }
        let pooled = try await Self.run(["embed", "--model", Self.model, "--json"] + golden.texts.prefix(3).flatMap { ["--text", $0] }
                                  + files.flatMap { ["--image", $0] })
        #expect(pooled.status == 0, "\(pooled.error)")
        let result = try Self.json(pooled.output)
        #expect((result["model"] as? [String: Any])?["test_model"] as? Bool == true)
        let texts = try #require(result["texts"] as? [[String: Any]])
        #expect(texts.count == 3)
        for (i, entry) in texts.enumerated() {
            #expect(Fixtures.maxAbsDifference(Self.floats(entry["embedding"]), golden.text_embeddings[i]) <= 1e-4)
        }
        let images = try #require(result["images"] as? [[String: Any]])
        #expect(images.count == files.count)
        for (i, entry) in images.enumerated() {
            #expect(entry["width"] as? Int == golden.images[i].width && entry["framing"] as? String == "center_crop")
            #expect(Fixtures.maxAbsDifference(Self.floats(entry["embedding"]), golden.image_embeddings[i]) <= 1e-4)
        }
        let similarities = try #require(result["similarities"] as? [[NSNumber]])
        #expect(similarities.count == files.count && similarities[0].count == 3)

        let frame = golden.dense[0]
        let framePath = "\(directory)/frame.png"
        try ImageFile.writePNG(Fixtures.image(width: frame.width, height: frame.height, seed: frame.seed), to: framePath)
        let dense = try await Self.run(["embed", "--model", Self.model, "--image", framePath, "--dense", "--full-frame",
                                  "--short-side", "\(frame.short_side)", "--json"])
        #expect(dense.status == 0, "\(dense.error)")
        let denseImage = try #require((try Self.json(dense.output)["images"] as? [[String: Any]])?.first)
        #expect(denseImage["grid_width"] as? Int == frame.grid_width && denseImage["grid_height"] as? Int == frame.grid_height)
        let patches = (denseImage["patches"] as? [Any] ?? []).flatMap { Self.floats($0) }
        #expect(Fixtures.maxAbsDifference(patches, frame.values) <= 1e-4)

        let fullFrame = try await Self.run(["embed", "--model", Self.model, "--image", framePath, "--full-frame",
                                      "--short-side", "\(frame.short_side)", "--json"])
        let fullFrameImage = try #require((try Self.json(fullFrame.output)["images"] as? [[String: Any]])?.first)
        #expect(Fixtures.maxAbsDifference(Self.floats(fullFrameImage["embedding"]), frame.pooled) <= 1e-4)
    }

    @Test("bad input is a clear error with a non-zero status")
    func badInput() async throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let missingModel = try await Self.run(["embed", "--model", "\(directory)/none", "--text", "a cat"])
        #expect(missingModel.status != 0 && missingModel.error.contains("\(directory)/none"))

        let notAnImage = "\(directory)/notes.png"
        try Data("not a picture".utf8).write(to: URL(fileURLWithPath: notAnImage))
        let badImage = try await Self.run(["embed", "--model", Self.model, "--image", notAnImage])
        #expect(badImage.status != 0 && badImage.error.contains(notAnImage))

        let missingImage = try await Self.run(["embed", "--model", Self.model, "--image", "\(directory)/absent.jpg"])
        #expect(missingImage.status != 0 && missingImage.error.contains("absent.jpg"))

        let nothing = try await Self.run(["embed", "--model", Self.model])
        #expect(nothing.status != 0 && nothing.error.contains("--text"))

        let denseWithoutImage = try await Self.run(["embed", "--model", Self.model, "--text", "x", "--dense"])
        #expect(denseWithoutImage.status != 0)

        let tooSmall = try await Self.run(["embed", "--model", Self.model, "--image", notAnImage, "--full-frame", "--short-side", "3"])
        #expect(tooSmall.status != 0)
    }
}
