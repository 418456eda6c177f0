import Foundation
import SightlineCore

/// Turns the configuration's model name into a checkpoint directory.
///
/// A name that starts with `/`, `./`, `../` or `~/` is a directory; anything else is a hub
/// repository id, looked up in each store root in order (for each: the pulled checkpoint
/// `<root>/<id>/current`, else a directory `<root>/<id>` holding a checkpoint placed by hand).
public struct ModelResolver: Sendable {
    public var roots: [URL]
    public var home: String?
    /// Where Sightline's own checkpoints are installed (`<prefix>/share/sightline/models`),
    /// among them the bundled tiny test model.
    public var bundledRoot: URL?

    public init(roots: [URL], home: String? = nil, bundledRoot: URL? = nil) {
        self.roots = roots
        self.home = home
        self.bundledRoot = bundledRoot
    }

    /// The checkpoint the daemon and the main job use when none is named.
    public static let defaultRepository = "openai/clip-vit-base-patch16"
    /// The bundled tiny test model (random weights: for demos and tests, its matches mean
    /// nothing), as `sightline install` places it under `bundledRoot`.
    public static let bundledTestModelName = "tiny-gelu-p14"

    /// The bundled tiny test model's directory, nil when it is not installed.
    public func bundledTestModel() -> URL? {
        guard let bundledRoot else { return nil }
        let dir = bundledRoot.appendingPathComponent(Self.bundledTestModelName)
        let fm = FileManager.default
        guard fm.fileExists(atPath: dir.appendingPathComponent("config.json").path),
              fm.fileExists(atPath: dir.appendingPathComponent("model.safetensors").path) else { return nil }
        return dir
    }

    /// The default store (`ModelStore.defaultRoot`), the system service's store, and the
    /// models installed with Sightline (`<prefix>/share/sightline/models`, found beside the
    /// running executable's `bin/`). An executable in a build tree, with no test model
    /// installed beside it, takes the source tree's fixture as the bundled tiny test model.
    public static func standard(environment: [String: String], userID: UInt32, executable: URL) -> ModelResolver {
        var roots = [ModelStore.defaultRoot(environment: environment, userID: userID)]
        roots.append(ModelStore.systemRoot)
        let bundled = executable.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("share/sightline/models")
        roots.append(bundled)
        var unique: [URL] = []
        for root in roots where !unique.contains(where: { $0.standardizedFileURL.path == root.standardizedFileURL.path }) {
            unique.append(root.standardizedFileURL)
        }
        var resolver = ModelResolver(roots: unique, home: environment["HOME"], bundledRoot: bundled.standardizedFileURL)
        // Run from a build tree (`<tree>/.build/debug/sightlined`), nothing is installed beside
        // the executable: the bundled tiny test model is the source tree's fixture.
        if resolver.bundledTestModel() == nil, let fixtures = buildTreeModels(executable: executable) {
            resolver.bundledRoot = fixtures
        }
        return resolver
    }

    /// `<tree>/Tests/Fixtures/clip` of the source tree the executable was built in (the
    /// nearest folder above it holding `Package.swift` and that fixture), nil when there is none.
    public static func buildTreeModels(executable: URL) -> URL? {
        let fm = FileManager.default
        var dir = executable.resolvingSymlinksInPath().deletingLastPathComponent().standardizedFileURL
        while dir.path != "/", !dir.path.isEmpty {
            let fixtures = dir.appendingPathComponent("Tests/Fixtures/clip")
            if fm.fileExists(atPath: dir.appendingPathComponent("Package.swift").path),
               fm.fileExists(atPath: fixtures.appendingPathComponent(bundledTestModelName).appendingPathComponent("config.json").path) {
                return fixtures
            }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }

    public static func isPath(_ name: String) -> Bool {
        name.hasPrefix("/") || name.hasPrefix("./") || name.hasPrefix("../") || name.hasPrefix("~/") || name == "." || name == ".."
    }

    public func resolve(_ name: String) throws -> URL {
        let fm = FileManager.default
        if Self.isPath(name) {
            var path = name
            if path.hasPrefix("~/") {
                guard let home else {
                    throw SightlineError(.invalidArgument, "cannot expand ~ in the model path: HOME is not set", context: ["model": name])
                }
                path = home + path.dropFirst()
            }
            let url = URL(fileURLWithPath: path).standardizedFileURL
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw SightlineError(.fileNotFound, "model directory \(url.path) does not exist", context: ["model": name])
            }
            guard fm.fileExists(atPath: url.appendingPathComponent("config.json").path) else {
                throw SightlineError(.fileNotFound, "model directory \(url.path) has no config.json; a checkpoint directory holds config.json, model.safetensors and the tokenizer files", context: ["model": name])
            }
            return url
        }
        let repo: RepoID
        do {
            repo = try RepoID(name)
        } catch {
            throw SightlineError(.invalidArgument, "model '\(name)' is neither a directory (start it with / or ./) nor a hub repository id (owner/name)", context: ["model": name])
        }
        for root in roots {
            let dir = repo.pathComponents.reduce(root) { $0.appendingPathComponent($1) }
            let current = dir.appendingPathComponent("current").resolvingSymlinksInPath()
            if fm.fileExists(atPath: current.appendingPathComponent("config.json").path) { return current }
            if fm.fileExists(atPath: dir.appendingPathComponent("config.json").path) { return dir }
        }
        if name == Self.bundledTestModelName, let bundled = bundledTestModel() { return bundled }
        throw SightlineError(.fileNotFound, "model \(repo) is not on this machine; pull it with `sightline model pull \(repo)` (searched \(roots.map(\.path).joined(separator: ", ")))", context: ["model": name])
    }
}
