/// The limits every Sightline peer enforces on the wire. `Docs/protocol.md` documents them.
public enum ProtocolLimits {
    /// The protocol version the server announces in its greeting. It changes only when a
    /// change would break an existing client.
    public static let version = 1
    /// The longest line accepted, in bytes, not counting the `\n`.
    public static let maxLineBytes = 1 << 20
    /// The deepest nesting of arrays and objects accepted in one line.
    public static let maxNestingDepth = 32
}
