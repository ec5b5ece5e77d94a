import Foundation

/// Base64url without padding (RFC 4648 §5), as JWTs use (RFC 7515 §2).
public enum Base64URL {
    /// Encodes `bytes` as unpadded base64url.
    public static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var s = Data(bytes).base64EncodedString()
        s = s.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        while s.hasSuffix("=") { s.removeLast() }
        return s
    }

    /// Decodes unpadded (or padded) base64url. Nil when `text` holds characters outside
    /// the base64url alphabet or has an impossible length.
    public static func decode(_ text: String) -> [UInt8]? {
        var s = text
        while s.hasSuffix("=") { s.removeLast() }
        for c in s.utf8 {
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                continue
            default:
                return nil
            }
        }
        if s.utf8.count % 4 == 1 { return nil }
        s = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.utf8.count % 4 != 0 { s.append("=") }
        guard let d = Data(base64Encoded: s) else { return nil }
        return [UInt8](d)
    }
}
