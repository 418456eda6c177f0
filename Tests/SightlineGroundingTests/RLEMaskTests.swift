import Foundation
import Testing
import SightlineCore
@testable import SightlineGrounding

/// One mask and what pycocotools 2.0.11 made of it (`Tests/Fixtures/rle/make_goldens.py`).
struct RLEGolden: Decodable, Sendable, CustomTestStringConvertible {
    var name: String
    var height: Int
    var width: Int
    var bits: String
    var counts: String
    var area: Int
    var bbox: [Int]

    var testDescription: String { name }

    func mask() throws -> BinaryMask {
        let hex = Array(bits.utf8)
        var values = [UInt8]()
        values.reserveCapacity(width * height)
        func nibble(_ c: UInt8) -> UInt8 { c <= 57 ? c - 48 : c - 87 }
        var i = 0
        while i < hex.count {
            let byte = nibble(hex[i]) << 4 | nibble(hex[i + 1])
            for bit in 0..<8 where values.count < width * height {
                values.append((byte >> (7 - bit)) & 1)
            }
            i += 2
        }
        return try BinaryMask(width: width, height: height, values: values)
    }

    static let all: [RLEGolden] = {
        struct File: Decodable { var cases: [RLEGolden] }
        // A missing or unreadable golden file fails every test that uses it.
        guard let data = try? Fixtures.data("rle/rle-goldens.json"),
              let file = try? JSONDecoder().decode(File.self, from: data) else { return [] }
        return file.cases
    }()
}

@Suite struct RLEMaskTests {
    @Test func goldenFileIsPresent() {
        #expect(RLEGolden.all.count >= 18)
    }

    @Test(arguments: RLEGolden.all)
    func encodesAsPycocotools(golden: RLEGolden) throws {
        let rle = RLEMask(try golden.mask())
        #expect(rle.compressed == golden.counts)
        #expect(rle.height == golden.height && rle.width == golden.width)
    }

    @Test(arguments: RLEGolden.all)
    func decodesPycocotoolsStrings(golden: RLEGolden) throws {
        let rle = try RLEMask(height: golden.height, width: golden.width, compressed: golden.counts)
        #expect(rle.decoded() == (try golden.mask()))
    }

    @Test(arguments: RLEGolden.all)
    func areaAndBoxAsPycocotools(golden: RLEGolden) throws {
        let rle = try RLEMask(height: golden.height, width: golden.width, compressed: golden.counts)
        #expect(rle.area == golden.area)
        let box = rle.boundingBox
        #expect([box.x, box.y, box.width, box.height] == golden.bbox)
        #expect(try golden.mask().area == golden.area)
    }

    @Test func runsAreColumnMajorStartingWithZeros() throws {
        // 2x3 mask, rows: [1 0 1] / [1 1 0]; columns read top to bottom: 1 1 | 0 1 | 1 0.
        let mask = try BinaryMask(width: 3, height: 2, values: [1, 0, 1, 1, 1, 0])
        let rle = RLEMask(mask)
        #expect(rle.counts == [0, 2, 1, 2, 1])
        #expect(rle.area == 4)
        #expect(rle.decoded() == mask)
    }

    @Test func randomMasksRoundTrip() throws {
        var rng = SeededRandom(seed: 7)
        for _ in 0..<200 {
            let w = Int(rng.next() % 40) + 1, h = Int(rng.next() % 40) + 1
            let density = Double(rng.next() % 100) / 100
            let values = (0..<(w * h)).map { _ in Double(rng.next() % 1000) / 1000 < density ? UInt8(1) : 0 }
            let mask = try BinaryMask(width: w, height: h, values: values)
            let rle = RLEMask(mask)
            let back = try RLEMask(height: h, width: w, compressed: rle.compressed)
            #expect(back == rle)
            #expect(back.decoded() == mask)
        }
    }

    @Test func jsonFormIsSizeAndCompressedCounts() throws {
        let rle = RLEMask(try BinaryMask(width: 3, height: 2, values: [1, 0, 1, 1, 1, 0]))
        let json = String(decoding: try JSONEncoder().encode(rle), as: UTF8.self)
        #expect(json.contains("\"size\":[2,3]"))
        #expect(json.contains("\"counts\":\"\(rle.compressed)\""))
        #expect(try JSONDecoder().decode(RLEMask.self, from: Data(json.utf8)) == rle)
    }

    @Test(arguments: [
        ("0S1", 7, 4, "cover"),          // a valid 7x5 string read as 7x4
        ("0S1", 7, 6, "cover"),          // ... and as 7x6
        ("0S", 7, 5, "middle"),          // cut inside a multi-character run
        ("0S1!", 7, 5, "outside"),       // a character below '0'
        ("0S1p", 7, 5, "outside"),       // a character above 'o'
        ("oooooooooooooo1", 7, 5, "32 bits"),
        ("0S1O", 7, 5, "impossible"),    // a delta that makes a run negative
        ("0S1", 0, 5, "positive"),
        ("0S1", 7, -5, "positive"),
    ] as [(String, Int, Int, String)])
    func rejectsCorruptStrings(counts: String, height: Int, width: Int, says: String) {
        do {
            _ = try RLEMask(height: height, width: width, compressed: counts)
            Issue.record("accepted \(counts) as \(height)x\(width)")
        } catch let error as SightlineError {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains(says), "\(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func rejectsRunsThatDisagreeWithSize() {
        #expect(throws: SightlineError.self) { try RLEMask(height: 2, width: 2, counts: [1, 2]) }
        #expect(throws: SightlineError.self) { try RLEMask(height: 2, width: 2, counts: [1, 2, 3]) }
        #expect((try? RLEMask(height: 2, width: 2, counts: [1, 2, 1])) != nil)
    }

    @Test func jsonWithBadSizeIsAnError() {
        for json in [#"{"size":[2],"counts":"0S1"}"#, #"{"size":[7,4],"counts":"0S1"}"#, #"{"counts":"0S1"}"#,
                     #"{"size":[7,5],"counts":[0,35]}"#] {
            #expect(throws: DecodingError.self, "\(json)") { try JSONDecoder().decode(RLEMask.self, from: Data(json.utf8)) }
        }
    }

    @Test func maskValuesMustMatchSize() {
        #expect(throws: SightlineError.self) { try BinaryMask(width: 3, height: 2, values: [1, 0]) }
        #expect(throws: SightlineError.self) { try BinaryMask(width: 0, height: 2) }
    }
}

