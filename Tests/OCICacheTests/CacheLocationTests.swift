import XCTest
import OCICache

final class CacheLocationTests: XCTestCase {
    func testDefaultDirectory() {
        let table: [([String: String], String)] = [
            (["OCI_CACHE_DIR": "/x"], "/x"),
            (["OCI_CACHE_DIR": "/x", "XDG_CACHE_HOME": "/c", "HOME": "/h"], "/x"),
            (["XDG_CACHE_HOME": "/c", "HOME": "/h"], "/c/ociclient"),
            (["XDG_CACHE_HOME": "/c/", "HOME": "/h"], "/c/ociclient"),
            (["XDG_CACHE_HOME": "relative/dir", "HOME": "/h"], "/h/.cache/ociclient"),
            (["XDG_CACHE_HOME": "", "HOME": "/h"], "/h/.cache/ociclient"),
            (["OCI_CACHE_DIR": "", "HOME": "/h/"], "/h/.cache/ociclient"),
            (["HOME": "/home/user"], "/home/user/.cache/ociclient"),
        ]
        for (environment, expected) in table {
            XCTAssertEqual(ContentCache.defaultDirectory(environment: environment), expected, "\(environment)")
        }
    }

    func testDefaultDirectoryWithoutHomeIsStillAPath() {
        XCTAssertTrue(ContentCache.defaultDirectory(environment: [:]).hasSuffix("/.cache/ociclient"))
    }
}
