import CFaceKitNative
import Foundation

/// A decoded 8-bit BGR image owned by the native bridge.
///
/// Immutable after creation (the drawing helpers return a copy), so sharing
/// one across tasks is safe; that is why the unchecked Sendable holds.
public final class Image: @unchecked Sendable {
    let handle: OpaquePointer

    init(handle: OpaquePointer) {
        self.handle = handle
    }

    deinit { fk_image_free(handle) }

    public var width: Int { Int(fk_image_width(handle)) }
    public var height: Int { Int(fk_image_height(handle)) }
    public var isEmpty: Bool { width == 0 || height == 0 }

    /// Packed BGR bytes, row after row.
    public func bgrBytes() throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: width * height * 3)
        try Native.check { err in
            bytes.withUnsafeMutableBufferPointer { fk_image_copy_bgr(handle, $0.baseAddress, $0.count, err) }
        }
        return bytes
    }

    /// Wraps packed BGR pixels.
    public convenience init(bgr: [UInt8], width: Int, height: Int) throws {
        guard width > 0, height > 0, bgr.count == width * height * 3 else {
            throw FaceKitError.invalidInput("BGR buffer does not match \(width)x\(height)")
        }
        let h = try Native.make { out, err in
            bgr.withUnsafeBufferPointer { fk_image_from_bgr($0.baseAddress, Int32(width), Int32(height), out, err) }
        }
        self.init(handle: h)
    }

    /// Encodes as JPEG or PNG by the path's extension (.jpg, .jpeg, .png).
    public func write(to path: String) throws {
        try Native.check { fk_image_write(handle, path, $0) }
    }

    func padded(top: Int, bottom: Int, left: Int, right: Int) throws -> Image {
        Image(handle: try Native.make { fk_image_pad_zero(handle, Int32(top), Int32(bottom), Int32(left), Int32(right), $0, $1) })
    }

    func copy() throws -> Image { try padded(top: 0, bottom: 0, left: 0, right: 0) }
}

/// Calls into the bridge and turns its status into a FaceKitError.
enum Native {
    static func check(_ body: (UnsafeMutablePointer<fk_error>) -> fk_status) throws {
        var error = fk_error()
        let status = body(&error)
        if status != FK_OK { throw map(status, message(error)) }
    }

    static func make(_ body: (UnsafeMutablePointer<OpaquePointer?>, UnsafeMutablePointer<fk_error>) -> fk_status) throws -> OpaquePointer {
        var out: OpaquePointer?
        try check { body(&out, $0) }
        guard let handle = out else { throw FaceKitError.inferenceFailed("native call returned no object") }
        return handle
    }

    static func message(_ error: fk_error) -> String {
        withUnsafeBytes(of: error.message) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }

    static func map(_ status: fk_status, _ message: String) -> FaceKitError {
        switch status {
        // The loader replaces "image" with the source's name.
        case FK_ERR_DECODE, FK_ERR_TOO_LARGE: return .imageUnreadable(source: "image", reason: message)
        case FK_ERR_INVALID_ARGUMENT: return .invalidInput(message)
        case FK_ERR_MODEL_LOAD: return .modelLoadFailed(model: "model", reason: message)
        case FK_ERR_IO: return .io(message)
        default: return .inferenceFailed(message)
        }
    }

    static var versions: String { String(cString: fk_native_versions()) }

    static func sha256(ofFile path: String) throws -> String {
        var hex = [CChar](repeating: 0, count: 65)
        try check { fk_sha256_file(path, &hex, $0) }
        return String(decoding: hex.prefix(64).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension Image {
    /// A copy with each face's box, landmarks and label drawn on it.
    public func annotated(_ faces: [(FacialArea, String)]) throws -> Image {
        let copy = try self.copy()
        for (area, label) in faces {
            let points = [area.leftEye, area.rightEye, area.nose, area.mouthLeft, area.mouthRight].compactMap { $0 }
            let flat = points.flatMap { [Float($0.x), Float($0.y)] }
            try Native.check { err in
                flat.withUnsafeBufferPointer {
                    fk_image_draw_face(copy.handle, Int32(area.x), Int32(area.y), Int32(area.w), Int32(area.h),
                                       $0.baseAddress, Int32(points.count), label, err)
                }
            }
        }
        return copy
    }
}
