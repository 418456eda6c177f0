import SightlineTestSupport
import Testing

/// `-Ounchecked` removes bounds and overflow checks: no Swift target is built that way, so the
/// code that parses checkpoints, configurations, tokenizer files and the wire keeps every
/// check. The numeric kernels, which loop over raw buffers their callers size-checked once,
/// are C (CKernels) and stand alone: nothing that parses input can hide among them.
@Suite struct UncheckedCodeTests {
    static let uncheckedFlags: Set<String> = ["-Ounchecked", "-enforce-exclusivity=unchecked", "-remove-runtime-asserts"]

    @Test func noSwiftTargetIsBuiltWithoutChecksAndTheKernelsStandAlone() async throws {
        let manifest = try await Manifest.load()
        let unchecked = manifest.targets.filter { !Set($0.value.unsafeFlags).isDisjoint(with: Self.uncheckedFlags) }.map(\.key)
        #expect(unchecked.isEmpty, "built without runtime checks: \(unchecked.sorted())")
        #expect(try manifest.closure(of: "SightlineKernels").targets == ["CKernels"])
        #expect(try manifest.closure(of: "CKernels").targets.isEmpty)
        #expect(manifest.targets["SightlineModel"]?.unsafeFlags.contains("-O") == true)
    }
}
