import SightlineClient
import SightlineGrounding
import SightlineProtocol

/// The example of Docs/protocol.md, "Swift clients", with the imports it shows: compiled with
/// the tests (never run: it needs a daemon) so that the documented use cannot rot.
enum DocumentedUse {
    static func watch() async throws {
        try await DaemonClient.withConnection(socketPath: DaemonClient.defaultSocketPath()) { client in
            _ = try await client.request(.queryAdd(QuerySpec(text: "a person riding a bike")))
            _ = try await client.request(.subscribe(Subscription(detail: .box)))
            while let event = try await client.nextEvent() {
                if let match = try? MatchEvent(json: .object(event)) {
                    print(match.kind, match.text, match.frames.last?.box as Any)
                }
            }
        }
    }
}
