import FaceKit
import Foundation
import HTTPTypes
import Hummingbird

/// A request's fields, whichever way they came: a JSON object, a multipart
/// form (files and text) or a URL-encoded form. deepface's routes read the
/// same names from all three, so the handlers see one type.
struct RequestFields: Sendable {
    enum Value: Sendable, Equatable {
        case string(String)
        case number(Double)
        case bool(Bool)
        case null
        /// A JSON array of strings (deepface's `actions`).
        case list([String])
        /// An array or object where a scalar was expected.
        case structured
        case file(Data, filename: String)
    }

    private(set) var values: [String: Value] = [:]

    init(_ values: [String: Value] = [:]) { self.values = values }

    subscript(_ name: String) -> Value? { values[name] }

    /// Reads the body of a POST according to its Content-Type.
    static func parse(contentType: String?, body: ByteBuffer) throws(APIError) -> RequestFields {
        guard body.readableBytes > 0 else {
            throw .badRequest("the request has no body; send a JSON object or multipart/form-data")
        }
        guard let contentType, let media = MediaTypeHeader(contentType) else {
            throw APIError(.unsupportedMediaType,
                           "missing Content-Type; send application/json, multipart/form-data or application/x-www-form-urlencoded")
        }
        let bytes = Data(buffer: body)
        switch media.type {
        case "application/json": return try json(bytes)
        case "multipart/form-data":
            guard let boundary = media.parameters["boundary"], !boundary.isEmpty else {
                throw .badRequest("multipart/form-data needs a boundary parameter in Content-Type")
            }
            return try MultipartForm.parse(bytes, boundary: boundary)
        case "application/x-www-form-urlencoded": return try urlEncoded(bytes)
        default:
            throw APIError(.unsupportedMediaType,
                           "unsupported Content-Type '\(media.type)'; send application/json, multipart/form-data or application/x-www-form-urlencoded")
        }
    }

    private static func json(_ bytes: Data) throws(APIError) -> RequestFields {
        let object: [String: JSONScalar]
        do {
            object = try JSONDecoder().decode([String: JSONScalar].self, from: bytes)
        } catch {
            if (try? JSONSerialization.jsonObject(with: bytes, options: [.fragmentsAllowed])) != nil {
                throw .badRequest("the JSON body must be an object, e.g. {\"img1\": \"data:image/jpeg;base64,...\"}")
            }
            throw .badRequest("the body is not valid JSON")
        }
        return RequestFields(object.mapValues(\.value))
    }

    /// One JSON value, as much as the routes need to know of it.
    private struct JSONScalar: Decodable {
        let value: Value

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() {
                value = .null
            } else if let b = try? c.decode(Bool.self) {
                value = .bool(b)
            } else if let n = try? c.decode(Double.self) {
                value = .number(n)
            } else if let s = try? c.decode(String.self) {
                value = .string(s)
            } else if let list = try? c.decode([String].self) {
                value = .list(list)
            } else {
                value = .structured
            }
        }
    }

    private static func urlEncoded(_ bytes: Data) throws(APIError) -> RequestFields {
        guard let text = String(data: bytes, encoding: .utf8) else { throw .badRequest("the form is not UTF-8") }
        var fields = RequestFields()
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (s: Substring) in String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding }
            guard let key = decode(parts[0]), let value = parts.count > 1 ? decode(parts[1]) : "" else {
                throw .badRequest("the form has a badly escaped field")
            }
            fields.values[key] = .string(value)
        }
        return fields
    }

    // MARK: typed access

    /// The first of the names that is present (deepface's current name, then its legacy one).
    func first(_ names: [String]) -> (name: String, value: Value)? {
        for name in names { if let v = values[name], v != .null { return (name, v) } }
        return nil
    }

    func string(_ name: String) throws(APIError) -> String? {
        switch values[name] {
        case nil, .null: return nil
        case .string(let s): return s
        case .number(let n): return n == n.rounded() ? String(Int(n)) : String(n)
        case .bool(let b): return String(b)
        case .structured, .file, .list: throw .badRequest("'\(name)' must be a string")
        }
    }

    /// A list of names: a JSON array of strings, or a string as deepface
    /// reads one from a form ("age, gender", "['age', 'gender']").
    func list(_ name: String) throws(APIError) -> [String]? {
        switch values[name] {
        case nil, .null: return nil
        case .list(let items): return items
        case .string(let text):
            let cleaned = text.filter { !"[]()\"' ".contains($0) }
            return cleaned.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        default: throw .badRequest("'\(name)' must be a list of strings")
        }
    }

    /// deepface reads flags with Python's bool(), which makes the string
    /// "false" true; here "false", "0" and "no" mean false, as a client means.
    func bool(_ name: String, default value: Bool) throws(APIError) -> Bool {
        switch values[name] {
        case nil, .null: return value
        case .bool(let b): return b
        case .number(let n) where n == 0 || n == 1: return n == 1
        case .string(let s):
            switch s.lowercased() {
            case "true", "1", "yes", "on": return true
            case "false", "0", "no", "off", "": return false
            default: throw .badRequest("'\(name)' must be true or false, not '\(s)'")
            }
        default: throw .badRequest("'\(name)' must be true or false")
        }
    }

    func int(_ name: String) throws(APIError) -> Int? {
        switch values[name] {
        case nil, .null: return nil
        case .number(let n) where n == n.rounded() && abs(n) < 1e9: return Int(n)
        case .string(let s) where Int(s) != nil: return Int(s)
        default: throw .badRequest("'\(name)' must be an integer")
        }
    }

    func double(_ name: String) throws(APIError) -> Double? {
        switch values[name] {
        case nil, .null: return nil
        case .number(let n): return n
        case .string(let s) where Double(s) != nil: return Double(s)
        default: throw .badRequest("'\(name)' must be a number")
        }
    }
}

