import Foundation
import SightlineProtocol

/// Decides which model the daemon announces from the configuration: a checkpoint directory,
/// and whether it is the bundled test model (its `config.json` says
/// `"sightline_test_model": true`).
public enum ModelResolution {
    public static func describe(_ configuration: DaemonConfiguration) -> ModelSummary {
        guard let path = configuration.modelPath else {
            return ModelSummary(
                name: "none", path: nil, isTestModel: false,
                note: "no model configured: streams are watched but not grounded; get one with `\(ModelSummary.realModelHint)` and set model.path")
        }
        let name = (path as NSString).lastPathComponent
        let configPath = path + "/config.json"
        guard let data = FileManager.default.contents(atPath: configPath),
              let config = try? JSONParser().parse(Array(data))
        else {
            return ModelSummary(name: name, path: path, isTestModel: false, note: "cannot read \(configPath)")
        }
        let isTest = config["sightline_test_model"]?.boolValue == true
        return ModelSummary(
            name: name, path: path, isTestModel: isTest,
            note: isTest ? "the bundled tiny test model, for demos and tests only: its matches mean nothing; get a real one with `\(ModelSummary.realModelHint)`" : nil)
    }
}
