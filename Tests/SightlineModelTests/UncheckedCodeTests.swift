import SightlineTestSupport
import Testing

/// `-Ounchecked` removes bounds and overflow checks. Only the numeric kernels, which loop over
/// raw buffers their callers size-checked once, may be built that way; the code that parses
/// checkpoints, configurations, tokenizer files and the wire keeps every check.
@Suite struct UncheckedCodeTests {
    static let uncheckedFlags: Set<String> = ["-Ounchecked", "-enforce-exclusivity=unchecked", "-remove-runtime-asserts"]

    @Test func onlyTheKernelsTargetIsBuiltWithoutChecks() async throws {
        let manifest = try await Manifest.load()
        let unchecked = manifest.targets.filter { !Set($0.value.unsafeFlags).isDisjoint(with: Self.uncheckedFlags) }.map(\.key)
        #expect(unchecked == ["SightlineKernels"], "built without runtime checks: \(unchecked.sorted())")
        // The kernels stand alone: nothing that parses input can hide in their target's imports.
        #expect(try manifest.closure(of: "SightlineKernels").targets.isEmpty)
        #expect(manifest.targets["SightlineModel"]?.unsafeFlags.contains("-O") == true)
    }
}
