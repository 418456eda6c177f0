/// The error every Sightline library throws across its public API.
///
/// `code` is stable and machine-readable (it becomes the `error.code` of the wire protocol);
/// `message` says what failed and with which input, in words a user can act on.
public struct SightlineError: Error, CustomStringConvertible, Sendable, Equatable {
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// A file or directory that should exist does not, or cannot be read.
        public static let fileNotFound = Code(rawValue: "file_not_found")
        /// A file exists but its contents are not what the format requires.
        public static let invalidFile = Code(rawValue: "invalid_file")
        /// A model checkpoint does not match what the engine expects (names, shapes, dtypes).
        public static let modelMismatch = Code(rawValue: "model_mismatch")
        /// An argument or parameter is out of range or of the wrong kind.
        public static let invalidArgument = Code(rawValue: "invalid_argument")
        /// Media could not be opened, decoded or encoded.
        public static let media = Code(rawValue: "media_error")
        /// A system call or library call failed.
        public static let system = Code(rawValue: "system_error")
    }

    public var code: Code
    public var message: String
    /// What the error is about, e.g. `["file": "/models/x/model.safetensors", "tensor": "..."]`.
    public var context: [String: String]

    public init(_ code: Code, _ message: String, context: [String: String] = [:]) {
        self.code = code
        self.message = message
        self.context = context
    }

    public var description: String {
        guard !context.isEmpty else { return "\(code): \(message)" }
        let details = context.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
        return "\(code): \(message) (\(details))"
    }
}
