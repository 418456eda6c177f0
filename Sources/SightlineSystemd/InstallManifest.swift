import Foundation

/// What an installation put where, so that `sightline uninstall` removes exactly that and an
/// upgrade can tell a configuration file the administrator changed from one it shipped.
/// Kept at `<prefix>/share/sightline/install-manifest.json`.
struct InstallManifest: Codable, Equatable {
    struct File: Codable, Equatable {
        var path: String
        var kind: PlannedFile.Kind
        /// For configuration files: the shipped contents, to recognise local changes.
        var shipped: Data?
    }

    var scope: InstallOptions.Scope
    var prefix: String
    var files: [File]
    /// Directories the installation created, removed again when empty.
    var directories: [String]

    static func read(at path: String) throws -> InstallManifest? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let decoder = JSONDecoder()
        return try decoder.decode(InstallManifest.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    func data() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}
