/// Splits a byte stream into protocol lines: `\n` terminated, at most `maxLineBytes` each.
///
/// A line over the limit is reported once, as soon as the limit is crossed (so the peer hears
/// about it without waiting for a newline that may never come), and its remaining bytes are
/// discarded up to the next `\n`; the lines after it are read as usual. Memory stays bounded by
/// the limit whatever the peer sends.
public struct LineDecoder: Sendable {
    public enum Output: Sendable, Equatable {
        /// One complete line without its `\n` (a trailing `\r` is kept: JSON treats it as
        /// whitespace).
        case line([UInt8])
        /// A line crossed the limit; `bytesSeen` is how much of it arrived before the report.
        case tooLong(bytesSeen: Int)
    }

    public let maxLineBytes: Int
    private var pending: [UInt8] = []
    private var discarding = false

    public init(maxLineBytes: Int = ProtocolLimits.maxLineBytes) {
        precondition(maxLineBytes > 0)
        self.maxLineBytes = maxLineBytes
    }

    /// Bytes of an unfinished line held so far.
    public var bufferedByteCount: Int { pending.count }

    /// Feeds the next chunk of the stream and returns what it completes, in order.
    public mutating func feed(_ chunk: some Collection<UInt8>) -> [Output] {
        var outputs: [Output] = []
        var start = chunk.startIndex
        while start != chunk.endIndex {
            let newline = chunk[start...].firstIndex(of: UInt8(ascii: "\n"))
            let end = newline ?? chunk.endIndex
            let piece = chunk[start..<end]
            if discarding {
                if newline != nil { discarding = false }
            } else {
                let length = pending.count + piece.count
                if length > maxLineBytes {
                    outputs.append(.tooLong(bytesSeen: length))
                    pending = []
                    discarding = newline == nil
                } else if newline != nil {
                    if pending.isEmpty {
                        outputs.append(.line(Array(piece)))
                    } else {
                        pending.append(contentsOf: piece)
                        outputs.append(.line(pending))
                        pending = []
                    }
                } else {
                    pending.append(contentsOf: piece)
                }
            }
            guard let newline else { break }
            start = chunk.index(after: newline)
        }
        return outputs
    }

    /// The end of the stream: an unfinished line is dropped, and its length returned so the
    /// caller can log it (a peer that sends half a line and hangs up gets no reply).
    public mutating func finish() -> Int {
        defer {
            pending = []
            discarding = false
        }
        return pending.count
    }
}
