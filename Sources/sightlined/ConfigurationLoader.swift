import Foundation
import SightlineCore
import SightlineProtocol

/// Builds the daemon's configuration from its layers (embedded defaults, the file,
/// `SIGHTLINE_*` variables, flags), at start and again for every reload: the same file is
/// found the same way, and flags and the environment still win over it.
struct ConfigurationLoader: Sendable {
    var explicitFile: String?
    var environment: [String: String]
    var run: RunEnvironment
    var socket: String?
    var stateDirectory: String?
    var model: String?
    var precision: String?
    var logLevel: String?
    var metricsAddress: String?

    /// Reads the file (blocking I/O). Errors name the file, and for its contents the line.
    func load() throws(SightlineError) -> DaemonConfiguration {
        var settings = DaemonConfiguration(defaultsFor: run)
        if let file = configFile() {
            guard let handle = FileHandle(forReadingAtPath: file), let data = try? handle.readToEnd() ?? Data() else {
                throw SightlineError(.fileNotFound, "cannot read the configuration file \(file)", context: ["file": file])
            }
            guard let text = String(validating: data, as: UTF8.self) else {
                throw SightlineError(.invalidFile, "the configuration file \(file) is not UTF-8 text", context: ["file": file])
            }
            try settings.apply(ConfigFile(parsing: text, name: file))
        }
        try settings.apply(environment: environment)
        if let socket { settings.socketPath = socket }
        if let stateDirectory { settings.stateDirectory = stateDirectory }
        if let model { settings.modelPath = model }
        if let precision {
            guard DaemonConfiguration.precisions.contains(precision) else {
                throw SightlineError(.invalidArgument, DaemonConfiguration.precisionError(precision, field: "--precision"))
            }
            settings.modelPrecision = precision
        }
        if let logLevel {
            guard DaemonConfiguration.logLevels.contains(logLevel) else {
                throw SightlineError(.invalidArgument, "--log-level must be one of \(DaemonConfiguration.logLevels.joined(separator: ", "))")
            }
            settings.logLevel = logLevel
        }
        if let metricsAddress {
            _ = try DaemonConfiguration.parseAddress(metricsAddress, field: "--metrics-address")
            settings.metricsAddress = metricsAddress
        }
        return settings
    }

    /// `--config`, else `$SIGHTLINE_CONFIG`, else the default place when a file is there.
    func configFile() -> String? {
        if let explicitFile { return explicitFile }
        if let fromEnv = environment["SIGHTLINE_CONFIG"], !fromEnv.isEmpty { return fromEnv }
        let candidate: String
        if run.isService {
            candidate = "/etc/sightline/sightlined.toml"
        } else {
            let base = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(run.home ?? "/tmp")/.config"
            candidate = "\(base)/sightline/sightlined.toml"
        }
        return FileManager.default.fileExists(atPath: candidate) ? candidate : nil
    }
}
