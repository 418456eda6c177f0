import SightlineCore

extension SightlineError.Code {
    /// The hub cannot be reached (no network, DNS failure, connection refused, offline mode).
    public static let hubUnreachable = SightlineError.Code(rawValue: "hub_unreachable")
    /// The hub answered that the repository, revision or file does not exist (or is private).
    public static let hubNotFound = SightlineError.Code(rawValue: "hub_not_found")
    /// The hub answered with an error other than not-found (authentication, gated, server error).
    public static let hubError = SightlineError.Code(rawValue: "hub_error")
    /// A downloaded file's size or hash differs from the hub's metadata.
    public static let integrity = SightlineError.Code(rawValue: "integrity_error")
}
