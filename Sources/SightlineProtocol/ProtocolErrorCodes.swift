import SightlineCore

/// The error codes the protocol adds to `SightlineError.Code`. Every code can appear as
/// `error.code` in a reply; `Docs/protocol.md` lists them all with their meaning.
extension SightlineError.Code {
    /// The line is not valid JSON or not valid UTF-8.
    public static let parseError = Self(rawValue: "parse_error")
    /// The line nests arrays and objects deeper than the protocol allows.
    public static let nestingTooDeep = Self(rawValue: "nesting_too_deep")
    /// The line is longer than the protocol allows; it was discarded up to its newline.
    public static let lineTooLong = Self(rawValue: "line_too_long")
    /// The line is JSON but not a request object (`op` missing, `id` of the wrong type...).
    public static let invalidRequest = Self(rawValue: "invalid_request")
    /// The operation is not one the server knows.
    public static let unknownOperation = Self(rawValue: "unknown_op")
    /// A parameter is missing, of the wrong type or out of range; the message names it.
    public static let invalidParams = Self(rawValue: "invalid_params")
    /// The stream or query named does not exist.
    public static let notFound = Self(rawValue: "not_found")
    /// A stream with that id exists already.
    public static let alreadyExists = Self(rawValue: "already_exists")
    /// The peer's user may not perform this operation.
    public static let forbidden = Self(rawValue: "forbidden")
    /// The stream or query is defined in the configuration file: change it there and reload.
    public static let definedInConfig = Self(rawValue: "defined_in_config")
    /// The server cannot do this now (shutting down, no engine, limit reached).
    public static let unavailable = Self(rawValue: "unavailable")
    /// The daemon already serves `socket.max_connections` connections, or the peer's user
    /// already holds `socket.max_connections_per_user`; this one was closed after this error,
    /// in place of the greeting.
    public static let tooManyConnections = Self(rawValue: "too_many_connections")
    /// A failure inside the server; the message says what failed.
    public static let internalError = Self(rawValue: "internal_error")
}
