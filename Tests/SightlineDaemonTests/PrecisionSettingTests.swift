import Foundation
import SightlineCore
import SightlineProtocol
import SightlineTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `model.precision` on the real daemon: from the file, `SIGHTLINE_PRECISION` and
/// `--precision`, bad values refused naming the key and the choices, the precision in use in
/// `status` and `sightline status`, a change waiting for a restart, and a precision the CPU
/// cannot run stopping the daemon with the CPU named.
@Suite(.serialized) struct PrecisionSettingTests {
    static let choices = "must be auto, fp32, int8 or bf16"

    /// `sightlined --check-config` with nothing from the test's environment but `extra`.
    static func checkConfig(_ arguments: [String], environment extra: [String: String] = [:]) async throws
        -> (status: Int32, stdout: String, stderr: String) {
        let directory = NSTemporaryDirectory() + "sightline-precision-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var environment = ["HOME": directory, "XDG_CONFIG_HOME": directory + "/config", "PATH": "/usr/bin:/bin", "SIGHTLINE_CONFIG": "/dev/null"]
        environment.merge(extra) { $1 }
        return try await ChildProcesses.run(BuiltProducts.path("sightlined"), ["--check-config"] + arguments, environment: environment)
    }

    static func file(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "sightline-precision-\(UUID().uuidString).toml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func theLayersSetThePrecisionAndBadValuesNameTheKeyAndTheChoices() async throws {
        let shown = try await Self.checkConfig([])
        #expect(shown.status == 0 && shown.stdout.contains("model.precision = auto\n"), "\(shown.stdout)\(shown.stderr)")

        let config = try Self.file("[model]\nprecision = \"fp32\"\n")
        defer { unlink(config) }
        let fromFile = try await Self.checkConfig(["--config", config])
        #expect(fromFile.stdout.contains("model.precision = fp32\n"), "\(fromFile.stdout)\(fromFile.stderr)")
        let fromEnvironment = try await Self.checkConfig(["--config", config], environment: ["SIGHTLINE_PRECISION": "int8"])
        #expect(fromEnvironment.stdout.contains("model.precision = int8\n"), "\(fromEnvironment.stdout)\(fromEnvironment.stderr)")
        let fromFlag = try await Self.checkConfig(["--config", config, "--precision", "bf16"], environment: ["SIGHTLINE_PRECISION": "int8"])
        #expect(fromFlag.stdout.contains("model.precision = bf16\n"), "\(fromFlag.stdout)\(fromFlag.stderr)")

        let badFile = try Self.file("[model]\nthreads = 2\nprecision = \"int4\"\n")
        defer { unlink(badFile) }
        let refusedFile = try await Self.checkConfig(["--config", badFile])
        #expect(refusedFile.status == 1)
        #expect(refusedFile.stderr == "sightlined: \(badFile) line 3: model.precision \(Self.choices), not \"int4\"\n", "\(refusedFile.stderr)")

        let refusedEnvironment = try await Self.checkConfig([], environment: ["SIGHTLINE_PRECISION": "fast"])
        #expect(refusedEnvironment.status == 1)
        #expect(refusedEnvironment.stderr == "sightlined: SIGHTLINE_PRECISION (model.precision) \(Self.choices), not \"fast\"\n",
                "\(refusedEnvironment.stderr)")

