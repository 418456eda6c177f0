import SightlineCore
import Testing

@testable import SightlineProtocol

@Suite struct LineDecoderTests {
    @Test func splitsLinesAcrossChunks() {
        var decoder = LineDecoder(maxLineBytes: 100)
        #expect(decoder.feed(Array("ab".utf8)) == [])
        #expect(decoder.feed(Array("c\nde\n\nf".utf8)) == [.line(Array("abc".utf8)), .line(Array("de".utf8)), .line([])])
        #expect(decoder.bufferedByteCount == 1)
        #expect(decoder.feed(Array("\n".utf8)) == [.line(Array("f".utf8))])
    }

    @Test func reportsAnOverlongLineOnceAndResumesAfterItsNewline() {
        var decoder = LineDecoder(maxLineBytes: 8)
        #expect(decoder.feed(Array("12345".utf8)) == [])
        #expect(decoder.feed(Array("6789".utf8)) == [.tooLong(bytesSeen: 9)])
        // The rest of the long line is discarded, without another report, however long it is.
        for _ in 0..<100 { #expect(decoder.feed([UInt8](repeating: 0x41, count: 1000)) == []) }
        #expect(decoder.bufferedByteCount == 0)
        #expect(decoder.feed(Array("xx\nok\n".utf8)) == [.line(Array("ok".utf8))])
    }

    @Test func aLineOfExactlyTheLimitIsAccepted() {
        var decoder = LineDecoder(maxLineBytes: 4)
        #expect(decoder.feed(Array("abcd\nabcde\nz\n".utf8)) == [.line(Array("abcd".utf8)), .tooLong(bytesSeen: 5), .line(Array("z".utf8))])
    }

    @Test func finishDropsAHalfLine() {
        var decoder = LineDecoder()
        _ = decoder.feed(Array("{\"id\":1,\"op\":".utf8))
        #expect(decoder.finish() == 13)
        #expect(decoder.bufferedByteCount == 0)
    }

    /// The decoder must give the same lines however the stream is cut into chunks, and never
    /// hold more than the limit. Seeded random lines (some over the limit, some binary) cut at
    /// random places are compared with a direct split.
    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func randomChunkingMatchesADirectSplit(seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        let limit = 64
        var stream: [UInt8] = []
        var expected: [LineDecoder.Output] = []
        for _ in 0..<400 {
            let length = Int.random(in: 0...(limit + 40), using: &rng)
            let line = (0..<length).map { _ in
                var b = UInt8.random(in: 0...255, using: &rng)
                if b == UInt8(ascii: "\n") { b = 0 }
                return b
            }
            stream += line + [UInt8(ascii: "\n")]
            expected.append(length > limit ? .tooLong(bytesSeen: -1) : .line(line))
        }
        var decoder = LineDecoder(maxLineBytes: limit)
        var got: [LineDecoder.Output] = []
        var index = 0
        while index < stream.count {
            let size = Int.random(in: 1...150, using: &rng)
            let end = min(stream.count, index + size)
            got += decoder.feed(stream[index..<end])
            #expect(decoder.bufferedByteCount <= limit)
            index = end
        }
        #expect(decoder.finish() == 0)
        // Where a too-long line is reported depends on the chunking; that it is, does not.
        let normalised = got.map { output -> LineDecoder.Output in
            if case .tooLong(let seen) = output {
                #expect(seen > limit)
                return .tooLong(bytesSeen: -1)
            }
            return output
        }
        #expect(normalised == expected)
    }
}
