import SightlineCore
import Testing

@testable import SightlineProtocol

@Suite struct WireTimeTests {
    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
        (1_795_342_503_120, "2026-11-22T10:15:03.120Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (4_102_444_799_999, "2099-12-31T23:59:59.999Z"),
    ])
    func formatsAndParses(ms: Int64, text: String) throws {
        #expect(WireTime(millisecondsSince1970: ms).iso8601 == text)
        #expect(try WireTime(iso8601: text).millisecondsSince1970 == ms)
    }

    @Test func roundTripsEveryDayOfFourCenturies() throws {
        var day: Int64 = -719_162  // 0001-01-01
        while day < 400 * 366 {
            let t = WireTime(millisecondsSince1970: day * 86_400_000 + 45_296_789)
            #expect(try WireTime(iso8601: t.iso8601) == t)
            day += 97
        }
    }

    @Test func acceptsOtherFractionLengths() throws {
        #expect(try WireTime(iso8601: "1970-01-01T00:00:01Z").millisecondsSince1970 == 1000)
        #expect(try WireTime(iso8601: "1970-01-01T00:00:01.5Z").millisecondsSince1970 == 1500)
        #expect(try WireTime(iso8601: "1970-01-01T00:00:01.123456789Z").millisecondsSince1970 == 1123)
    }

    @Test(arguments: ["", "yesterday", "2026-11-22 10:15:03Z", "2026-13-01T00:00:00Z", "2026-11-22T10:15:03.Z",
                      "2026-11-22T10:15:03+01:00", "2026-11-22T25:00:00Z", "2026-11-22T10:15:03.1234567890Z"])
    func rejectsMalformedTimes(text: String) {
        #expect(throws: SightlineError.self) { try WireTime(iso8601: text) }
    }
}
