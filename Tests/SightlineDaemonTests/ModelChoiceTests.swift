import Foundation
import SightlineCore
import SightlineDaemon
import SightlineHub
import SightlineProtocol
import SightlineTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Which model the real daemon runs when none is configured: the default checkpoint from the
/// model store, else the bundled tiny test model installed beside it (announced plainly), else
/// none, and then it does not start.
///
/// The choice itself is checked in process against private store directories, so its verdict
/// is the same on every machine. The daemon always also searches the system service's store
/// (`/var/lib/sightline/models`), which no option moves: the tests that run the real daemon
/// to see a fallback are therefore disabled (reported as skipped) on a machine whose system
/// store holds the default checkpoint, rather than expecting something else there.
@Suite(.serialized) struct ModelChoiceTests {
    static let defaultRepository = "openai/clip-vit-base-patch16"
    /// The default checkpoint in the system service's store, which the daemon would find first.
    static var systemStoreCopy: String? {
        let base = "/var/lib/sightline/models/\(defaultRepository)"
        for dir in [base + "/current", base] where FileManager.default.fileExists(atPath: dir + "/config.json") {
            return URL(fileURLWithPath: dir).resolvingSymlinksInPath().path
        }
        return nil
    }
    static var noSystemStoreCopy: Bool { systemStoreCopy == nil }

    /// The daemon's choice, with stores of the test's own: the default checkpoint when a store
    /// has it, else the bundled model, else an error that says how to get one.
    @Test func theChoiceFollowsTheStoresAndTheBundledModel() throws {
        let layout = try InstalledLayout(bundledModel: true)
        defer { layout.remove() }
        let empty = URL(fileURLWithPath: layout.prefix + "/empty-store")
        let store = URL(fileURLWithPath: layout.prefix + "/store")
        let bundled = URL(fileURLWithPath: layout.prefix + "/share/sightline/models")
        let none = URL(fileURLWithPath: layout.prefix + "/no-bundled-models")
        let configuration = DaemonConfiguration(defaultsFor: RunEnvironment(variables: [:], uid: getuid(), home: layout.prefix))

        let fallback = try ModelResolution.choose(configuration, resolver: ModelResolver(roots: [empty], bundledRoot: bundled))
        #expect(fallback.path == bundled.path + "/tiny-gelu-p14")
        #expect(fallback.reason == "no model configured and none in the model stores")

        let placed = store.path + "/" + Self.defaultRepository
        try layout.copyCheckpoint(DaemonProcess.tinyModel, to: placed)
        let stored = try ModelResolution.choose(configuration, resolver: ModelResolver(roots: [empty, store], bundledRoot: bundled))
        #expect(stored.path == placed)
        #expect(stored.reason.contains("\(Self.defaultRepository) is in the model store"))

        #expect {
            try ModelResolution.choose(configuration, resolver: ModelResolver(roots: [empty], bundledRoot: none))
        } throws: { error in
            let message = (error as? SightlineError)?.message ?? ""
            return message.contains("no model: none configured (model.path, model.repository)")
                && message.contains("sightline model pull openai/clip-vit-base-patch16")
                && message.contains(none.path + "/tiny-gelu-p14")
        }
    }

    @Test(.enabled(if: noSystemStoreCopy, "the system store's default checkpoint would be chosen first"))
    func withNoModelConfiguredItRunsTheBundledTestModelAndSaysSo() async throws {
        let layout = try InstalledLayout(bundledModel: true)
        defer { layout.remove() }
        let daemon = try DaemonProcess(model: nil, executable: layout.prefix + "/bin/sightlined",
                                       environment: ["SIGHTLINE_MODEL_DIR": layout.prefix + "/empty-store"])
        defer { daemon.cleanUp() }
        try await daemon.start()
        let model = try await daemon.client { try await $0.request(.status)["model"] }
        do {
            #expect(model?["test_model"] == true)
            #expect(model?["path"] == .string(layout.prefix + "/share/sightline/models/tiny-gelu-p14"))
            let note = model?["note"]?.stringValue ?? ""
            for words in ["bundled tiny test model", "its matches mean nothing", "sightline model pull openai/clip-vit-base-patch16",
                          "model.repository"] {
                #expect(note.contains(words), "\(note)")
            }
            #expect(daemon.log().contains("running the bundled tiny test model"), "\(daemon.log())")
            #expect(daemon.log().contains("sightline model pull openai/clip-vit-base-patch16"))
            let shown = try await ChildProcesses.run(layout.prefix + "/bin/sightline", ["status", "--socket", daemon.socket])
            #expect(shown.status == 0, "\(shown.stderr)")
            #expect(shown.stdout.contains("bundled tiny test model") && shown.stdout.contains("its matches mean nothing")
                    && shown.stdout.contains("sightline model pull openai/clip-vit-base-patch16"), "\(shown.stdout)")
        }
        #expect(await daemon.stop() == 0)
    }

    @Test(.enabled(if: noSystemStoreCopy, "the system store's default checkpoint would be chosen first"))
    func withNoModelAnywhereItDoesNotStartAndSaysHowToGetOne() async throws {
        let layout = try InstalledLayout(bundledModel: false)
        defer { layout.remove() }
        let daemon = try DaemonProcess(model: nil, executable: layout.prefix + "/bin/sightlined",
                                       environment: ["SIGHTLINE_MODEL_DIR": layout.prefix + "/empty-store"])
        defer { daemon.cleanUp() }
        await #expect(throws: SightlineError.self) { try await daemon.start() }
        #expect(await daemon.stop() == 1)
        let log = daemon.log()
        #expect(log.contains("no model: none configured (model.path, model.repository)"), "\(log)")
        #expect(log.contains("sightline model pull openai/clip-vit-base-patch16"))
        #expect(log.contains(layout.prefix + "/share/sightline/models/tiny-gelu-p14"), "names where the bundled model was looked for")
        #expect(!FileManager.default.fileExists(atPath: daemon.socket))
    }

    /// With nothing configured, the default checkpoint in the model store is used: pulling it
    /// and restarting is all a user needs to do.
    @Test func withNoModelConfiguredItUsesTheDefaultCheckpointInTheStore() async throws {
        let layout = try InstalledLayout(bundledModel: true)
        defer { layout.remove() }
        let placed = layout.prefix + "/store/" + Self.defaultRepository
        try layout.copyCheckpoint(DaemonProcess.tinyModel, to: placed)
        let daemon = try DaemonProcess(model: nil, executable: layout.prefix + "/bin/sightlined",
                                       environment: ["SIGHTLINE_MODEL_DIR": layout.prefix + "/store"])
        defer { daemon.cleanUp() }
        try await daemon.start()
        let model = try await daemon.client { try await $0.request(.status)["model"] }
        #expect(model?["path"] == .string(placed))
        #expect(daemon.log().contains("\(Self.defaultRepository) is in the model store"), "\(daemon.log())")
        #expect(await daemon.stop() == 0)
    }
}

