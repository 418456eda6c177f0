import Foundation
import SightlineTestSupport
import Testing

/// `sightline model pull|ls|rm` as a user runs them, against the local hub.
@Suite struct ModelCommandTests {
    func run(_ arguments: [String], environment: [String: String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await ChildProcesses.run(BuiltProducts.path("sightline"), arguments, environment: environment)
    }

    @Test func pullListAndRemoveThroughTheCommandLine() async throws {
        let f = try await PullFixture()
        let store = f.temporary.appendingPathComponent("cli-store")
        var environment = ["HF_ENDPOINT": f.hub.endpoint.absoluteString, "SIGHTLINE_MODEL_DIR": store.path, "HOME": f.temporary.path, "PATH": "/usr/bin:/bin"]
        let pull = try await run(["model", "pull", "openai/tiny-clip"], environment: environment)
        #expect(pull.status == 0, "\(pull.stderr)")
        let directory = pull.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(directory == store.path + "/openai/tiny-clip/snapshots/\(f.commit)")
        #expect(FileManager.default.contents(atPath: directory + "/model.safetensors") == f.weights)
        // Not a terminal: one line per step, no bar.
        #expect(pull.stderr.contains("pulling openai/tiny-clip at 0123456789ab: 4 files"))
        #expect(pull.stderr.contains("model.safetensors verified"))
        #expect(!pull.stderr.contains("\r"))

        let again = try await run(["model", "pull", "openai/tiny-clip", "--revision", f.commit], environment: environment)
        #expect(again.status == 0 && again.stderr.contains("up to date at 0123456789ab"))

        let list = try await run(["model", "ls"], environment: environment)
        #expect(list.status == 0)
        #expect(list.stdout.contains(store.path + "\n  openai/tiny-clip  complete  "))
        #expect(list.stdout.contains(String(f.commit.prefix(12))))

        let remove = try await run(["model", "rm", "openai/tiny-clip"], environment: environment)
        #expect(remove.status == 0 && remove.stdout == "removed openai/tiny-clip\n")
        let missing = try await run(["model", "rm", "openai/tiny-clip"], environment: environment)
        #expect(missing.status == 1 && missing.stderr.hasPrefix("sightline: openai/tiny-clip is not in the model store"))

        let bad = try await run(["model", "pull", "not a repo"], environment: environment)
        #expect(bad.status == 1 && bad.stderr.contains("not a Hugging Face repository id"))

        let absent = try await run(["model", "pull", "openai/absent"], environment: environment)
        #expect(absent.status == 1 && absent.stderr.contains("repository openai/absent was not found"))

        environment["HF_HUB_OFFLINE"] = "1"
        let offline = try await run(["model", "pull", "openai/tiny-clip"], environment: environment)
        #expect(offline.status == 1 && offline.stderr.split(separator: "\n").count == 1 && offline.stderr.contains("offline mode"))
        try await f.finish()
    }
}