/// `value; key=value; ...` (Content-Type, Content-Disposition): lowercased
/// value, parameters unquoted.
struct MediaTypeHeader {
    let type: String
    let parameters: [String: String]

    init?(_ header: String, requireSlash: Bool = true) {
        let parts = header.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let first = parts.first, !requireSlash || first.contains("/") else { return nil }
        type = first.lowercased()
        var parameters: [String: String] = [:]
        for part in parts.dropFirst() {
            let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { continue }
            var value = kv[1].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            parameters[kv[0].lowercased().trimmingCharacters(in: .whitespaces)] = value
        }
        self.parameters = parameters
    }
}

/// multipart/form-data (RFC 7578) over a body already in memory and within
/// the size limit: each part's name, filename and bytes.
enum MultipartForm {
    /// More parts than any route reads is a malformed or hostile request.
    static let maxParts = 64

    static func parse(_ body: Data, boundary: String) throws(APIError) -> RequestFields {
        let bytes = [UInt8](body)
        let delimiter = Array("--\(boundary)".utf8)
        let nextDelimiter = Array("\r\n--\(boundary)".utf8)
        let headerEnd = Array("\r\n\r\n".utf8)
        guard var cursor = find(delimiter, in: bytes, from: 0).map({ $0 + delimiter.count }) else {
            throw .badRequest("the multipart body does not contain its boundary")
        }
        var fields: [String: RequestFields.Value] = [:]
        var parts = 0
        while true {
            // After a delimiter: "--" ends the body, CRLF starts a part.
            if bytes[cursor...].starts(with: [UInt8(ascii: "-"), UInt8(ascii: "-")]) { break }
            guard bytes[cursor...].starts(with: [UInt8(ascii: "\r"), UInt8(ascii: "\n")]) else {
                throw .badRequest("malformed multipart body")
            }
            cursor += 2
            guard let headersEnd = find(headerEnd, in: bytes, from: cursor) else {
                throw .badRequest("malformed multipart body: a part has no end of headers")
            }
            let contentStart = headersEnd + headerEnd.count
            guard let end = find(nextDelimiter, in: bytes, from: contentStart) else {
                throw .badRequest("malformed multipart body: a part is not closed by the boundary")
            }
            parts += 1
            if parts > maxParts { throw .badRequest("the multipart body has more than \(maxParts) parts") }
            let headers = String(decoding: bytes[cursor..<headersEnd], as: UTF8.self)
            let content = Data(bytes[contentStart..<end])
            if let disposition = contentDisposition(headers), let name = disposition.name {
                if let filename = disposition.filename {
                    fields[name] = .file(content, filename: filename)
                } else {
                    fields[name] = .string(String(decoding: content, as: UTF8.self))
                }
            }
            cursor = end + nextDelimiter.count
        }
        return RequestFields(fields)
    }

    /// memchr for the first byte, memcmp for the rest: uploads are
    /// megabytes, and a byte-by-byte search in Swift costs more than the face
    /// detection in a debug build. (memmem is a GNU extension Glibc's module
    /// does not export.)
    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard let first = needle.first, start <= haystack.count else { return nil }
        return haystack.withUnsafeBytes { hay -> Int? in
            needle.withUnsafeBytes { pattern -> Int? in
                guard let base = hay.baseAddress else { return nil }
                var offset = start
                while hay.count - offset >= pattern.count {
                    guard let hit = memchr(base + offset, Int32(first), hay.count - offset - pattern.count + 1) else { return nil }
                    let index = base.distance(to: UnsafeRawPointer(hit))
                    if memcmp(hit, pattern.baseAddress!, pattern.count) == 0 { return index }
                    offset = index + 1
                }
                return nil
            }
        }
    }

    static func contentDisposition(_ headers: String) -> (name: String?, filename: String?)? {
        for line in headers.components(separatedBy: "\r\n") {
            let kv = line.split(separator: ":", maxSplits: 1)
            guard kv.count == 2, kv[0].trimmingCharacters(in: .whitespaces).lowercased() == "content-disposition" else { continue }
            guard let media = MediaTypeHeader(kv[1].trimmingCharacters(in: .whitespaces), requireSlash: false) else { return nil }
            return (media.parameters["name"], media.parameters["filename"])
        }
        return nil
    }
}
