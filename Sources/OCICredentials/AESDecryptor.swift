import Crypto
import _CryptoExtras

/// AES-ECB decryption for the secrets server's `AES.ECB` payloads: each 16-byte block goes through swift-crypto's
/// AES block function (`AES.inversePermute`, BoringSSL underneath) on its own, as ECB does.
struct AESDecryptor {
    private let key: SymmetricKey

    /// nil unless the key has 16, 24 or 32 bytes.
    init?(key: [UInt8]) {
        guard [16, 24, 32].contains(key.count) else { return nil }
        self.key = SymmetricKey(data: key)
    }

    /// Decrypts whole 16-byte blocks independently (ECB). nil if the length is not a multiple of 16.
    func decryptECB(_ data: [UInt8]) -> [UInt8]? {
        guard data.count % 16 == 0 else { return nil }
        var out = data
        var offset = 0
        while offset < out.count {
            do { try AES.inversePermute(&out[offset..<offset + 16], key: key) } catch { return nil }
            offset += 16
        }
        return out
    }

    /// Decrypts one 16-byte block; nil for any other length.
    func decryptBlock(_ block: [UInt8]) -> [UInt8]? {
        var state = block
        do { try AES.inversePermute(&state, key: key) } catch { return nil }
        return state
    }
}
