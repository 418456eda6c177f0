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

    static func main() async {
        Output.prepare()
        await main(nil)
    }
}

enum SightlineVersion {
    static let string = "0.1.0"
}
