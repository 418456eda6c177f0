import SightlineCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct GroupLookupTests {
    @Test func rootIsGroupZero() throws {
        #expect(try lookUpGroup(named: "root") == 0)
    }

    /// The name the system gives this process's group leads back to its gid.
    @Test func theNameOfOurOwnGroupLeadsBackToItsGID() throws {
        let gid = getegid()
        let entry = try #require(getgrgid(gid))
        let name = String(cString: entry.pointee.gr_name)
        #expect(try lookUpGroup(named: name) == gid)
    }

    @Test(arguments: ["sightline-no-such-group", "", "a-group-name-far-longer-than-any-system-allows-\(String(repeating: "x", count: 300))"])
    func anUnknownGroupIsNil(name: String) throws {
        #expect(try lookUpGroup(named: name) == nil)
    }
}
