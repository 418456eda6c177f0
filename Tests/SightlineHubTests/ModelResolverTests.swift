import Foundation
import SightlineCore
import Testing
@testable import SightlineHub

@Suite struct ModelResolverTests {
    let temporary = FileManager.default.temporaryDirectory.appendingPathComponent("sightline-resolve-\(UUID().uuidString)")

    func checkpoint(_ path: String) throws -> URL {
        let dir = temporary.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: dir.appendingPathComponent("config.json"))
        return dir
    }

    @Test func findsRepositoriesInOrderOfTheRoots() throws {
        defer { try? FileManager.default.removeItem(at: temporary) }
        let pulled = try checkpoint("user/openai/clip/snapshots/abc")
        try FileManager.default.createSymbolicLink(atPath: temporary.appendingPathComponent("user/openai/clip/current").path, withDestinationPath: "snapshots/abc")
        let system = try checkpoint("system/openai/clip")
        let bundled = try checkpoint("bundled/sightline-tiny")
        let resolver = ModelResolver(roots: ["user", "system", "bundled"].map { temporary.appendingPathComponent($0) })
        #expect(try resolver.resolve("openai/clip").path == pulled.resolvingSymlinksInPath().path)
        #expect(try resolver.resolve("sightline-tiny").path == bundled.path)
        try FileManager.default.removeItem(at: temporary.appendingPathComponent("user"))
        #expect(try resolver.resolve("openai/clip").path == system.path)
        let missing = #expect(throws: SightlineError.self) { try resolver.resolve("openai/other") }
        #expect(missing?.message.contains("sightline model pull openai/other") == true)
    }

    @Test func takesDirectoriesAsTheyAre() throws {
        defer { try? FileManager.default.removeItem(at: temporary) }
        let dir = try checkpoint("plain")
        let resolver = ModelResolver(roots: [], home: temporary.path)
        #expect(try resolver.resolve(dir.path).path == dir.path)
        #expect(try resolver.resolve("~/plain").path == dir.path)
        let empty = temporary.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let noConfig = #expect(throws: SightlineError.self) { try resolver.resolve(empty.path) }
        #expect(noConfig?.message.contains("no config.json") == true)
        let absent = #expect(throws: SightlineError.self) { try resolver.resolve(temporary.appendingPathComponent("absent").path) }
        #expect(absent?.code == .fileNotFound)
    }

    @Test(arguments: ["a b", "x/y/z", "", "-bad"])
    func rejectsNamesThatAreNeither(name: String) {
        let error = #expect(throws: SightlineError.self) { try ModelResolver(roots: []).resolve(name) }
        #expect(error?.code == .invalidArgument)
    }

    @Test(arguments: [
        (["SIGHTLINE_MODEL_DIR": "/srv/models", "HOME": "/home/u"], UInt32(1000), "/srv/models"),
        (["STATE_DIRECTORY": "/var/lib/sightline:/var/lib/other", "HOME": "/home/u"], UInt32(998), "/var/lib/sightline/models"),
        (["HOME": "/root"], UInt32(0), "/var/lib/sightline/models"),
        (["HOME": "/home/u", "XDG_CACHE_HOME": "/home/u/.xdg"], UInt32(1000), "/home/u/.xdg/sightline/models"),
        (["HOME": "/home/u"], UInt32(1000), "/home/u/.cache/sightline/models"),
    ])
    func choosesTheDefaultStore(environment: [String: String], uid: UInt32, expected: String) {
        #expect(ModelStore.defaultRoot(environment: environment, userID: uid).path == expected)
    }

    @Test func standardSearchPathEndsWithTheInstalledModels() {
        let resolver = ModelResolver.standard(environment: ["HOME": "/home/u"], userID: 1000, executable: URL(fileURLWithPath: "/opt/sl/bin/sightlined"))
        #expect(resolver.roots.map(\.path) == ["/home/u/.cache/sightline/models", "/var/lib/sightline/models", "/opt/sl/share/sightline/models"])
        #expect(resolver.bundledRoot?.path == "/opt/sl/share/sightline/models")
    }

    /// The bundled tiny test model is found under the installed models only when its
    /// checkpoint is complete there.
    @Test func findsTheBundledTestModelWhereItIsInstalled() throws {
        let temporary = FileManager.default.temporaryDirectory.appendingPathComponent("sightline-bundled-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: temporary) }
        let root = temporary.appendingPathComponent("share/sightline/models")
        let resolver = ModelResolver(roots: [root], bundledRoot: root)
        #expect(resolver.bundledTestModel() == nil)
        #expect(ModelResolver(roots: []).bundledTestModel() == nil)
        let dir = root.appendingPathComponent(ModelResolver.bundledTestModelName)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: dir.appendingPathComponent("config.json"))
        #expect(resolver.bundledTestModel() == nil, "no weights yet")
        try Data().write(to: dir.appendingPathComponent("model.safetensors"))
        #expect(resolver.bundledTestModel()?.path == dir.path)
    }
}
