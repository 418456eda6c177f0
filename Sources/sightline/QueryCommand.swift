import ArgumentParser
import Foundation
import SightlineClient
import SightlineProtocol

/// `sightline query add|rm|ls`.
struct QueryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Add, remove and list standing queries.",
        subcommands: [Add.self, Remove.self, List.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a standing query such as \"a person riding a bike\".")

        @Argument(help: "What to look for, in words.")
        var text: String

        @Option(name: .customLong("stream"), help: "A stream to watch (repeat for several; default: every stream).")
        var streams: [String] = []

        @Option(name: .long, help: "Probability (0...1) a region must reach (default: the daemon's queries.default_threshold, 0.5).")
        var threshold: Double?

        @Option(name: .customLong("min-duration"), help: "Seconds a match must last before it is reported (default: the daemon's queries.default_min_duration, 0.3).")
        var minDuration: Double?

        @OptionGroup var connection: SocketOptions

        func run() async throws {
            let spec = QuerySpec(text: text, streams: streams, threshold: threshold, minDuration: minDuration)
            let result = try await connection.withClient { try await $0.request(.queryAdd(spec)) }
            Output.line(Display.json(result["query"]?["id"]))
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a standing query.")

        @Argument(help: "The query's id (q-...).")
        var id: String

        @OptionGroup var connection: SocketOptions

        func run() async throws {
            _ = try await connection.withClient { try await $0.request(.queryRemove(id: id)) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the standing queries.")

        @Flag(name: .long, help: "Print the daemon's JSON.")
        var json = false

        @OptionGroup var connection: SocketOptions

        func run() async throws {
            let result = try await connection.withClient { try await $0.request(.queryList) }
            if json {
                Output.line(JSONWriter.string(.object(result)))
                return
            }
            let rows = (result["queries"]?.arrayValue ?? []).map { q in
                let streams = q["streams"]?.arrayValue?.compactMap(\.stringValue) ?? []
                return [Display.json(q["id"]), Display.number(q["threshold"]), Display.number(q["min_duration"]),
                        streams.isEmpty ? "all" : streams.joined(separator: ","), q["origin"].map { Display.json($0) } ?? "-", Display.json(q["text"])]
            }
            Output.line(Display.table(["ID", "THRESHOLD", "MIN_DURATION", "STREAMS", "ORIGIN", "TEXT"], rows))
        }
    }
}
