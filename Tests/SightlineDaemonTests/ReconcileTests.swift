import Foundation
import Logging
import SightlineCore
import SightlineDaemon
import SightlineProtocol
import Testing

/// The registry's reconciliation with the configuration file, on a real state directory:
/// what the file defines is added, changed and removed; what clients added over the socket is
/// never touched; the origin of each is stored; an error changes nothing.
@Suite struct ReconcileTests {
    let logger = Logger(label: "test")

    static func configuration(_ text: String, file: String = "c.toml") throws -> DaemonConfiguration {
        var c = DaemonConfiguration(defaultsFor: RunEnvironment(variables: ["HOME": "/tmp"], uid: 1000, home: "/tmp"))
        try c.apply(ConfigFile(parsing: text, name: file))
        return c
    }

    func withRegistry(_ body: (Registry, StateStore, String) async throws -> Void) async throws {
        let directory = NSTemporaryDirectory() + "sightline-reconcile-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try StateStore(directory: directory)
        let registry = try Registry(store: store, configuration: try Self.configuration(""), logger: logger)
        try await body(registry, store, directory)
    }

    func reconcile(_ registry: Registry, _ text: String) async throws -> Reconciliation {
        let c = try Self.configuration(text)
        return try await registry.reconcile(streams: c.definedStreams, queries: c.definedQueries, settings: RegistrySettings(c))
    }

    @Test func addsChangesAndRemovesWhatTheFileDefinesAndNothingElse() async throws {
        try await withRegistry { registry, store, _ in
            let first = try await reconcile(registry, """
                [stream.cam1]
                uri = "rtsp://c/1"
                [stream.cam2]
                uri = "rtsp://c/2"
                [query.bikes]
                text = "a bike"
                streams = ["cam1"]
                [query.cars]
                text = "a car"
                """)
            #expect(first.streamsAdded == ["cam1", "cam2"] && first.queriesAdded == ["bikes", "cars"])
            let mine = try await registry.addStream(StreamSpec(id: "mine", uri: "rtsp://c/mine"))
            let myQuery = try await registry.addQuery(QuerySpec(text: "a dog", streams: ["cam2"]))
            #expect(mine.origin == .socket && myQuery.origin == .socket)
            // Clients cannot remove what the file defines.
            await #expect { try await registry.removeStream(id: "cam1") } throws: { ($0 as? SightlineError)?.code == .definedInConfig }
            await #expect { try await registry.removeQuery(id: "bikes") } throws: { ($0 as? SightlineError)?.code == .definedInConfig }

            let second = try await reconcile(registry, """
                [streams]
                default_fps = 5
                [stream.cam1]
                uri = "rtsp://c/1"
                fps = 3
                [stream.cam3]
                uri = "rtsp://c/3"
                [query.bikes]
                text = "a bike"
                streams = ["cam1"]
                threshold = 0.7
                [query.dogs]
                text = "a dog"
                """)
            #expect(second == Reconciliation(streamsAdded: ["cam3"], streamsChanged: ["cam1"], streamsRemoved: ["cam2"],
                                             queriesAdded: ["dogs"], queriesChanged: ["bikes"], queriesRemoved: ["cars"]))
            #expect(second.summary == "streams +cam3 ~cam1 -cam2, queries +dogs ~bikes -cars")
            // The client's own are exactly as they were, even the query naming a removed stream.
            #expect(registry.streams.map(\.id) == ["cam1", "mine", "cam3"])
            #expect(registry.streams.first { $0.id == "mine" } == mine)
            #expect(registry.queries.first { $0.id == myQuery.id } == myQuery)
            #expect(registry.streams.first { $0.id == "cam1" }?.fps == 3)
            #expect(registry.streams.first { $0.id == "cam3" }?.fps == 5, "the new default applies to what the file leaves out")
            #expect(registry.settings.defaultFPS == 5)
            #expect(registry.queries.first { $0.id == "bikes" }?.threshold == 0.7)
            // Stored with their origins.
            let stored = try store.load()
            #expect(stored.streams.map(\.json) == registry.streams.map(\.json) && stored.queries.map(\.json) == registry.queries.map(\.json))
            #expect(stored.streams.map(\.origin) == [.config, .socket, .config])

            // The same file again changes nothing.
            #expect(try await reconcile(registry, """
                [streams]
                default_fps = 5
                [stream.cam1]
                uri = "rtsp://c/1"
                fps = 3
                [stream.cam3]
                uri = "rtsp://c/3"
                [query.bikes]
                text = "a bike"
                streams = ["cam1"]
                threshold = 0.7
                [query.dogs]
                text = "a dog"
                """).isEmpty)
        }
    }

    @Test func anErrorChangesNothing() async throws {
        try await withRegistry { registry, store, directory in
            _ = try await reconcile(registry, "[stream.cam1]\nuri = \"rtsp://c/1\"\n")
            _ = try await registry.addStream(StreamSpec(id: "mine", uri: "rtsp://c/mine"))
            let before = try Data(contentsOf: URL(fileURLWithPath: directory + "/state.json"))
            let cases: [(String, String)] = [
                // An id a client uses over the socket.
                ("[streams]\ndefault_fps = 9\n[stream.cam2]\nuri = \"rtsp://c/2\"\n\n[stream.mine]\nuri = \"rtsp://c/x\"\n",
                 "c.toml line 6: stream mine is defined here, but a stream with that id was added over the socket"),
                // A query naming a stream nobody has.
                ("[stream.cam2]\nuri = \"rtsp://c/2\"\n[query.q]\ntext = \"a\"\nstreams = [\"cam9\"]\n",
                 "c.toml line 3: query q names stream cam9, which does not exist"),
                // More than streams.max.
                ("[streams]\nmax = 2\n[stream.cam2]\nuri = \"rtsp://c/2\"\n[stream.cam3]\nuri = \"rtsp://c/3\"\n",
                 "c.toml line 5: 3 streams with those defined in the file; streams.max is 2"),
            ]
            for (text, message) in cases {
                await #expect { _ = try await reconcile(registry, text) } throws: { error in
                    (error as? SightlineError)?.message.hasPrefix(message) == true
                }
                #expect(registry.streams.map(\.id) == ["cam1", "mine"])
                #expect(registry.settings.defaultFPS == 2 && registry.settings.maxStreams == 64)
                #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/state.json")) == before)
            }
            #expect(try store.load().streams.map(\.id) == ["cam1", "mine"])
        }
    }

    /// State written before records had an origin reads as added over the socket.
    @Test func recordsWithoutAnOriginCameOverTheSocket() throws {
        let json = try JSONParser().parse(Array(#"{"version":1,"streams":[{"id":"a","uri":"/a.mp4","fps":2,"loop":false,"created":"2026-11-22T10:15:03.120Z"}],"queries":[{"id":"q-1","text":"a","streams":[],"threshold":0.5,"min_duration":0,"created":"2026-11-22T10:15:03.120Z"}]}"#.utf8))
        let state = try PersistedState(json: json, file: "state.json")
        #expect(state.streams[0].origin == .socket && state.queries[0].origin == .socket)
        let bad = try JSONParser().parse(Array(#"{"version":1,"streams":[{"id":"a","uri":"/a.mp4","origin":"file","created":"2026-11-22T10:15:03.120Z"}]}"#.utf8))
        #expect(throws: SightlineError.self) { try PersistedState(json: bad, file: "state.json") }
    }
}
