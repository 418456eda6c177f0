import Foundation
import ArgumentParser

@main
struct SightlineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sightline",
        abstract: "Open-vocabulary spatio-temporal grounding on video: the Sightline client.",
        version: SightlineVersion.string,
        // One line per command group; each group lives in its own file.
        subcommands: [
            StreamCommand.self,
            QueryCommand.self,
            TailCommand.self,
            StatusCommand.self,
            EmbedCommand.self,
            GroundCommand.self,
            EvalCommand.self,
            ModelCommand.self,
            InstallCommand.self,
            UninstallCommand.self,
        ]
    )

    /// ArgumentParser's own entry point, but with the error line masked: a command's error may
    /// quote a camera's URI as it was typed, password and all.
    static func main() async {
        Output.prepare()
        do {
            var command = try parseAsRoot(nil)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            let text = fullMessage(for: error)
            // Help and --version are "errors" that succeed: their text goes to standard output.
            if code == .success {
                if !text.isEmpty { Output.line(text) }
            } else {
                Output.error(text)
            }
            Foundation.exit(code.rawValue)
        }
    }
}

enum SightlineVersion {
    static let string = "0.1.0"
}
