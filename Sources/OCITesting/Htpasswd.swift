import CCrypt
import Crypto
import Foundation

/// Checks passwords against htpasswd hashes: crypt(3) hashes (bcrypt `$2y$`/`$2b$`, SHA-crypt `$5$`/`$6$`)
/// through the system's libcrypt, and `{SHA}` through swift-crypto.
enum Htpasswd {
    static func isSupported(_ hash: String) -> Bool {
        hash.hasPrefix("{SHA}") || hash.hasPrefix("$2y$") || hash.hasPrefix("$2b$") || hash.hasPrefix("$2a$")
            || hash.hasPrefix("$5$") || hash.hasPrefix("$6$")
    }

    static func verify(_ password: String, hash: String) -> Bool {
        if hash.hasPrefix("{SHA}") {
            let digest = Data(Insecure.SHA1.hash(data: Data(password.utf8))).base64EncodedString()
            return constantTimeEqual(Array(digest.utf8), Array(hash.dropFirst(5).utf8))
        }
        guard isSupported(hash) else { return false }
        // crypt_r with its own state: crypt(3) is not thread-safe.
        let data = UnsafeMutablePointer<crypt_data>.allocate(capacity: 1)
        defer { data.deallocate() }
        memset(data, 0, MemoryLayout<crypt_data>.size)
        guard let result = crypt_r(password, hash, data) else { return false }
        let computed = String(cString: result)
        return !computed.hasPrefix("*") && constantTimeEqual(Array(computed.utf8), Array(hash.utf8))
    }

    private static func constantTimeEqual(_ x: [UInt8], _ y: [UInt8]) -> Bool {
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in x.indices { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}
