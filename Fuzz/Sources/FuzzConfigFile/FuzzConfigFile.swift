// The daemon's configuration file: any text an administrator (or a mistake) can put in the
// file goes through ConfigFile's parser and DaemonConfiguration.apply. Errors are expected;
// only a trap or a sanitizer report is a finding.
import SightlineCore
import SightlineProtocol

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: start.assumingMemoryBound(to: UInt8.self), count: count)
    // The daemon reads the file as UTF-8 with invalid sequences replaced, as here.
    let text = String(decoding: bytes, as: UTF8.self)
    let file: ConfigFile
    do {
        file = try ConfigFile(parsing: text, name: "fuzz.conf")
    } catch {
        _ = error.message
        return 0
    }
    var configuration = DaemonConfiguration(defaultsFor: RunEnvironment(variables: [:], uid: 1000, home: "/home/fuzz"))
    do {
        try configuration.apply(file)
    } catch {
        _ = error.message
    }
    return 0
}
