import FaceKit
import Foundation
import XCTest

/// Where the tests find deepface's dataset and the shared engine. A missing
/// dataset or model fails the tests with a message; nothing is skipped.
enum Fixtures {
    static let dataset: URL = {
        if let env = ProcessInfo.processInfo.environment["FACEKIT_DATASET"] {
            return URL(fileURLWithPath: env)
        }
        // Tests/FaceKitTests/ -> repo -> ../shared/data/deepface-dataset
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("shared/data/deepface-dataset")
    }()

    static func image(_ name: String) throws -> ImageSource {
        let url = dataset.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkipFailure("dataset image missing: \(url.path) (set FACEKIT_DATASET)")
        }
        return .path(url.path)
    }

    static let engine = FaceEngine()

    static var temporaryDirectory: URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("facekit-tests-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

struct XCTSkipFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Small image files written by hand, so the decoding tests control every
/// byte: PNGs in grey, 16-bit and RGBA, and a 30000x30000 one.
enum ImageFiles {
    static func png(width: Int, height: Int, colorType: UInt8, bitDepth: UInt8, pixel: [UInt8]) -> Data {
        var raw = Data()
        for _ in 0..<height {
            raw.append(0)
            for _ in 0..<width { raw.append(contentsOf: pixel) }
        }
        return pngFile(width: width, height: height, colorType: colorType, bitDepth: bitDepth, zlib: storedZlib(raw))
    }

    /// A real, valid PNG of width x height 8-bit grey zeros whose deflate
    /// stream repeats one 258-byte match, so 900 megapixels fit in ~6 MB.
    static func bomb(side: Int) -> Data {
        let rawCount = side * (side + 1)
        let matches = (rawCount - 1) / 258
        let literals = (rawCount - 1) % 258
        // Header (3 bits) + literal (8) + one match (13) end on a byte
        // boundary, and eight matches are exactly 13 bytes: write that block
        // once and repeat it.
        var head = BitWriter()
        head.write(0b1, count: 1)              // final block
        head.write(0b01, count: 2)             // fixed Huffman
        head.writeCode(0b00110000, length: 8)  // literal 0
        head.writeMatch()
        var block = BitWriter()
        for _ in 0..<8 { block.writeMatch() }
        var tail = BitWriter()
        for _ in 0..<((matches - 1) % 8) { tail.writeMatch() }
        for _ in 0..<literals { tail.writeCode(0b00110000, length: 8) }
        tail.writeCode(0, length: 7)           // end of block
        var z = Data([0x78, 0x01])
        z.append(head.finished)
        let unit = block.finished
        var repeated = Data(capacity: unit.count * (matches - 1) / 8)
        for _ in 0..<((matches - 1) / 8) { repeated.append(unit) }
        z.append(repeated)
        z.append(tail.finished)
        // Adler-32 of n zero bytes: a = 1, b = n mod 65521.
        let adler = UInt32(rawCount % 65521) << 16 | 1
        z.append(contentsOf: withUnsafeBytes(of: adler.bigEndian, Array.init))
        return pngFile(width: side, height: side, colorType: 0, bitDepth: 8, zlib: z)
    }

    static func pngFile(width: Int, height: Int, colorType: UInt8, bitDepth: UInt8, zlib: Data) -> Data {
        var out = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var ihdr = Data()
        ihdr.append(contentsOf: withUnsafeBytes(of: UInt32(width).bigEndian, Array.init))
        ihdr.append(contentsOf: withUnsafeBytes(of: UInt32(height).bigEndian, Array.init))
        ihdr.append(contentsOf: [bitDepth, colorType, 0, 0, 0])
        out.append(chunk("IHDR", ihdr))
        out.append(chunk("IDAT", zlib))
        out.append(chunk("IEND", Data()))
        return out
    }

    static func storedZlib(_ raw: Data) -> Data {
        var z = Data([0x78, 0x01])
        var offset = 0
        repeat {
            let n = min(65535, raw.count - offset)
            let final: UInt8 = offset + n >= raw.count ? 1 : 0
            z.append(final)
            z.append(contentsOf: [UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)])
            z.append(raw.subdata(in: offset..<offset + n))
            offset += n
        } while offset < raw.count
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in raw {
            a = (a + UInt32(byte)) % 65521
            b = (b + a) % 65521
        }
        z.append(contentsOf: withUnsafeBytes(of: (b << 16 | a).bigEndian, Array.init))
        return z
    }

    static func chunk(_ type: String, _ body: Data) -> Data {
        var out = Data()
        out.append(contentsOf: withUnsafeBytes(of: UInt32(body.count).bigEndian, Array.init))
        let typed = Data(type.utf8) + body
        out.append(typed)
        out.append(contentsOf: withUnsafeBytes(of: crc32(typed).bigEndian, Array.init))
        return out
    }

    static let crcTable: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc32(_ data: Data) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        data.withUnsafeBytes { raw in
            for byte in raw { c = crcTable[Int((c ^ UInt32(byte)) & 0xFF)] ^ (c >> 8) }
        }
        return c ^ 0xFFFF_FFFF
    }

    struct BitWriter {
        var data = Data()
        var current: UInt32 = 0
        var filled = 0

        /// Writes value's low bits, least significant first (deflate's header fields).
        mutating func write(_ value: UInt32, count: Int) {
            for i in 0..<count { push((value >> i) & 1) }
        }

        /// Length 258 (code 285), distance 1 (code 0).
        mutating func writeMatch() {
            writeCode(0b11000101, length: 8)
            writeCode(0, length: 5)
        }

        /// Writes a Huffman code, most significant bit first.
        mutating func writeCode(_ code: UInt32, length: Int) {
            for i in stride(from: length - 1, through: 0, by: -1) { push((code >> i) & 1) }
        }

        mutating func push(_ bit: UInt32) {
            current |= bit << filled
            filled += 1
            if filled == 8 {
                data.append(UInt8(current))
                current = 0
                filled = 0
            }
        }

        var finished: Data {
            var copy = self
            if copy.filled > 0 { copy.data.append(UInt8(copy.current)) }
            return copy.data
        }
    }
}