/// Sightline laid out as `sightline install` lays it out, under a temporary prefix:
/// `bin/sightlined` and `bin/sightline` (hard links to this build's, or copies), and
/// optionally the bundled test model in `share/sightline/models/tiny-gelu-p14`. The daemon
/// finds bundled models beside its own executable.
struct InstalledLayout {
    let prefix: String

    init(bundledModel: Bool) throws {
        var template = Array("/tmp/sightline-prefix-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw SightlineError(.system, "mkdtemp failed") }
        prefix = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let fm = FileManager.default
        try fm.createDirectory(atPath: prefix + "/bin", withIntermediateDirectories: true)
        for tool in ["sightlined", "sightline"] {
            let source = DaemonProcess.executable(tool), target = prefix + "/bin/" + tool
            if link(source, target) != 0 { try fm.copyItem(atPath: source, toPath: target) }
        }
        if bundledModel {
            try copyCheckpoint(DaemonProcess.tinyModel, to: prefix + "/share/sightline/models/tiny-gelu-p14")
        }
    }

    /// Copies a checkpoint's files (following the fixtures' shared-file links).
    func copyCheckpoint(_ source: String, to target: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: target, withIntermediateDirectories: true)
        for name in try fm.contentsOfDirectory(atPath: source) where !name.hasPrefix(".") {
            let file = URL(fileURLWithPath: source + "/" + name).resolvingSymlinksInPath().path
            try fm.copyItem(atPath: file, toPath: target + "/" + name)
        }
    }

    func remove() { try? FileManager.default.removeItem(atPath: prefix) }
}
