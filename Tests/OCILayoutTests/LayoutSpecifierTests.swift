import OCILayout
import OCITestFixtures
import XCTest

/// The `ocidir://PATH[:TAG|@DIGEST]` grammar.
final class LayoutSpecifierTests: XCTestCase {
    private let digest = "sha256:" + String(repeating: "ab", count: 32)

    func testParseTable() {
        let table: [(String, String, String?)] = [
            ("ocidir://dir", "dir", nil),
            ("ocidir://dir:v1", "dir", "v1"),
            ("ocidir://dir@\(digest)", "dir", digest),
            ("ocidir://dir:v1@\(digest)", "dir", digest),
            ("ocidir:///abs/path/img:1.0", "/abs/path/img", "1.0"),
            ("ocidir://./rel/img", "./rel/img", nil),
            ("ocidir://../up:tag", "../up", "tag"),
            ("ocidir://host:5000/img", "host:5000/img", nil),
            ("ocidir://a:b/c:d", "a:b/c", "d"),
            ("ocidir://a@b/c", "a@b/c", nil),
            ("ocidir://a:b/", "a:b/", nil),
            ("ocidir://a:b/:v2", "a:b/", "v2"),
            ("ocidir://dir:", "dir", nil),
            ("ocidir://dir@", "dir", nil),
            ("ocidir://dir:a:b", "dir", "a:b"),
            ("ocidir://dir@sha256:bad", "dir", "sha256:bad"),
            ("ocidir://", "", nil),
            ("ocidir://:tag", "", "tag"),
            ("plain/dir:tag", "plain/dir", "tag"),
            ("/abs@\(digest)", "/abs", digest),
        ]
        for (spec, path, reference) in table {
            let parsed = OCILayoutStore.parse(spec)
            XCTAssertEqual(parsed.path, path, spec)
            XCTAssertEqual(parsed.reference, reference, spec)
        }
    }
}
