import ArgumentParser

/// Benchmarks: each subcommand measures Sightline and a peer in the same run and prints ratios,
/// since the machines are too noisy for absolute figures to mean much on their own.
/// Run with `swift run -c release sightline-bench <subcommand>`.
@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sightline-bench",
        abstract: "Sightline benchmarks: Sightline against a peer measured in the same run.",
        // One line per benchmark; each lives in its own file.
        subcommands: [
            IngestBenchmark.self,
            QueriesBenchmark.self,
            EncoderBenchmark.self,
            DaemonBenchmark.self,
            MotionBenchmark.self,
            WindowBenchmark.self,
            CamerasBenchmark.self,
            HistoryBenchmark.self,
        ]
    )
}
