/// Hides the user-info part of every URI in a text: `rtsp://admin:secret@cam/live` becomes
/// `rtsp://***@cam/live`. Every log line and status that may carry a URI goes through it,
/// including GStreamer's own error texts, which quote the location they failed on.
///
/// Cameras' passwords are typed by people, so it also masks what a strict URI parser would
/// not call user info: a password holding `@` or an unencoded `/`
/// (`rtsp://admin:pa/ss@cam/live`), and a scheme with one slash (`rtsp:/admin:pw@cam`).
public func maskingCredentials(_ text: String) -> String {
    guard text.contains("@") else { return text }
    var result = ""
    result.reserveCapacity(text.count)
    var rest = Substring(text)
    while let marker = rest.range(of: ":/") {
        var start = marker.upperBound
        while start < rest.endIndex, rest[start] == "/" { start = rest.index(after: start) }
        result += rest[..<start]
        rest = rest[start...]
        // The URI runs to whitespace or a quote; its authority to the first "/", "?" or "#".
        let tokenEnd = rest.firstIndex { $0.isWhitespace || $0 == "\"" || $0 == "'" || $0 == ">" || $0 == "<" } ?? rest.endIndex
        let token = rest[..<tokenEnd]
        let authorityEnd = token.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? token.endIndex
        let userInfoEnd: Substring.Index?
        if let at = token[..<authorityEnd].lastIndex(of: "@") {
            // A password may hold "@": the host starts after the last one in the authority.
            userInfoEnd = at
        } else if let at = token.lastIndex(of: "@"), looksLikeUserAndPassword(token[..<at]) {
            // "user:pa/ss@host": the "/" was the password's, not the path's.
            userInfoEnd = at
        } else {
            userInfoEnd = nil
        }
        if let userInfoEnd {
            result += "***"
            rest = rest[userInfoEnd...]
        } else {
            result += token[..<authorityEnd]
            rest = rest[authorityEnd...]
        }
    }
    result += rest
    return result
}

/// `user:password` with the password running past a "/": a ":" before the first "/" that is
/// not followed by a port number (`cam:554/path@x` is a host, a port and a path).
private func looksLikeUserAndPassword(_ candidate: Substring) -> Bool {
    guard let slash = candidate.firstIndex(of: "/"), let colon = candidate[..<slash].firstIndex(of: ":") else { return false }
    let afterColon = candidate[candidate.index(after: colon)..<slash]
    return afterColon.isEmpty || !afterColon.allSatisfy(\.isASCII) || !afterColon.allSatisfy(\.isNumber)
}
