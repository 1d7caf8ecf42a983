/// AES block decryption (FIPS-197 inverse cipher), for the secrets server's `AES.ECB` payloads only.
/// The target has no crypto dependency, and ECB decryption of a small config is all that is needed.
struct AESDecryptor {
    private let roundKeys: [UInt8]
    private let rounds: Int

    /// nil unless the key has 16, 24 or 32 bytes.
    init?(key: [UInt8]) {
        guard [16, 24, 32].contains(key.count) else { return nil }
        let nk = key.count / 4
        rounds = nk + 6
        let totalWords = 4 * (rounds + 1)
        var words = key
        words.reserveCapacity(totalWords * 4)
        var rcon: UInt8 = 1
        for i in nk..<totalWords {
            var temp = Array(words[(i - 1) * 4..<i * 4])
            if i % nk == 0 {
                temp = [Self.sBox[Int(temp[1])] ^ rcon, Self.sBox[Int(temp[2])], Self.sBox[Int(temp[3])], Self.sBox[Int(temp[0])]]
                rcon = Self.xtime(rcon)
            } else if nk > 6 && i % nk == 4 {
                temp = temp.map { Self.sBox[Int($0)] }
            }
            for j in 0..<4 { words.append(words[(i - nk) * 4 + j] ^ temp[j]) }
        }
        roundKeys = words
    }

    /// Decrypts whole 16-byte blocks independently (ECB). nil if the length is not a multiple of 16.
    func decryptECB(_ data: [UInt8]) -> [UInt8]? {
        guard data.count % 16 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(data.count)
        var offset = 0
        while offset < data.count {
            out.append(contentsOf: decryptBlock(Array(data[offset..<offset + 16])))
            offset += 16
        }
        return out
    }

    func decryptBlock(_ block: [UInt8]) -> [UInt8] {
        var state = block
        addRoundKey(&state, round: rounds)
        for round in stride(from: rounds - 1, through: 1, by: -1) {
            invShiftRows(&state)
            for i in 0..<16 { state[i] = Self.invSBox[Int(state[i])] }
            addRoundKey(&state, round: round)
            invMixColumns(&state)
        }
        invShiftRows(&state)
        for i in 0..<16 { state[i] = Self.invSBox[Int(state[i])] }
        addRoundKey(&state, round: 0)
        return state
    }

    private func addRoundKey(_ state: inout [UInt8], round: Int) {
        for i in 0..<16 { state[i] ^= roundKeys[round * 16 + i] }
    }

    /// State is column-major: byte `r + 4c` is row r, column c. Row r shifts right by r.
    private func invShiftRows(_ state: inout [UInt8]) {
        let copy = state
        for r in 1..<4 {
            for c in 0..<4 { state[r + 4 * ((c + r) % 4)] = copy[r + 4 * c] }
        }
    }

    private func invMixColumns(_ state: inout [UInt8]) {
        for c in 0..<4 {
            let a0 = state[4 * c], a1 = state[4 * c + 1], a2 = state[4 * c + 2], a3 = state[4 * c + 3]
            state[4 * c] = Self.mul(a0, 14) ^ Self.mul(a1, 11) ^ Self.mul(a2, 13) ^ Self.mul(a3, 9)
            state[4 * c + 1] = Self.mul(a0, 9) ^ Self.mul(a1, 14) ^ Self.mul(a2, 11) ^ Self.mul(a3, 13)
            state[4 * c + 2] = Self.mul(a0, 13) ^ Self.mul(a1, 9) ^ Self.mul(a2, 14) ^ Self.mul(a3, 11)
            state[4 * c + 3] = Self.mul(a0, 11) ^ Self.mul(a1, 13) ^ Self.mul(a2, 9) ^ Self.mul(a3, 14)
        }
    }

    private static func xtime(_ x: UInt8) -> UInt8 { (x << 1) ^ ((x & 0x80) != 0 ? 0x1B : 0) }

    private static func mul(_ a: UInt8, _ b: UInt8) -> UInt8 {
        var a = a, b = b, product: UInt8 = 0
        while b != 0 {
            if b & 1 != 0 { product ^= a }
            a = xtime(a)
            b >>= 1
        }
        return product
    }

    /// The S-box, computed (multiplicative inverse in GF(2^8), then the affine transform).
    static let sBox: [UInt8] = {
        var box = [UInt8](repeating: 0, count: 256)
        for x in 0..<256 {
            var inverse: UInt8 = 0
            if x != 0 {
                for y in 1..<256 where mul(UInt8(x), UInt8(y)) == 1 { inverse = UInt8(y); break }
            }
            var s = inverse
            var result = inverse
            for _ in 0..<4 {
                s = (s << 1) | (s >> 7)
                result ^= s
            }
            box[x] = result ^ 0x63
        }
        return box
    }()

    static let invSBox: [UInt8] = {
        var box = [UInt8](repeating: 0, count: 256)
        for (index, value) in sBox.enumerated() { box[Int(value)] = UInt8(index) }
        return box
    }()
}