        for bad in ["half", "FP32", ""] {
            let refusedFlag = try await Self.checkConfig(["--precision", bad])
            #expect(refusedFlag.status == 1)
            #expect(refusedFlag.stderr == "sightlined: --precision (model.precision) \(Self.choices), not \"\(bad)\"\n", "\(refusedFlag.stderr)")
        }
    }

    /// With the default (`auto`) the daemon says which precision the self-check chose and
    /// why, with the kernels and the CPU's features; `sightline status` prints them.
    @Test(.timeLimit(.minutes(2))) func statusShowsThePrecisionInUseAndWhy() async throws {
        let daemon = try DaemonProcess()
        defer { daemon.cleanUp() }
        try await daemon.start()
        let model = try #require(try await daemon.client { try await $0.request(.status)["model"] })
        let precision = model["precision"]?.stringValue ?? ""
        #expect(["fp32", "int8", "bf16"].contains(precision), "\(model)")
        let reason = model["precision_reason"]?.stringValue ?? ""
        #expect(reason.hasPrefix("auto: "), "\(model)")
        let kernels = model["kernels"]?.stringValue ?? ""
        #expect(precision == "fp32" ? kernels == "OpenBLAS" : kernels.hasPrefix("oneDNN "), "\(model)")
        let features = model["cpu_features"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(features == CPUFeatures.current.names && !features.isEmpty, "\(model)")
        #expect(daemon.log().contains("engine precision \(precision)"), "\(daemon.log())")

        let shown = try await ChildProcesses.run(BuiltProducts.path("sightline"), ["status", "--socket", daemon.socket])
        #expect(shown.status == 0, "\(shown.stderr)")
        let line = "engine precision \(precision) (\(kernels); \(features.joined(separator: " ")))"
        #expect(shown.stdout.contains(line + "\n  " + reason + "\n"), "no \(line) in \(shown.stdout)")
        #expect(await daemon.stop() == 0)
    }

    /// An explicit precision is used as asked, by flag or environment, with the self-check's
    /// verdict in the reason for a lower one.
    @Test(.timeLimit(.minutes(2)), arguments: [(["--precision", "fp32"], [String: String]()), ([], ["SIGHTLINE_PRECISION": "int8"])])
    func anExplicitPrecisionIsUsedAsAsked(arguments: [String], environment: [String: String]) async throws {
        let daemon = try DaemonProcess(arguments: arguments, environment: environment)
        defer { daemon.cleanUp() }
        try await daemon.start()
        let model = try #require(try await daemon.client { try await $0.request(.status)["model"] })
        if arguments.isEmpty {
            #expect(model["precision"] == "int8" && model["kernels"]?.stringValue?.hasPrefix("oneDNN ") == true, "\(model)")
            #expect(model["precision_reason"]?.stringValue?.hasPrefix("int8 was asked for and") == true, "\(model)")
        } else {
            #expect(model["precision"] == "fp32" && model["kernels"] == "OpenBLAS" && model["precision_reason"] == "fp32 was asked for", "\(model)")
        }
        #expect(await daemon.stop() == 0)
    }

    /// The engine is built once: a reload logs a changed `model.precision` as waiting for the
    /// next restart and keeps running the one it has.
    @Test(.timeLimit(.minutes(2))) func aChangedPrecisionTakesEffectAtTheNextRestart() async throws {
        let daemon = try DaemonProcess()
        defer { daemon.cleanUp() }
        let config = daemon.directory + "/sightlined.toml"
        try "[model]\nprecision = \"fp32\"\n".write(toFile: config, atomically: true, encoding: .utf8)
        let running = try DaemonProcess(directory: daemon.directory, arguments: ["--config", config])
        try await running.start()
        try "[model]\nprecision = \"int8\"\n".write(toFile: config, atomically: true, encoding: .utf8)
        kill(try #require(running.process?.processIdentifier), SIGHUP)
        let waiting = "model.precision changed in the configuration; it takes effect at the next restart"
        let deadline = ContinuousClock.now + .seconds(30)
        while !running.log().contains("configuration reloaded"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(25))
        }
        #expect(running.log().contains(waiting), "\(running.log())")
        let model = try await running.client { try await $0.request(.status)["model"] }
        #expect(model?["precision"] == "fp32", "\(String(describing: model))")
        #expect(await running.stop() == 0)
    }

    /// bf16 where oneDNN is capped below it (as on a CPU without AVX512-BF16): the daemon does
    /// not start, and its log names the key, the CPU and the cap.
    @Test(.timeLimit(.minutes(2))) func aPrecisionTheCPUCannotRunStopsTheDaemon() async throws {
        let directory = NSTemporaryDirectory() + "sightline-precision-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var environment = ProcessInfo.processInfo.environment
        environment["SIGHTLINE_CONFIG"] = "/dev/null"
        environment["DNNL_MAX_CPU_ISA"] = "AVX2"
        environment["SIGHTLINE_PRECISION"] = "bf16"
        let result = try await ChildProcesses.run(BuiltProducts.path("sightlined"), [
            "--socket", directory + "/sightline.sock", "--state-dir", directory + "/state", "--model", DaemonProcess.tinyModel,
        ], environment: environment)
        #expect(result.status == 1)
        let log = result.stdout + result.stderr
        let cpu = CPUFeatures.current
        #expect(log.contains("cannot load the model: model.precision bf16 does not run on this CPU (\(cpu.model): \(cpu.names.joined(separator: " "))"),
                "\(log)")
        #expect(log.contains("oneDNN is capped at AVX2 by DNNL_MAX_CPU_ISA"), "\(log)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/sightline.sock"))
    }
}
