import OCISpec

/// Why a string is not a usable byte quantity.
public enum QuantityError: Error, Sendable, Equatable, CustomStringConvertible {
    case empty
    /// Not a Kubernetes quantity (`<number><suffix>`, suffixes `Ki Mi Gi Ti Pi Ei`, `k M G T P E`, `m u n`, `e<exp>`).
    case invalidFormat(String)
    case negative(String)
    /// The quantity is not a whole number of bytes (for example `1m` or `0.5`).
    case fractionalBytes(String)
    /// The quantity does not fit in a 64-bit byte count.
    case outOfRange(String)

    public var description: String {
        switch self {
        case .empty: return "empty size: give a quantity such as 200Mi, 1G, 1e3 or a plain byte count"
        case .invalidFormat(let s): return "invalid size \"\(s)\": use a quantity such as 1Ki, 200Mi, 1G, 1e3 or a plain byte count"
        case .negative(let s): return "invalid size \"\(s)\": sizes cannot be negative"
        case .fractionalBytes(let s): return "invalid size \"\(s)\": it is not a whole number of bytes"
        case .outOfRange(let s): return "invalid size \"\(s)\": it is larger than \(Int64.max) bytes"
        }
    }
}

/// Byte sizes written as Kubernetes quantities: `1Ki`, `200Mi`, `1G`, `1e3`, `1.5Gi` or plain bytes.
public enum ByteQuantity {
    /// Parses a quantity into a whole number of bytes; fractional, negative or oversized values are errors.
    public static func parse(_ text: String) throws(QuantityError) -> Int64 {
        guard !text.isEmpty else { throw .empty }
        var bytes = Array(text.utf8)[...]
        var negative = false
        if let first = bytes.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") {
            negative = first == UInt8(ascii: "-")
            bytes = bytes.dropFirst()
        }
        let isDigit: (UInt8) -> Bool = { $0 >= 48 && $0 <= 57 }
        let integerDigits = bytes.prefix(while: isDigit)
        bytes = bytes.dropFirst(integerDigits.count)
        var fractionDigits: ArraySlice<UInt8> = []
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            fractionDigits = bytes.prefix(while: isDigit)
            bytes = bytes.dropFirst(fractionDigits.count)
        }
        guard !integerDigits.isEmpty || !fractionDigits.isEmpty else { throw .invalidFormat(text) }
        guard let (exponent10, binaryShift) = suffix(String(decoding: bytes, as: UTF8.self)) else {
            throw .invalidFormat(text)
        }

        // The mantissa as digits with leading and trailing zeros removed, and the power of ten it carries.
        var digits = Array(integerDigits) + Array(fractionDigits)
        var power = exponent10 - fractionDigits.count
        while let last = digits.last, last == 48, !digits.isEmpty { digits.removeLast(); power += 1 }
        while let first = digits.first, first == 48 { digits.removeFirst() }
        if digits.isEmpty { return 0 }
        if negative { throw .negative(text) }
        guard digits.count <= 19 else { throw .outOfRange(text) }
        var mantissa: UInt64 = 0
        for d in digits { mantissa = mantissa * 10 + UInt64(d - 48) }

        var value = mantissa
        var twos = binaryShift
        if power >= 0 {
            for _ in 0..<power {
                let (v, overflow) = value.multipliedReportingOverflow(by: 10)
                guard !overflow else { throw .outOfRange(text) }
                value = v
            }
        } else {
            // Dividing by 10^n = 5^n * 2^n: the fives must divide the mantissa, the twos may cancel the binary shift.
            for _ in 0..<(-power) {
                guard value % 5 == 0 else { throw .fractionalBytes(text) }
                value /= 5
            }
            twos += power
        }
        if twos >= 0 {
            for _ in 0..<twos {
                let (v, overflow) = value.multipliedReportingOverflow(by: 2)
                guard !overflow else { throw .outOfRange(text) }
                value = v
            }
        } else {
            for _ in 0..<(-twos) {
                guard value % 2 == 0 else { throw .fractionalBytes(text) }
                value /= 2
            }
        }
        guard value <= UInt64(Int64.max) else { throw .outOfRange(text) }
        return Int64(value)
    }

    /// The power of ten and the power of two that a suffix stands for; nil for an unknown suffix.
    private static func suffix(_ s: String) -> (Int, Int)? {
        switch s {
        case "": return (0, 0)
        case "Ki": return (0, 10)
        case "Mi": return (0, 20)
        case "Gi": return (0, 30)
        case "Ti": return (0, 40)
        case "Pi": return (0, 50)
        case "Ei": return (0, 60)
        case "n": return (-9, 0)
        case "u": return (-6, 0)
        case "m": return (-3, 0)
        case "k": return (3, 0)
        case "M": return (6, 0)
        case "G": return (9, 0)
        case "T": return (12, 0)
        case "P": return (15, 0)
        case "E": return (18, 0)
        default:
            guard let first = s.first, first == "e" || first == "E" else { return nil }
            var rest = s.dropFirst()
            var sign = 1
            if let f = rest.first, f == "+" || f == "-" {
                sign = f == "-" ? -1 : 1
                rest = rest.dropFirst()
            }
            guard !rest.isEmpty, rest.count <= 4, rest.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let exponent = Int(rest) else { return nil }
            return (sign * exponent, 0)
        }
    }
}

extension QuantityError: OCIError {
    public var kind: OCIErrorKind { .invalidArgument }
}
