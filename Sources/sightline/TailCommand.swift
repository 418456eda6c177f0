import ArgumentParser
import Foundation
import SightlineClient
import SightlineGrounding
import SightlineProtocol

/// `sightline tail`: subscribe and print events as they come.
struct TailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Print match and stream events as they come.",
        discussion: """
            Prints one line per event as it comes, until interrupted (or, with --exit-when-ended, until the \
            watched streams end):

            match.start, match.update, match.end: time, stream, "query text", event, track number, pts \
            (seconds into the stream), span start-end in seconds (match.end), score of the latest frame \
            (0...1) and its box (x,y widthxheight in pixels of the analysed frame), and on match.end \
            why it ended (not_seen, stream_ended, stream_failed, stream_removed, query_removed, \
            shutdown and the others in Docs/protocol.md).

            stream.status: time, stream, its new state (starting, online, stalled, reconnecting, ended or failed), the \
            attempt while reconnecting and the error when there is one.

            lagged: how many events the daemon dropped because this client read too slowly.

            With --json, the daemon's JSON lines as they are (Docs/protocol.md), masks as COCO RLE unless \
            --detail says otherwise.
            """
    )

    @Option(name: .customLong("stream"), help: "Only this stream (repeatable).")
    var streams: [String] = []

    @Option(name: .customLong("query"), help: "Only this query id (repeatable).")
    var queries: [String] = []

    @Option(name: .long, help: "Mask detail: rle, box or none (default: box, or rle with --json).")
    var detail: String?

    @Flag(name: .long, help: "Print the raw JSON lines.")
    var json = false

    @Flag(name: .customLong("exit-when-ended"), help: "Exit once every stream being watched has ended or failed.")
    var exitWhenEnded = false

    @OptionGroup var connection: SocketOptions

    func run() async throws {
        let chosen = detail ?? (json ? "rle" : "box")
        guard let maskDetail = MaskDetail(rawValue: chosen) else {
            throw ValidationError("--detail must be rle, box or none")
        }
        try await connection.withClient { client in
            var watched = Set(streams)
            if exitWhenEnded, watched.isEmpty {
                let list = try await client.request(.streamList)
                watched = Set((list["streams"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue })
            }
            _ = try await client.request(.subscribe(Subscription(streams: streams, queries: queries, detail: maskDetail, status: true)))
            var finished = Set<String>()
            while let event = try await client.nextEvent() {
                // Written unbuffered, so that a pipe sees each event as it comes.
                let text = json ? JSONWriter.string(.object(event)) : Self.describe(event)
                Output.line(text)
                if exitWhenEnded, event["event"] == "stream.status", let stream = event["stream"]?.stringValue,
                   let state = event["state"]?.stringValue, state == "ended" || state == "failed" {
                    finished.insert(stream)
                    if !watched.isEmpty, watched.isSubset(of: finished) { return }
                }
            }
        }
    }

    /// `10:15:03.120  cam1  "a person riding a bike"  match.start  track 12  pts 12.48  score 0.81  box 10,20 30x40`
    static func describe(_ e: JSONObject) -> String {
        let name = Display.json(e["event"])
        let time = e["time"]?.stringValue.map { t -> String in
            guard let tIndex = t.firstIndex(of: "T") else { return t }
            return String(t[t.index(after: tIndex)...].dropLast())
        } ?? "-"
        switch name {
        case "stream.status":
            var line = "\(time)  \(Display.json(e["stream"]))  stream \(Display.json(e["state"]))"
            if let attempt = e["attempt"] { line += " (attempt \(Display.json(attempt)))" }
            if let error = e["error"] { line += ": \(Display.json(error))" }
            return line
        case "lagged":
            return "lagged: \(Display.json(e["dropped"])) events dropped because this client read too slowly"
        default:
            var line = "\(time)  \(Display.json(e["stream"]))  \"\(Display.json(e["text"]))\"  \(name)  track \(Display.json(e["track"]))  pts \(Display.number(e["pts"]))"
            if let span = e["span"] {
                line += "  span \(Display.number(span["start_pts"]))-\(Display.number(span["end_pts"])) s"
            }
            if let frame = e["frames"]?.arrayValue?.last {
                line += "  score \(Display.number(frame["score"]))"
                if let box = frame["box"]?.arrayValue, box.count == 4 {
                    line += "  box \(Display.number(box[0])),\(Display.number(box[1])) \(Display.number(box[2]))x\(Display.number(box[3]))"
                }
            }
            if let reason = e["reason"] { line += "  (\(Display.json(reason)))" }
            return line
        }
    }
}
