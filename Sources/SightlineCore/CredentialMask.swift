/// Hides the user-info part of every URI in a text: `rtsp://admin:secret@cam/live` becomes
/// `rtsp://***@cam/live`. Every log line and status that may carry a URI goes through it,
/// including GStreamer's own error texts, which quote the location they failed on.
public func maskingCredentials(_ text: String) -> String {
    guard text.contains("@") else { return text }
    var result = ""
    result.reserveCapacity(text.count)
    var rest = Substring(text)
    while let marker = rest.range(of: "://") {
        result += rest[..<marker.upperBound]
        rest = rest[marker.upperBound...]
        // The authority runs to the first character that ends it; a password may hold "@",
        // so the host starts after the last "@" inside the authority.
        let end = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" || $0.isWhitespace || $0 == "\"" || $0 == "'" || $0 == ">" } ?? rest.endIndex
        let authority = rest[..<end]
        if let at = authority.lastIndex(of: "@") {
            result += "***"
            result += authority[at...]
        } else {
            result += authority
        }
        rest = rest[end...]
    }
    result += rest
    return result
}
