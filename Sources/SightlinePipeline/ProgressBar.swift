import Foundation

/// A one-line progress bar on standard error, drawn only when standard error is a terminal
/// and at most ten times a second; silent otherwise, so logs and pipes stay clean.
public final class ProgressBar {
    private let label: String
    private let enabled: Bool
    private var lastDraw = Date.distantPast
    private let width = 28

    public init(label: String, enabled: Bool = isatty(STDERR_FILENO) == 1) {
        self.label = label
        self.enabled = enabled
    }

    /// `total` nil draws a count without a bar.
    public func update(done: Int, total: Int?, detail: String = "", force: Bool = false) {
        guard enabled else { return }
        let now = Date()
        guard force || now.timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = now
        FileHandle.standardError.write(Data(("\r\u{1B}[2K" + Self.line(label: label, done: done, total: total, detail: detail, width: width)).utf8))
    }

    public func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
    }

    static func line(label: String, done: Int, total: Int?, detail: String, width: Int) -> String {
        guard let total, total > 0 else { return "\(label) \(done) \(detail)" }
        let fraction = min(1, Double(done) / Double(total))
        let filled = Int((fraction * Double(width)).rounded(.down))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        return "\(label) [\(bar)] \(Int((fraction * 100).rounded(.down)))% \(done)/\(total) \(detail)"
    }
}
